"""Training DeepLab with mmsegmentation on refined labels.

:mod:`.config` writes configs and imports neither mmseg nor mmengine; :mod:`.models`
(the DeepLabV2 head those configs load) needs mmsegmentation and is imported only by
mmengine, through the configs' ``custom_imports``.
"""

"""Training DeepLab with mmsegmentation on refined labels.

:mod:`.config` writes configs and imports neither mmseg nor mmengine; :mod:`.models`
(the DeepLabV2 head those configs load) and :mod:`.datasets` (COCO 2014's 81-class
dataset) need mmsegmentation and are imported only by mmengine, through the configs'
``custom_imports``.
"""

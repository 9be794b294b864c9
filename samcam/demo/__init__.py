"""Synthetic data for ``samcam demo``: the demo (:mod:`.run`) and its scenes (:mod:`.synthetic`).

THE DATA IS SYNTHETIC (rendered shapes, not photographs): it exercises the pipeline;
it says nothing about VOC. The rule benchmark, which ranks rules on synthetic scene
families, lives outside the package in ``benchmarks/`` (``scenes.py``, ``rule_quality.py``).
"""

"""Synthetic data: the demo (:mod:`.pipeline`), its scenes (:mod:`.synthetic`), the rule
benchmark's scene families (:mod:`.scenes`) and the benchmark itself (:mod:`.quality`).

THE DATA IS SYNTHETIC (rendered shapes, not photographs): it exercises the pipeline
and ranks rules on the failure modes the paper targets; it says nothing about VOC.
"""

"""Synthetic rule benchmark: the default rule must be at least as good as `official`."""
from samcam.demo.quality import rule_quality


def test_samcam_rule_at_least_as_good_as_official_on_synthetic_scenes():
    results = rule_quality(num_scenes=60, seed=1)
    print("\nsynthetic rule benchmark (mIoU %):")
    for name, value in results.items():
        print(f"  {name:<42} {100 * value:6.2f}")
    assert results["samcam"] >= results["official"]
    assert results["official"] > results["cam"] + 0.1
    assert results["samcam, masks in reverse order"] == results["samcam"]

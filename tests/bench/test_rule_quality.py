
"""The rule benchmark on a small sample: its machinery and the default's standing.

The decision itself needs ``benchmarks/bench_rules.py`` (500 scenes per family, with
intervals; docs/rule.md, "Rule quality"); this sample only guards against a default that
falls behind ``official`` by a wide margin, and checks the order-independence rows.
"""
import pytest
from rule_quality import VARIANTS, compare

pytestmark = pytest.mark.slow  # the benchmark on a sample of every family


def test_default_rule_is_not_behind_official_on_a_sample_of_every_family():
    comparison = compare(VARIANTS, num_scenes=24, seed=2, resamples=200)
    print("\nsynthetic rule benchmark, 24 scenes per family (mIoU difference to official):")
    for v, name in enumerate(comparison.variants):
        print(f"  {name:<52} {100 * comparison.diff[-1, v]:+6.2f}")
    pooled = comparison.groups.index("pooled")

    def diff(name):
        return comparison.diff[pooled, comparison.variants.index(name)]

    assert diff("samcam (default)") > 0
    assert diff("CAM pseudo label (no masks)") < -0.05
    # both rules are independent of the masks' order, in every family
    for name, reversed_name in (("official", "official, masks in reverse order"),
                                ("samcam (default)", "samcam, masks in reverse order")):
        v, r = comparison.variants.index(name), comparison.variants.index(reversed_name)
        assert (comparison.miou[:, v] == comparison.miou[:, r]).all()

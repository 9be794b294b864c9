import sys
from pathlib import Path

# The rule benchmark (benchmarks/rule_quality.py, benchmarks/scenes.py) is not part of the
# installed package; its tests import it as the scripts in benchmarks/ do.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

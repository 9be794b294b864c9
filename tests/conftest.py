import os
import sys

# tests/reference_rule.py is imported by several tests as a plain module.
sys.path.insert(0, os.path.dirname(__file__))

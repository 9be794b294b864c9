"""Old home of the CAM file helpers, for the test files that still import them from here.

tests/test_adapter_continuations.py and tests/test_adapter_hints.py say ``from test_adapters
import ...``; the helpers are in cam_files.py. Remove this file once every test file imports
from cam_files (tests/conftest.py keeps pytest from collecting it).
"""
from cam_files import *  # noqa: F401,F403

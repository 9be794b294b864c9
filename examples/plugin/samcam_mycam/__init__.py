"""Example samcam plug-in for the made-up WSSS method MyCAM (see ``method.py``)."""

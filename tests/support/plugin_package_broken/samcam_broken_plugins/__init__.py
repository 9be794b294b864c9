"""Broken samcam plug-ins for samcam's tests."""

"""A plug-in whose import fails, as one with a missing dependency does."""
import samcam_dependency_that_is_not_installed  # noqa: F401

ADAPTER = None

"""samcam plug-ins used by samcam's own tests: a method (``toymethod``) and a rule."""

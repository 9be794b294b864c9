"""The package version (one place; setup.py repeats it for packaging)."""
__version__ = "0.1.0"

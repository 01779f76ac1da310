"""whyrec: neural recommenders that explain themselves."""

__version__ = "0.1.0"

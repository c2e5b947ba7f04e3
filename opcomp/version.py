"""opcomp's version (here so that low modules can read it without the package facade)."""
__version__ = "0.1.0"

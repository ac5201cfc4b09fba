"""devicelab: what happens to your model when it leaves your PC."""

__version__ = "0.1.0"

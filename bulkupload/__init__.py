"""Fast, resumable bulk uploads of file trees into Procore."""

__version__ = "0.1.0"

__all__ = ["__version__"]

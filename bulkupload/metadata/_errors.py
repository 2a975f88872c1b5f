"""The one error this package raises: a rules file or sidecar that cannot be used."""

from __future__ import annotations

from bulkupload.errors import ConfigError

__all__ = ["MetadataError"]


class MetadataError(ConfigError):
    """A rules file or CSV sidecar is malformed; the message is one line naming the file and
    the rule, key, line or column (a ConfigError: the run stops before any upload, exit 2)."""

"""One home for genrec's exception types.

Every error says what was expected, what was found, where (file:line, field, config key) and
how to fix it. Catch ``GenrecError`` to handle all of them.
"""

from __future__ import annotations


class GenrecError(Exception):
    """Base class of every error genrec raises on purpose."""


class DataError(GenrecError, ValueError):
    """Input data is malformed, inconsistent or empty (names the file, line or field)."""


class ConfigError(GenrecError, ValueError):
    """A recipe or override is invalid; the message lists every problem found."""


class NotFittedError(GenrecError, RuntimeError):
    """A component was used before ``fit``; the message says what to call."""


class DownloadError(GenrecError, OSError):
    """A dataset could not be fetched or failed its size / checksum check."""

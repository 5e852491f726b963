"""tngvideo's typed errors. Each also subclasses the builtin it resembles (as PyAV does), and the
CLI turns every one into a one-line message and exit code 2."""

from __future__ import annotations


class TngError(Exception):
    """Base of every error tngvideo raises on purpose."""


class InputError(TngError, ValueError):
    """An input file or folder cannot be read as media."""


class OutputError(TngError, OSError):
    """An output cannot be written (exists without --overwrite, unwritable folder, unknown format)."""


class BitstreamError(TngError, ValueError):
    """A .tng/.tngv file is corrupt, truncated, of an unknown version or for other weights."""


class ModelError(TngError, RuntimeError):
    """Weights are missing, do not match their manifest hash, or no model is shipped yet."""

"""One-line reasons for the typed errors: the CLI prints them as they are."""

from __future__ import annotations


def short_reason(exc: BaseException) -> str:
    """The OS's or ffmpeg's reason for ``exc``, first line only, never empty."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0]

"""tngvideo's typed errors. Each also subclasses the builtin it resembles (as PyAV does), and each
class carries the exit code the CLI returns for it (the table is in the README):

- 0: success;
- 1: an internal error, a bug (``tngvideo --debug`` prints its traceback), or out of memory;
- 2 ``UsageError``: an invalid command line (an option value out of range, the wrong command);
- 3 ``InputError``: an input that cannot be read as media (missing, not media, no video, broken);
- 4 ``BitstreamError``: a .tng/.tngv file that is corrupt, truncated, implausible, of an unknown
  version, or made with other weights;
- 5 ``ModelError``: weights missing, altered, or not shipped;
- 6 ``OutputError``: an output that exists (without ``--overwrite``) or cannot be written;
- 130 (``KeyboardInterrupt``, SIGINT) and 143 (:class:`Terminated`, SIGTERM): interrupted; no incomplete
  output is left (:mod:`tngvideo.io.atomic`).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM


class TngError(Exception):
    """Base of every error tngvideo raises on purpose."""

    exit_code = 1


class UsageError(TngError, ValueError):
    """A command-line option has a value the command cannot use (the same exit code as argparse's)."""

    exit_code = 2


class InputError(TngError, ValueError):
    """An input file or folder cannot be read as media."""

    exit_code = 3


class BitstreamError(TngError, ValueError):
    """A .tng/.tngv file is corrupt, truncated, implausible, of an unknown version or for other weights."""

    exit_code = 4


class ModelError(TngError, RuntimeError):
    """Weights are missing, do not match their manifest hash, or no model is shipped yet."""

    exit_code = 5


class OutputError(TngError, OSError):
    """An output cannot be written (exists without --overwrite, unwritable folder, unknown format)."""

    exit_code = 6


class Terminated(BaseException):
    """Raised in the main thread when the process gets SIGTERM (the CLI installs the handler), so that
    cleanup runs as it does for KeyboardInterrupt. A BaseException: ``except Exception`` must not stop it."""

    exit_code = EXIT_TERMINATED

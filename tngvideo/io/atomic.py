"""Outputs that appear complete or not at all, and never over an existing file unless asked.

Every writer of tngvideo (.tng, .tngv, mp4/mkv/y4m, PNG pictures and folders, evaluation reports)
writes to a *partial* name beside the output, ``NAME.<random>.part`` (a file or a folder), and moves
it to ``NAME`` only when the output is complete. On any exception, including KeyboardInterrupt
(SIGINT) and :class:`~tngvideo.errors.Terminated` (SIGTERM), the partial output is deleted, so an
interrupted run leaves nothing under the output name. Without ``overwrite`` the final move refuses
to replace a file that appeared meanwhile (a hard link, which fails if the name exists, where the
file system has them). Only a SIGKILL or a power cut can leave a ``*.part`` behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tngvideo.errors import OutputError
from tngvideo.io._messages import short_reason

PARTIAL_SUFFIX = ".part"


def check_output(path: Path, overwrite: bool) -> None:
    """Fail before any work when ``path`` exists (without ``overwrite``), is a folder, or its folder is missing."""
    if path.is_dir():
        raise OutputError(f"{path}: is a folder (name the output file)")
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: already exists (use --overwrite to replace it)")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: cannot write (folder {path.parent} does not exist)")


def new_partial_file(path: Path) -> Path:
    """A fresh, empty partial file beside ``path`` (unique: concurrent runs never share one)."""
    try:
        handle, name = tempfile.mkstemp(prefix=f"{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({short_reason(exc)})") from exc
    os.close(handle)
    os.chmod(name, _default_mode(0o666))  # mkstemp makes it private; the output gets the usual mode
    return Path(name)


def new_partial_folder(path: Path) -> Path:
    """A fresh, empty partial folder beside ``path``."""
    try:
        name = tempfile.mkdtemp(prefix=f"{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({short_reason(exc)})") from exc
    os.chmod(name, _default_mode(0o777))
    return Path(name)


def _default_mode(mode: int) -> int:
    """``mode`` less the process umask: what ``open`` or ``mkdir`` would have given."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def commit_file(partial: Path, path: Path, overwrite: bool) -> None:
    """Move the finished ``partial`` file to ``path``; without ``overwrite`` never over an existing file."""
    try:
        if overwrite:
            os.replace(partial, path)
            return
        try:
            os.link(partial, path)  # atomic and fails if ``path`` exists: no window between check and move
        except FileExistsError:
            raise OutputError(f"{path}: appeared while it was being written; not replaced (use --overwrite)") from None
        except OSError:  # no hard links on this file system
            if path.exists():
                raise OutputError(f"{path}: appeared while it was being written; not replaced (use --overwrite)") from None
            os.replace(partial, path)
            return
        partial.unlink()
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({short_reason(exc)})") from exc


def discard(partial: Path) -> None:
    """Delete a partial file or folder (errors ignored: cleanup must not hide the original failure)."""
    with contextlib.suppress(OSError):
        if partial.is_dir():
            shutil.rmtree(partial)
        else:
            partial.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_output(path: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a partial file to write ``path``'s content to; it becomes ``path`` when the block ends
    normally and is deleted when it raises anything (OSError inside becomes OutputError)."""
    check_output(path, overwrite)
    partial = new_partial_file(path)
    try:
        try:
            yield partial
        except OSError as exc:
            if isinstance(exc, OutputError):
                raise
            raise OutputError(f"{path}: cannot write ({short_reason(exc)})") from exc
        commit_file(partial, path, overwrite)
    finally:
        discard(partial)  # gone already when committed


def write_bytes_atomic(path: Path, data: bytes, overwrite: bool) -> None:
    """``path.write_bytes(data)``, atomically (see module docstring)."""
    with atomic_output(path, overwrite) as partial:
        partial.write_bytes(data)


def write_text_atomic(path: Path, text: str, overwrite: bool = True) -> None:
    """``path.write_text(text)``, atomically; by default replacing an earlier version (reports)."""
    with atomic_output(path, overwrite) as partial:
        partial.write_text(text)

"""Single pictures in and out: the one path every still image takes (CLI, evaluation, training).

Reading goes through the same decoder and colour conversion as video frames (:mod:`tngvideo.io.frames`),
so a PNG, a JPEG or a frame of a clip gives the same pixels wherever it is read, and grayscale,
alpha and high-bit-depth pictures are converted to 8-bit RGB with the same one-line warning.
Writing is lossless PNG, atomic (:mod:`tngvideo.io.atomic`): the file appears complete or not at all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tngvideo.errors import InputError, OutputError
from tngvideo.io._messages import short_reason
from tngvideo.io.atomic import atomic_output
from tngvideo.io.frames import FRAME_SUFFIXES, open_video

PICTURE_SUFFIXES = FRAME_SUFFIXES


def is_picture(path: Path) -> bool:
    """Whether ``path`` names a still picture format we read (by suffix)."""
    return path.suffix.lower() in PICTURE_SUFFIXES


def picture_paths(folder: Path) -> list[Path]:
    """The pictures of a folder, in name order."""
    return sorted(p for p in folder.iterdir() if p.is_file() and is_picture(p))


def read_picture(path: str | Path) -> np.ndarray:
    """The picture (or a clip's first frame) as HxWx3 uint8 RGB; InputError if there is none."""
    path = Path(path)
    frame = next(iter(open_video(path).frames()), None)
    if frame is None:
        raise InputError(f"{path}: holds no picture")
    return frame


def write_picture(path: str | Path, rgb: np.ndarray, *, overwrite: bool = False) -> None:
    """Write HxWx3 uint8 RGB as PNG; OutputError if it exists (unless ``overwrite``) or cannot be written.

    Written to a partial file and renamed when complete, so an interrupted write leaves no file."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise OutputError(f"{path}: pictures are written as .png")
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: exists (pass overwrite=True to replace it)")
    _check_rgb(rgb)
    with atomic_output(path, overwrite) as partial:
        save_png(partial, rgb, path)


def save_png(target: Path, rgb: np.ndarray, named: Path | None = None) -> None:
    """Write HxWx3 uint8 RGB as PNG at ``target`` directly, whatever its suffix (for writers that place
    the file themselves); errors name ``named`` (the output ``target`` will become), else ``target``."""
    _check_rgb(rgb)
    try:
        Image.fromarray(np.ascontiguousarray(rgb)).save(target, format="PNG")
    except (OSError, ValueError) as exc:
        raise OutputError(f"{named or target}: cannot write ({short_reason(exc)})") from exc


def _check_rgb(rgb: np.ndarray) -> None:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected HxWx3 uint8 RGB, got {rgb.dtype} {rgb.shape}")

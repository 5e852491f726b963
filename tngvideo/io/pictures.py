"""Single pictures in and out: the one path every still image takes (CLI, evaluation, training).

Reading goes through the same decoder and colour conversion as video frames (:mod:`tngvideo.io.frames`),
so a PNG, a JPEG or a frame of a clip gives the same pixels wherever it is read, and grayscale,
alpha and high-bit-depth pictures are converted to 8-bit RGB with the same one-line warning.
Writing is lossless PNG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tngvideo.errors import InputError, OutputError
from tngvideo.io._messages import short_reason
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
    """Write HxWx3 uint8 RGB as PNG; OutputError if it exists (unless ``overwrite``) or cannot be written."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise OutputError(f"{path}: pictures are written as .png")
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: exists (pass overwrite=True to replace it)")
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected HxWx3 uint8 RGB, got {rgb.dtype} {rgb.shape}")
    try:
        Image.fromarray(np.ascontiguousarray(rgb)).save(path)
    except (OSError, ValueError) as exc:
        raise OutputError(f"{path}: cannot write ({short_reason(exc)})") from exc

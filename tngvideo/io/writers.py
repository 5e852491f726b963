"""Writing streams of HxWx3 uint8 RGB frames, the output side of ``tngvideo.io.frames``.

``open_writer`` picks the writer from the path:

- ``.mp4`` / ``.mkv``: H.264 (libx264) at CRF ``DEFAULT_CRF``, 4:2:0 for players, or 4:4:4.
  ``lossless=True`` is libx264rgb at qp 0: RGB planes, bit exact. (yuv444p at qp 0 is not: 8-bit
  RGB->YCbCr->RGB alone is off by up to 2 code values, about 53 dB.)
- ``.y4m``: raw YUV4MPEG2, 4:2:0 or 4:4:4. The header carries fps and XCOLORRANGE; y4m has no
  matrix field, so the matrix follows the height rule every reader assumes for untagged video.
- a path without suffix or ending in "/": a folder of ``000000.png``, ``000001.png`` ... (lossless;
  no frame rate, readers assume 25 fps).

YCbCr is limited range with the matrix of ``tngvideo.io.colour.default_matrix`` (BT.601 below 720
lines, BT.709 from 720 up), tagged as matrix, primaries and transfer (lossless RGB: GBR, full range,
same primaries and transfer), so ``open_video`` reads back the same colours. 4:2:0 chroma is
centre-sited and tagged so (see ``tngvideo.io.colour.CHROMA_SITING``). H.264 4:2:0 cannot code odd sizes (its cropping is in 2-pixel units), so odd
frames are padded by edge replication to even, with one warning: padding keeps every source pixel,
cropping would lose a row or column; crop the read-back frames to the original size, or use 4:4:4,
lossless, y4m or PNG to keep the exact size.

Every writer writes to a partial file or folder beside the output and moves it into place only on
``close`` (:mod:`tngvideo.io.atomic`): an interrupted or failed run (an exception, SIGINT, SIGTERM,
leaving the ``with`` block by an exception) leaves nothing under the output name, and an existing
output is only replaced with ``overwrite``, once the new one is complete.
"""

from __future__ import annotations

import os
import re
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Literal, Self, cast

import av
import numpy as np
from av.video.stream import VideoStream

from tngvideo.errors import OutputError
from tngvideo.io._messages import short_reason
from tngvideo.io.atomic import check_output, commit_file, discard, new_partial_file, new_partial_folder
from tngvideo.io.colour import CHROMA_SITING, SWS_FLAGS, default_matrix, range_code, sws_colorspace, tag_code
from tngvideo.io.frames import DEFAULT_FPS
from tngvideo.io.pictures import save_png

Chroma = Literal["420", "444"]

# x264's "visually lossless" is CRF 18; our outputs are inspected for a learned codec's subtle
# artefacts, so we go 6 lower (half the quantiser step). On three training clips: 39-50 dB RGB PSNR,
# 2-3 dB over CRF 18 for 1.4-2.4x its rate and a tenth of lossless; clear of the codec's 30-38 dB.
DEFAULT_CRF = 12
MAX_CRF = 51
X264_PRESET = "medium"
H264_SUFFIXES = (".mp4", ".mkv")
FOLDER_FRAME = re.compile(r"\d{6}\.png")


class FrameWriter(ABC):
    """A sink of HxWx3 uint8 RGB frames of one size: ``write`` each, then ``close`` (or ``with``).

    Frames go to ``partial`` (a file or folder beside ``path``); ``close`` finishes it and moves it to
    ``path``; ``abort`` (and leaving a ``with`` block by an exception) deletes it."""

    def __init__(self, path: Path, width: int, height: int, partial: Path, overwrite: bool):
        self.path = path
        self.width = width
        self.height = height
        self.partial = partial
        self.overwrite = overwrite
        self.frames_written = 0
        self._closed = False

    def write(self, frame: np.ndarray) -> None:
        """Append one frame; OutputError if the destination fails."""
        if self._closed:
            raise ValueError(f"{self.path}: writer is closed")
        if frame.dtype != np.uint8 or frame.shape != (self.height, self.width, 3):
            raise ValueError(
                f"{self.path}: expected {self.height}x{self.width}x3 uint8, got {frame.shape} {frame.dtype}"
            )
        try:
            self._write(frame)
        except (av.FFmpegError, OSError) as exc:
            raise OutputError(f"{self.path}: writing failed ({short_reason(exc)})") from exc
        self.frames_written += 1

    def close(self) -> None:
        """Flush and finalise the output, then move it to its name; calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            self._close()
            self._commit()
        except OutputError:
            raise
        except (av.FFmpegError, OSError) as exc:
            raise OutputError(f"{self.path}: finishing failed ({short_reason(exc)})") from exc
        finally:
            discard(self.partial)  # gone already when committed

    def abort(self) -> None:
        """Stop writing and delete the partial output; nothing appears under ``path``."""
        if self._closed:
            return
        self._closed = True
        try:
            self._close()
        except (av.FFmpegError, OSError):
            pass  # the output is being thrown away
        finally:
            discard(self.partial)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @abstractmethod
    def _write(self, frame: np.ndarray) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

    @abstractmethod
    def _commit(self) -> None: ...


@dataclass(frozen=True)
class LibavFormat:
    """How a ``LibavWriter`` codes frames: ffmpeg muxer, encoder, pixel format, encoder options."""

    muxer: str
    codec: str
    pix_fmt: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def is_rgb(self) -> bool:
        return self.pix_fmt == "rgb24"

    @property
    def needs_even_size(self) -> bool:
        return self.codec == "libx264" and self.pix_fmt == "yuv420p"


class LibavWriter(FrameWriter):
    """Frames converted by swscale with the shared colour conventions, coded and muxed by PyAV."""

    def __init__(self, path: Path, width: int, height: int, fps: Fraction, fmt: LibavFormat, overwrite: bool):
        super().__init__(path, width, height, new_partial_file(path), overwrite)
        self._fmt = fmt
        self._pad = (height % 2, width % 2) if fmt.needs_even_size else (0, 0)
        if any(self._pad):
            warnings.warn(
                f"{path}: {width}x{height} is odd, padded to {width + self._pad[1]}x{height + self._pad[0]} "
                "by edge replication for 4:2:0 H.264",
                stacklevel=3,
            )
        self._matrix = default_matrix(height)
        try:
            self._container = av.open(str(self.partial), mode="w", format=fmt.muxer)
            self._stream = cast(VideoStream, self._container.add_stream(fmt.codec, rate=fps))
            self._stream.width, self._stream.height = width + self._pad[1], height + self._pad[0]
            self._stream.pix_fmt = fmt.pix_fmt
            self._stream.time_base = 1 / fps
            siting = {} if fmt.is_rgb else {"chroma_sample_location": CHROMA_SITING}
            self._stream.options = {**fmt.options, **siting}
            ctx = self._stream.codec_context
            ctx.color_primaries = ctx.color_trc = tag_code(self._matrix)
            ctx.colorspace = 0 if fmt.is_rgb else tag_code(self._matrix)  # 0: GBR, no matrix
            ctx.color_range = range_code("full" if fmt.is_rgb else "limited")
            self._container.start_encoding()  # opens the file now, so a bad path fails here
        except (av.FFmpegError, OSError, ValueError) as exc:
            discard(self.partial)
            raise OutputError(f"{path}: cannot write ({short_reason(exc)})") from exc
        except BaseException:
            discard(self.partial)
            raise

    def _write(self, frame: np.ndarray) -> None:
        if any(self._pad):
            frame = np.pad(frame, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        video = av.VideoFrame.from_ndarray(frame, format="rgb24")
        if not self._fmt.is_rgb:
            video = video.reformat(
                format=self._fmt.pix_fmt,
                dst_colorspace=sws_colorspace(self._matrix),
                dst_color_range=range_code("limited"),
                interpolation=SWS_FLAGS,
            )
        video.pts = self.frames_written
        self._container.mux(self._stream.encode(video))

    def _close(self) -> None:
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()

    def _commit(self) -> None:
        commit_file(self.partial, self.path, self.overwrite)


class PngFolderWriter(FrameWriter):
    """Lossless frames as ``000000.png``, ``000001.png`` ... in one folder.

    The frames are written into a partial folder; ``close`` renames it to ``path``, or, when ``path``
    is an existing folder (empty, or replaced with ``overwrite``), removes its numbered PNGs and moves
    the new ones in (other files in it are kept)."""

    def __init__(self, path: Path, width: int, height: int, fps: Fraction, overwrite: bool):
        super().__init__(path, width, height, new_partial_folder(path), overwrite)
        if fps != DEFAULT_FPS:
            warnings.warn(
                f"{path}: a PNG folder keeps no frame rate; it will read back at {DEFAULT_FPS} fps", stacklevel=3
            )

    def _write(self, frame: np.ndarray) -> None:
        name = f"{self.frames_written:06d}.png"
        save_png(self.partial / name, frame, self.path / name)

    def _close(self) -> None:
        """Every frame is complete once written."""

    def _commit(self) -> None:
        if not self.path.exists():
            try:
                os.rename(self.partial, self.path)
                return
            except OSError:
                if not self.path.is_dir():
                    raise
        _check_folder(self.path, self.overwrite)  # it may have been filled meanwhile
        for old in self.path.iterdir():
            if FOLDER_FRAME.fullmatch(old.name):
                old.unlink()
        for new in sorted(self.partial.iterdir()):
            os.replace(new, self.path / new.name)


def open_writer(
    path: str | Path,
    width: int,
    height: int,
    fps: Fraction,
    *,
    crf: int | None = None,
    lossless: bool = False,
    chroma: Chroma = "420",
    overwrite: bool = False,
) -> FrameWriter:
    """A writer for ``path``, chosen by its suffix (see the module docstring).

    Args:
        crf: x264 constant rate factor, 0..51 (mp4/mkv only; default ``DEFAULT_CRF``).
        lossless: bit-exact RGB (mp4/mkv via libx264rgb; PNG folders always are).
        chroma: "420" (what players expect) or "444", for lossy mp4/mkv and y4m.
        overwrite: replace an existing file, or the numbered PNGs of an existing folder (once the new
            output is complete: until then the old one is untouched).

    Raises:
        OutputError: unknown format, options the format cannot honour, an existing output without
            ``overwrite``, or a destination that cannot be written.
    """
    text = str(path)
    path = Path(path)
    suffix = path.suffix.lower()
    is_folder = text.endswith(("/", "\\")) or not suffix
    if width < 1 or height < 1 or chroma not in ("420", "444"):
        raise OutputError(f"{path}: invalid frame size {width}x{height} or chroma {chroma!r}")
    if crf is not None and (suffix not in H264_SUFFIXES or lossless or not 0 <= crf <= MAX_CRF):
        raise OutputError(f"{path}: crf must be 0..{MAX_CRF} and applies to lossy .mp4/.mkv only")
    if lossless and suffix not in H264_SUFFIXES and not is_folder:
        raise OutputError(f"{path}: lossless RGB needs .mp4, .mkv or a PNG folder")
    if is_folder:
        _check_folder(path, overwrite)
        return PngFolderWriter(path, width, height, fps, overwrite)
    _check_file(path, overwrite)
    pix_fmt = "yuv444p" if chroma == "444" else "yuv420p"
    if suffix == ".y4m":
        fmt = LibavFormat("yuv4mpegpipe", "rawvideo", pix_fmt)
    elif suffix in H264_SUFFIXES:
        muxer = "mp4" if suffix == ".mp4" else "matroska"
        if lossless:
            fmt = LibavFormat(muxer, "libx264rgb", "rgb24", {"qp": "0", "preset": X264_PRESET})
        else:
            options = {"crf": str(DEFAULT_CRF if crf is None else crf), "preset": X264_PRESET}
            fmt = LibavFormat(muxer, "libx264", pix_fmt, options)
    else:
        raise OutputError(f"{path}: unknown output format; use .mp4, .mkv, .y4m or a folder for PNG frames")
    return LibavWriter(path, width, height, fps, fmt, overwrite)


def _check_file(path: Path, overwrite: bool) -> None:
    """Refuse to replace anything unless asked; the parent folder must exist."""
    if path.is_dir():
        raise OutputError(f"{path}: is a folder")
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: exists (pass overwrite=True to replace it)")
    check_output(path, overwrite=True)


def _check_folder(path: Path, overwrite: bool) -> None:
    """A new folder, an empty one, or (with ``overwrite``) one whose numbered PNGs will be replaced."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise OutputError(f"{path}: folder is not empty (pass overwrite=True to replace its frames)")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: cannot write (folder {path.parent} does not exist)")

"""Reading media as a stream of 8-bit RGB frames, through PyAV.

Anything ffmpeg reads (mp4, mkv, webm, y4m, raw .264/.265 ...), a folder of numbered image frames
(PNG, JPEG, BMP, TIFF), a clip folder holding one video file, or a single image file (a 1-frame
clip, so the codec can take photos too). Frames are yielded one at a time, so memory does not grow
with the clip's length. Images go through ffmpeg as well: one decode and one colour path for all.

YUV->RGB follows ``tngvideo.io.colour``: the stream's matrix and range tags, else BT.601 below 720
lines / BT.709 from 720 up, limited range for video and full range for image files. Sources that
are not 8-bit 3-channel (10/16-bit, grayscale, alpha, palette-free gray JPEGs ...) are converted to
8-bit RGB with one warning (``warnings`` module) per source. Alpha is dropped and the colour
channels kept as stored, as ffmpeg does: compositing onto a background would invent colours.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import islice
from pathlib import Path

import av
import numpy as np

from tngvideo.errors import InputError
from tngvideo.io.colour import (
    SWS_FLAGS,
    Matrix,
    Range,
    default_matrix,
    matrix_of_tag,
    range_of_tag,
    sws_colorspace,
    sws_range,
)

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# Image folders and raw elementary streams carry no timing: ffmpeg's (and our data README's) 25 fps.
DEFAULT_FPS = Fraction(25)
RAW_STREAM_SUFFIXES = (".264", ".h264", ".265", ".h265", ".hevc")


@dataclass(frozen=True)
class VideoInfo:
    """What is known of a source before decoding it."""

    width: int
    height: int
    fps: Fraction
    # As the container declares, else packets counted (no decoding); an mp4 edit list may trim one.
    frame_count: int
    colorspace: Matrix  # the YCbCr matrix used for conversion, "rgb" for RGB sources
    color_range: Range
    source_format: str  # ffmpeg pixel format of the (first) source frame's stream, e.g. "yuv420p"


class VideoSource:
    """A readable clip: ``info`` up front, ``frames()`` streams HxWx3 uint8 RGB arrays."""

    def __init__(self, path: Path):
        self.path = path
        self._images, self._video = _locate(path)
        self.info = self._probe()

    def _probe(self) -> VideoInfo:
        if self._video is None:
            first = _probe_file(self._images[0], default_range="full")
            return replace(first, fps=DEFAULT_FPS, frame_count=len(self._images))
        info = _probe_file(self._video, default_range="limited")
        return replace(info, fps=DEFAULT_FPS) if self._video.suffix.lower() in RAW_STREAM_SUFFIXES else info

    def frames(self) -> Iterator[np.ndarray]:
        """Decode frame by frame into HxWx3 uint8 RGB; InputError if the source breaks midway."""
        if self._video is None:
            frames = (item for path in self._images for item in islice(_decode(path, "full"), 1))
        else:
            frames = _decode(self._video, "limited")
        expected = (self.info.height, self.info.width, 3)
        warned = False
        for index, (frame, note) in enumerate(frames):
            if note and not warned:
                warnings.warn(f"{self.path}: {note}, converted to 8-bit RGB", stacklevel=2)
                warned = True
            if frame.shape != expected:
                raise InputError(
                    f"{self.path}: frame {index} is {frame.shape[1]}x{frame.shape[0]}, "
                    f"expected {expected[1]}x{expected[0]}"
                )
            yield frame


def open_video(path: str | Path) -> VideoSource:
    """Open a video file, a folder of frames, a clip folder holding one video file, or one image."""
    return VideoSource(Path(path))


def iter_clip_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Shorthand: stream the RGB frames of a clip."""
    return open_video(path).frames()


def _locate(path: Path) -> tuple[list[Path], Path | None]:
    """(image frames, None) or ([], the one video file)."""
    if path.is_file():
        return ([path], None) if path.suffix.lower() in FRAME_SUFFIXES else ([], path)
    if not path.is_dir():
        raise InputError(f"{path}: no such file or folder")
    visible = sorted((p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")), key=_natural_key)
    images = [p for p in visible if p.suffix.lower() in FRAME_SUFFIXES]
    if images:
        return images, None
    if len(visible) != 1:
        raise InputError(f"{path}: folder holds no image frames and not exactly one video file")
    return [], visible[0]


def _natural_key(path: Path) -> list[str | int]:
    """Sort frame_2.png before frame_10.png; unpadded numbering is common."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _probe_file(path: Path, default_range: Range) -> VideoInfo:
    with _open_container(path) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise InputError(f"{path}: video stream has no frame size")
        pix_fmt = ctx.pix_fmt or "unknown"
        try:
            count = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
        except av.FFmpegError as exc:
            raise InputError(f"{path}: not a readable video ({_reason(exc)})") from exc
        return VideoInfo(
            width=ctx.width,
            height=ctx.height,
            fps=Fraction(stream.average_rate or stream.guessed_rate or DEFAULT_FPS),
            frame_count=count,
            colorspace="rgb" if _is_rgb(pix_fmt) else matrix_of_tag(int(ctx.colorspace), ctx.height),
            color_range="full" if _is_rgb(pix_fmt) else range_of_tag(int(ctx.color_range), pix_fmt, default_range),
            source_format=pix_fmt,
        )


def _decode(path: Path, default_range: Range) -> Iterator[tuple[np.ndarray, str | None]]:
    """RGB frames of one file, the first with a note on what its conversion loses (or None)."""
    with _open_container(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for index, frame in enumerate(container.decode(stream)):
                yield _to_rgb(frame, default_range), None if index else _lossy_conversion(frame.format)
        except (av.FFmpegError, ValueError) as exc:
            raise InputError(f"{path}: decoding failed ({_reason(exc)})") from exc


def _to_rgb(frame: av.VideoFrame, default_range: Range) -> np.ndarray:
    """One decoded frame as HxWx3 uint8 RGB, by the frame's own colour tags."""
    if _is_rgb(frame.format.name):
        return frame.reformat(format="rgb24", interpolation=SWS_FLAGS).to_ndarray()  # alpha dropped here
    matrix = matrix_of_tag(int(frame.colorspace), frame.height)
    if matrix == "rgb":  # gray PNGs are tagged RGB; gray needs no matrix, any will do
        matrix = default_matrix(frame.height)
    rgb = frame.reformat(
        format="rgb24",
        src_colorspace=sws_colorspace(matrix),
        src_color_range=sws_range(range_of_tag(int(frame.color_range), frame.format.name, default_range)),
        dst_color_range=sws_range("full"),
        interpolation=SWS_FLAGS,
    )
    return rgb.to_ndarray()


def _is_rgb(pix_fmt: str) -> bool:
    """RGB-family formats (incl. palettes) need no matrix; everything else is YCbCr or gray."""
    if pix_fmt == "unknown":
        return False
    fmt = av.VideoFormat(pix_fmt)
    return fmt.is_rgb or fmt.has_palette


def _lossy_conversion(fmt: av.VideoFormat) -> str | None:
    """What turning this format into 8-bit RGB loses, or None."""
    bits = max(c.bits for c in fmt.components)
    colours = sum(not c.is_alpha for c in fmt.components)
    reasons = []
    if bits > 8:
        reasons.append(f"{bits}-bit")
    if colours == 1 and not fmt.has_palette:
        reasons.append("grayscale")
    if colours < len(fmt.components):
        reasons.append("alpha dropped")
    return f"{fmt.name} source ({', '.join(reasons)})" if reasons else None


def _open_container(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable video or image ({_reason(exc)})") from exc
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: has no video stream")
    return container


def _reason(exc: Exception) -> str:
    """ffmpeg's short reason, on one line."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0]

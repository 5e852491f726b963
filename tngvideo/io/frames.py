"""Reading media as a stream of 8-bit RGB frames, through PyAV.

Anything ffmpeg reads (mp4, mkv, webm, y4m, raw .264/.265 ...), a folder of numbered image frames
(PNG, JPEG, BMP, TIFF), a clip folder holding one video file, or a single image file (a 1-frame
clip, so the codec can take photos too). Frames are yielded one at a time, so memory does not grow
with the clip's length. Images go through ffmpeg too, for one decode and one colour path (its JPEG
decoder differs from Pillow's libjpeg by ~46 dB PSNR: chroma upsampling and IDCT).

YUV->RGB follows ``tngvideo.io.colour``: the stream's matrix, range and chroma-siting tags, else
BT.601 below 720 lines / BT.709 from 720 up, limited range for video and full range for image files.
Odd sizes are returned as they are. Sources that are not 8-bit 3-channel (10/16-bit, grayscale,
alpha) are converted to 8-bit RGB with one one-line warning (``warnings`` module) per source. Alpha
is dropped and the colours kept as stored, as ffmpeg does: compositing onto a background would
change the colours of every transparent pixel, and the codec has no alpha to restore them.

Damaged or irregular sources are read whole, each with one one-line warning: a frame the decoder
concealed (corrupt data), or could not decode at all (it then repeats the frame before, so frame
numbers and timing stay the source's), is named by its frame number (a summary follows when there
are more); a variable frame rate is noted (the clip is coded at its average rate); a CMYK JPEG is
converted without its colour profile; a folder's files that are not pictures are listed as ignored.
A size change mid-stream is an error naming the frame.

Frames come upright, as players and viewers show them: a picture's EXIF orientation (all eight,
mirrors included) and a video's display rotation (a phone's portrait clip is stored landscape) are
applied, and ``VideoInfo`` gives the upright size. Video display matrices are read as a rotation
only (PyAV exposes no mirror; mirrored video is rare).
"""

from __future__ import annotations

import bisect
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import islice
from pathlib import Path
from typing import Literal

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from tngvideo.errors import InputError
from tngvideo.io._messages import short_reason
from tngvideo.io.colour import (
    SWS_FLAGS,
    Matrix,
    Range,
    matrix_of_tag,
    range_code,
    range_of_tag,
    sws_colorspace,
)

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff")
# Image folders and raw elementary streams carry no timing: ffmpeg's (and our data README's) 25 fps.
DEFAULT_FPS = Fraction(25)
RAW_STREAM_SUFFIXES = (".264", ".h264", ".265", ".h265", ".hevc")
EXIF_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class Orientation:
    """How a stored frame becomes upright: mirror left-right (first), then quarter turns counter-clockwise."""

    quarter_turns: int = 0
    mirrored: bool = False

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        if not self.mirrored and self.quarter_turns % 4 == 0:
            return rgb
        return np.ascontiguousarray(np.rot90(rgb[:, ::-1] if self.mirrored else rgb, self.quarter_turns))

    def size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) once upright."""
        return (height, width) if self.quarter_turns % 2 else (width, height)


UPRIGHT = Orientation()
# EXIF orientation 1..8 (TIFF 6.0 / Exif 2.3), as Pillow's ImageOps.exif_transpose applies them.
EXIF_ORIENTATIONS = {
    1: UPRIGHT,
    2: Orientation(0, True),
    3: Orientation(2),
    4: Orientation(2, True),
    5: Orientation(1, True),
    6: Orientation(3),
    7: Orientation(3, True),
    8: Orientation(1),
}


@dataclass(frozen=True)
class VideoInfo:
    """What is known of a source before decoding it."""

    width: int
    height: int
    fps: Fraction
    # As the container declares, else packets counted (no decoding); an mp4 edit list may trim one.
    frame_count: int
    colorspace: Matrix | Literal["rgb"]  # the YCbCr matrix used for conversion, "rgb" for RGB sources
    color_range: Range
    source_format: str  # ffmpeg pixel format the stream declares (a folder's first frame), e.g. "yuv420p"


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
        frames: Iterator[tuple[np.ndarray, str | None]]
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
                    f"expected {expected[1]}x{expected[0]}: the size changes mid-stream, and a clip is coded at one "
                    f"size (code frames 0..{index - 1} and the rest separately)"
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
        return ([path], None) if _is_picture_file(path) else ([], path)
    if not path.is_dir():
        raise InputError(f"{path}: no such file or folder")
    visible = sorted((p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")), key=_natural_key)
    images = [p for p in visible if _is_picture_file(p)]
    if images:
        others = [p.name for p in visible if not _is_picture_file(p)]
        if others:
            listed = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            warnings.warn(f"{path}: {len(others)} files that are not pictures ignored ({listed}); "
                          f"{len(images)} pictures read as frames", stacklevel=4)
        return images, None
    if len(visible) != 1:
        raise InputError(f"{path}: folder holds no image frames and not exactly one video file")
    return [], visible[0]


def _natural_key(path: Path) -> list[str | int]:
    """Sort frame_2.png before frame_10.png; unpadded numbering is common."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _probe_file(path: Path, default_range: Range) -> VideoInfo:
    orientation, first_size = _orientation_before_decoding(path)
    with _open_container(path) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            stored = _picture_size(path) if _is_picture_file(path) else None
            raise _unreadable(path, f"a {stored[0]}x{stored[1]} picture, too large for ffmpeg" if stored else "no frame size")
        rgb = ctx.pix_fmt is not None and _is_rgb(av.VideoFormat(ctx.pix_fmt))
        try:
            count = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
        except av.FFmpegError as exc:
            raise _unreadable(path, short_reason(exc)) from exc
        # The first frame's size, where it decodes: a raw stream whose size changes mid-way is probed at a later size.
        width, height = orientation.size(*(first_size or (ctx.width, ctx.height)))
        return VideoInfo(
            width=width,
            height=height,
            fps=Fraction(stream.average_rate or stream.guessed_rate or DEFAULT_FPS),
            frame_count=count,
            colorspace="rgb" if rgb else matrix_of_tag(int(ctx.colorspace), ctx.height),
            color_range="full" if rgb else range_of_tag(int(ctx.color_range), ctx.pix_fmt or "", default_range),
            source_format=ctx.pix_fmt or "unknown",
        )


def _decode(path: Path, default_range: Range) -> Iterator[tuple[np.ndarray, str | None]]:
    """Upright RGB frames of one file, the first with a note on what its conversion loses (or None).

    Decoded packet by packet, so damage is named by its frame (:class:`_DamageReport`): a frame the
    decoder concealed is kept; a packet it refuses becomes a repeat of the frame before it (so frame
    numbers and timing stay the source's; a refused first packet, or one without a timestamp, is
    dropped). A variable frame rate is warned once. A file of which no frame decodes is an InputError."""
    picture_orientation, picture_note = _picture_header(path) if _is_picture_file(path) else (None, None)
    damage = _DamageReport(path)
    timing = _TimingCheck(path)
    seen: list[int] = []  # timestamps of the packets demuxed so far (a frame's number is its rank among them)
    refused: list[int] = []  # timestamps of packets the decoder refused, whose frames are still to be repeated
    previous: np.ndarray | None = None
    index = 0
    with _open_container(path) as container:
        stream = container.streams.video[0]
        # Not frame threading: it reports a damaged packet a few packets late, so the warning could not name
        # its frame. Decoding the source is never the bottleneck of a learned encoder.
        stream.thread_type = "SLICE"
        timing.nominal(stream)
        try:
            for packet in container.demux(stream):
                pts: int | None = packet.pts
                if packet.size and pts is not None:
                    bisect.insort(seen, pts)
                try:
                    decoded = stream.decode(packet)
                except av.InvalidDataError as exc:
                    number = index if pts is None else bisect.bisect_left(seen, pts)
                    can_repeat = pts is not None and (previous is not None or seen[0] < pts)
                    damage.refused(number, short_reason(exc), can_repeat)
                    if can_repeat and pts is not None:
                        bisect.insort(refused, pts)
                    continue
                for frame in decoded:
                    while previous is not None and refused and frame.pts is not None and refused[0] < frame.pts:
                        timing.check(refused.pop(0), stream.time_base, index)
                        damage.frame_decoded()
                        yield previous, None
                        index += 1
                    if frame.is_corrupt:
                        damage.concealed(index)
                    if frame.pts is not None:
                        timing.check(frame.pts, frame.time_base, index)
                    orientation = _display_orientation(frame) if picture_orientation is None else picture_orientation
                    previous = orientation.apply(_to_rgb(frame, default_range))
                    damage.frame_decoded()
                    yield previous, None if index else (picture_note or _lossy_conversion(frame))
                    index += 1
        except (av.FFmpegError, ValueError) as exc:
            raise InputError(f"{path}: decoding failed ({short_reason(exc)})") from exc
    if index == 0 and damage.first_reason is not None:
        raise InputError(f"{path}: decoding failed ({damage.first_reason})")
    if previous is not None:
        for _ in refused:  # refused packets after the last decoded frame
            yield previous, None
    damage.summarise()


class _DamageReport:
    """Warnings for the damaged frames of one source: the first (with its frame number) once a frame
    has decoded after it, so an undecodable file is one error and no warning; a summary at the end
    when there are more."""

    LISTED = 8  # incidents a summary names

    def __init__(self, path: Path):
        self.path = path
        self.incidents: list[str] = []
        self.first_message: str | None = None
        self.first_reason: str | None = None
        self.warned = False

    def concealed(self, index: int) -> None:
        self._add(f"frame {index}", f"{self.path}: frame {index} is damaged (corrupt data, concealed by the decoder)")

    def refused(self, index: int, reason: str, repeated: bool) -> None:
        self.first_reason = self.first_reason or reason
        outcome = f"it repeats frame {index - 1}" if repeated else "it is left out (one frame fewer)"
        self._add(f"frame {index}", f"{self.path}: frame {index} could not be decoded ({reason}): {outcome}")

    def _add(self, short: str, message: str) -> None:
        self.incidents.append(short)
        self.first_message = self.first_message or message

    def frame_decoded(self) -> None:
        """A frame is about to be returned: warn of the first incident now, if there was one."""
        if self.first_message is not None and not self.warned:
            warnings.warn(self.first_message, stacklevel=4)
            self.warned = True

    def summarise(self) -> None:
        self.frame_decoded()
        if len(self.incidents) > 1:
            listed = ", ".join(self.incidents[: self.LISTED]) + (", ..." if len(self.incidents) > self.LISTED else "")
            warnings.warn(f"{self.path}: {len(self.incidents)} damaged frames in all ({listed})", stacklevel=4)


class _TimingCheck:
    """One warning when frame durations vary (a variable frame rate): the codec keeps one rate."""

    TOLERANCE = 0.1  # a frame may last 10% (and one tick of the time base) more or less than the average

    def __init__(self, path: Path):
        self.path = path
        self.expected: float | None = None
        self.tick = 0.0
        self.previous: float | None = None
        self.warned = False

    def nominal(self, stream: av.video.stream.VideoStream) -> None:
        rate = stream.average_rate or stream.guessed_rate
        if rate and stream.time_base and self.path.suffix.lower() not in RAW_STREAM_SUFFIXES:
            self.expected = float(1 / Fraction(rate))
            self.tick = float(stream.time_base)

    def check(self, pts: int, time_base: Fraction | None, index: int) -> None:
        """Frame ``index`` is shown at ``pts`` (in ``time_base`` units)."""
        if self.expected is None or self.warned or time_base is None:
            return
        now = float(pts * time_base)
        if self.previous is not None:
            duration = now - self.previous
            if abs(duration - self.expected) > self.TOLERANCE * self.expected + self.tick:
                warnings.warn(
                    f"{self.path}: variable frame rate (frame {index - 1} lasts {1000 * duration:.1f} ms, the average "
                    f"frame {1000 * self.expected:.1f} ms): coded at a constant {1 / self.expected:.3f} fps, so the "
                    "timing is not kept",
                    stacklevel=4,
                )
                self.warned = True
        self.previous = now


def _is_picture_file(path: Path) -> bool:
    return path.suffix.lower() in FRAME_SUFFIXES


def _exif_orientation(path: Path) -> Orientation:
    """A picture's EXIF orientation (Pillow reads only the header)."""
    return _picture_header(path)[0]


def _picture_header(path: Path) -> tuple[Orientation, str | None]:
    """A picture's EXIF orientation, and a note when ffmpeg's conversion of it needs one (CMYK)."""
    try:
        with Image.open(path) as image:
            orientation = EXIF_ORIENTATIONS.get(image.getexif().get(EXIF_ORIENTATION_TAG, 1), UPRIGHT)
            cmyk = image.mode == "CMYK"
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError):
        return UPRIGHT, None  # Pillow cannot (or will not) parse it: ffmpeg decides whether it is readable at all
    return orientation, "CMYK picture (its colour profile, if any, is not applied)" if cmyk else None


def _picture_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a picture's header, however large (Pillow's pixel limit guards decoding, and
    nothing is decoded here); None if Pillow cannot parse it."""
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _display_orientation(frame: av.VideoFrame) -> Orientation:
    """A decoded video frame's display rotation (its display matrix, read as quarter turns)."""
    return Orientation(round((frame.rotation or 0) / 90) % 4)


def _orientation_before_decoding(path: Path) -> tuple[Orientation, tuple[int, int] | None]:
    """For the upright size in VideoInfo: the EXIF orientation (a picture's size is its header's), or the
    first video frame's display rotation and stored (width, height)."""
    if _is_picture_file(path):
        return _exif_orientation(path), None
    with _open_container(path) as container:
        try:
            frame = next(container.decode(container.streams.video[0]), None)
        except (av.FFmpegError, ValueError):
            return UPRIGHT, None  # undecodable: the decoding itself reports it
    return (_display_orientation(frame), (frame.width, frame.height)) if frame is not None else (UPRIGHT, None)


def _to_rgb(frame: av.VideoFrame, default_range: Range) -> np.ndarray:
    """One decoded frame as HxWx3 uint8 RGB, by the frame's own colour tags."""
    fmt = frame.format
    if _is_rgb(fmt):
        return frame.reformat(format="rgb24", interpolation=SWS_FLAGS).to_ndarray()  # alpha dropped here
    range_ = range_of_tag(int(frame.color_range), fmt.name, default_range)
    if _is_gray(fmt):
        return _gray_to_rgb(frame, range_)
    rgb = frame.reformat(
        format="rgb24",
        src_colorspace=sws_colorspace(matrix_of_tag(int(frame.colorspace), frame.height)),
        src_color_range=range_code(range_),
        dst_color_range=range_code("full"),
        interpolation=SWS_FLAGS,
    )
    return rgb.to_ndarray()


def _gray_to_rgb(frame: av.VideoFrame, range_: Range) -> np.ndarray:
    """Gray in numpy: swscale takes all gray as full range, and scales 16-bit by 1/256, not 1/257."""
    if any(c.is_alpha for c in frame.format.components):
        frame = frame.reformat(format="gray16le")  # PyAV cannot export gray+alpha; PNG-only, full range
    bits = frame.format.components[0].bits
    luma = frame.to_ndarray().astype(np.float64)
    if range_ == "limited":
        luma = (luma / 2 ** (bits - 8) - 16) * (255 / 219)
    else:
        luma = luma * (255 / (2**bits - 1))
    gray = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def _is_rgb(fmt: av.VideoFormat) -> bool:
    """RGB-family formats (incl. palettes) need no matrix."""
    return fmt.is_rgb or fmt.has_palette


def _is_gray(fmt: av.VideoFormat) -> bool:
    return not _is_rgb(fmt) and sum(not c.is_alpha for c in fmt.components) == 1


def _lossy_conversion(frame: av.VideoFrame) -> str | None:
    """What turning this frame's format into 8-bit RGB loses, or None."""
    fmt = frame.format
    bits = max(c.bits for c in fmt.components)
    reasons = []
    if bits > 8:
        reasons.append(f"{bits}-bit")
    if _is_gray(fmt):
        reasons.append("grayscale")
    if _uses_alpha(frame) or _uses_transparent_palette_entries(frame):
        reasons.append("alpha dropped")
    return f"{fmt.name} source ({', '.join(reasons)})" if reasons else None


def _uses_alpha(frame: av.VideoFrame) -> bool:
    """Whether a frame with an alpha component has a pixel that is not opaque (CMYK JPEGs decode to an
    opaque gbrap, for one)."""
    if not any(c.is_alpha for c in frame.format.components):
        return False
    return bool(frame.reformat(format="rgba").to_ndarray()[..., 3].min() < 255)


def _uses_transparent_palette_entries(frame: av.VideoFrame) -> bool:
    """Palette pictures keep alpha in the palette (BGRA entries), not in a component."""
    if not frame.format.has_palette:
        return False
    alpha = np.frombuffer(bytes(frame.planes[1]), np.uint8).reshape(-1, 4)[:, 3]
    plane = frame.planes[0]
    indices = np.frombuffer(bytes(plane), np.uint8).reshape(-1, plane.line_size)[: frame.height, : frame.width]
    return bool((alpha[np.unique(indices)] < 255).any())


def _open_container(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise _unreadable(path, short_reason(exc)) from exc
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: has no video stream")
    return container


def _unreadable(path: Path, reason: str) -> InputError:
    return InputError(f"{path}: not a readable video or image ({reason})")

"""The anchors' only bridge to PyAV's encoders and decoders: our planes in, our planes out.

Each frame is padded to a multiple of 8 by edge replication (encoders want whole blocks and even
chroma), converted with ``colour`` in full precision, encoded, decoded from the encoder's own
packets, converted back with the same spec and cropped. ``code_frames`` streams this: it holds
only the frames the encoder and decoder have not released yet (lookahead and B-frame reordering),
never the whole clip.

Data flow::

    RGB --pad--> rgb_to_planes --> VideoFrame --encoder--> packets (bits, keyframe flags)
                                                              |
    RGB' <--crop-- planes_to_rgb <-- VideoFrame <--decoder----+
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal, cast

import av
import numpy as np
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType

from tngvideo.anchors.colour import ColourSpec, YuvPlanes, planes_to_rgb, rgb_to_planes

PAD_MULTIPLE = 8
DEFAULT_FPS = Fraction(25)
# Decoders for the packets of each encoder; AV1 goes through dav1d, ffmpeg's native AV1 needs hwaccel.
DECODER_FOR = {"libx264": "h264", "libx265": "hevc", "libsvtav1": "libdav1d"}
# ffmpeg AVColorSpace / AVColorRange codes written into the bitstream's VUI.
_COLORSPACE_CODE = {"bt601": 6, "bt709": 1}  # SMPTE 170M (BT.601 525), BT.709
_RANGE_CODE = {"limited": 1, "full": 2}  # MPEG, JPEG

Tune = Literal["default", "psnr"]
# x265's info SEI (its version and option string, ~2 KB) would be charged to every stream: 0.05 bpp on Kodak.
X265_BASE_PARAMS = "log-level=error:info=0"
# PSNR tuning for x265: no psycho-visual RD / RDOQ and no adaptive quantisation.
X265_PSNR_PARAMS = "psy-rd=0:psy-rdoq=0:aq-mode=0"


@dataclass(frozen=True)
class EncoderSetup:
    """One encoder configuration: ffmpeg encoder name, colour spec and private options."""

    encoder: str
    colour: ColourSpec
    options: Mapping[str, str] = field(default_factory=dict)
    fps: Fraction = DEFAULT_FPS

    def __post_init__(self) -> None:
        if self.encoder not in DECODER_FOR:
            raise ValueError(f"no decoder known for encoder {self.encoder!r}; known: {sorted(DECODER_FOR)}")
        if self.encoder not in av.codecs_available:
            raise ValueError(f"this PyAV build has no {self.encoder} encoder")


@dataclass(frozen=True)
class CodedFrame:
    """One frame after the encode-decode round trip, in display order."""

    index: int
    original: np.ndarray
    decoded: np.ndarray
    bits: int
    keyframe: bool
    pict_type: str


def libav_versions() -> dict[str, str]:
    """PyAV and the libav* libraries it bundles (which fix the x264/x265/SVT-AV1 builds)."""
    versions = {"pyav": av.__version__}
    versions.update({name: ".".join(map(str, version)) for name, version in av.library_versions.items()})
    return versions


def x265_params(*parts: str, tune: Tune) -> str:
    """The ``x265-params`` string: our base parameters, the caller's, and the tuning's."""
    return ":".join([X265_BASE_PARAMS, *parts, *([X265_PSNR_PARAMS] if tune == "psnr" else [])])


def pad_to_multiple(rgb: np.ndarray, multiple: int = PAD_MULTIPLE) -> np.ndarray:
    """Edge-replicate the bottom and right so both sides are multiples of ``multiple``."""
    height, width = rgb.shape[:2]
    return np.pad(rgb, ((0, -height % multiple), (0, -width % multiple), (0, 0)), mode="edge")


def planes_to_frame(planes: YuvPlanes, colour: ColourSpec, pts: int) -> av.VideoFrame:
    """A VideoFrame filled from our planes (row padding of PyAV's buffers respected), colour-tagged."""
    height, width = planes.y.shape
    frame = av.VideoFrame(width, height, colour.pix_fmt)
    for target, source in zip(frame.planes, planes):
        rows = np.zeros((target.height, target.line_size), dtype=np.uint8)
        rows[:, : target.width] = source
        target.update(rows.tobytes())
    frame.pts = pts
    frame.colorspace = _COLORSPACE_CODE[colour.matrix]
    frame.color_range = _RANGE_CODE[colour.range]
    return frame


def frame_to_planes(frame: av.VideoFrame) -> YuvPlanes:
    """The three uint8 planes of a decoded yuv420p/yuv444p frame, row padding dropped."""
    if frame.format.name not in ("yuv420p", "yuv444p", "yuvj420p", "yuvj444p"):
        raise ValueError(f"decoder returned {frame.format.name}, expected 8-bit planar 4:2:0 or 4:4:4")
    y, cb, cr = (
        np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
        for plane in frame.planes
    )
    return YuvPlanes(y, cb, cr)


def _video_context(name: str, mode: Literal["r", "w"]) -> VideoCodecContext:
    return cast(VideoCodecContext, av.CodecContext.create(name, mode))


def open_encoder(setup: EncoderSetup, width: int, height: int) -> VideoCodecContext:
    """An opened encoder context with the colour matrix and range tagged in its VUI."""
    if setup.encoder == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 logs straight to stderr at info level otherwise
    context = _video_context(setup.encoder, "w")
    context.width, context.height, context.pix_fmt = width, height, setup.colour.pix_fmt
    context.time_base = 1 / setup.fps
    context.framerate = setup.fps
    context.colorspace = _COLORSPACE_CODE[setup.colour.matrix]
    context.color_range = _RANGE_CODE[setup.colour.range]
    context.options = dict(setup.options)
    context.open()
    return context


def code_frames(frames: Iterable[np.ndarray], setup: EncoderSetup) -> Iterator[CodedFrame]:
    """Encode a stream of HxWx3 uint8 RGB frames and yield each decoded back, with its bits."""
    encoder: VideoCodecContext | None = None
    decoder = _video_context(DECODER_FOR[setup.encoder], "r")
    pending: dict[int, np.ndarray] = {}  # originals the decoder has not returned yet, by pts
    bits: dict[int, int] = {}
    keyframes: set[int] = set()

    def release(packets: Iterable[av.Packet | None]) -> Iterator[CodedFrame]:
        for packet in packets:
            if packet is not None:
                pts = _pts(packet.pts, setup.encoder)
                bits[pts] = bits.get(pts, 0) + 8 * packet.size
                if packet.is_keyframe:
                    keyframes.add(pts)
            for decoded in decoder.decode(packet):
                pts = _pts(decoded.pts, setup.encoder)
                original = pending.pop(pts)
                height, width = original.shape[:2]
                rgb = planes_to_rgb(frame_to_planes(decoded), setup.colour)[:height, :width]
                yield CodedFrame(
                    pts, original, rgb, bits.pop(pts), pts in keyframes, PictureType(decoded.pict_type).name
                )

    for index, rgb in enumerate(frames):
        padded = pad_to_multiple(rgb)
        if encoder is None:
            encoder = open_encoder(setup, padded.shape[1], padded.shape[0])
        pending[index] = rgb
        yield from release(encoder.encode(planes_to_frame(rgb_to_planes(padded, setup.colour), setup.colour, index)))
    if encoder is not None:
        yield from release([*encoder.encode(None), None])
    if pending:
        raise RuntimeError(f"{setup.encoder}: {len(pending)} frames were never decoded")


def _pts(pts: int | None, encoder: str) -> int:
    """Frames are matched to packets and originals by pts, so every packet and frame must carry one."""
    if pts is None:
        raise RuntimeError(f"{encoder} round trip produced a packet or frame without pts")
    return pts

"""Classical video codecs as RD anchors: x264, x265 (and optionally SVT-AV1) on a whole clip.

A clip streams through ``libav.code_frames`` in one pass: each decoded frame is measured against its
original as soon as the decoder returns it, so memory holds only the frames inside the encoder's
lookahead and reordering window (about 40-50 frames at these presets), never the whole clip.

GOP policy: a keyframe every ``gop`` frames exactly (keyint = min-keyint = gop, scene-cut detection
off) and closed GOPs (x265's default open GOP switched off), so random-access points match those of
a learned codec with the same intra period. B-frames and lookahead stay at the presets' defaults.

Colour: the encoder receives our own full-precision YCbCr planes; matrix and range are tagged in
the VUI. By default the matrix follows the source (its tag, else BT.601 below 720 lines and BT.709
from 720 up), limited range.

Reported quality, per frame and averaged over frames (the convention of the learned-video
literature): RGB PSNR, Y- and 6:1:1 YUV-PSNR from ``metrics.yuv_psnr`` (BT.601 full range of the RGB
frames, so comparable with codecs that never see YCbCr) and MS-SSIM. bpp = total bits / (frames x W x H).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Literal

import numpy as np

from tngvideo.anchors.colour import Chroma, ColourSpec, Matrix, Range
from tngvideo.anchors.libav import EncoderSetup, Tune, code_frames, x265_params
from tngvideo.io.frames import VideoInfo, VideoSource
from tngvideo.metrics import msssim, psnr, yuv_psnr

VideoEncoder = Literal["libx264", "libx265", "libsvtav1"]
VideoTune = Literal[Tune, "zerolatency"]  # "zerolatency": the encoders' low-delay tune (video anchors only)
DEFAULT_GOP = 32
DEFAULT_CRFS: dict[str, tuple[float, ...]] = {
    "libx264": (18, 23, 28, 33),
    "libx265": (18, 23, 28, 33),
    "libsvtav1": (27, 35, 43, 51),  # AV1's CRF scale runs 0..63
}
_SHORT_NAME = {"libx264": "x264", "libx265": "x265", "libsvtav1": "svtav1"}
_HD_HEIGHT = 720


@dataclass(frozen=True)
class VideoAnchor:
    """One encoder configuration; ``crf`` is chosen per run.

    ``tune="psnr"``: x264's own ``tune=psnr`` (no AQ, no psy-RD); for x265 psy-rd=0 psy-rdoq=0
    aq-mode=0. ``tune="zerolatency"``: the encoders' own low-delay tune (no B-frames, no lookahead;
    psycho-visual tools at their defaults), what a real-time application would pick. SVT-AV1 already
    defaults to its PSNR tune and takes only 4:2:0 here; its preset is a number ("8" fast .. "2" slow).
    """

    encoder: VideoEncoder = "libx264"
    preset: str = "medium"
    chroma: Chroma = "420"
    tune: VideoTune = "default"
    gop: int = DEFAULT_GOP
    matrix: Matrix | None = None
    range: Range = "limited"

    def __post_init__(self) -> None:
        if self.gop < 1:
            raise ValueError(f"gop must be >= 1, got {self.gop}")
        if self.encoder == "libsvtav1" and (self.chroma != "420" or self.tune != "default"):
            raise ValueError("libsvtav1 anchors take 4:2:0 and the default (PSNR) tune only")

    @property
    def name(self) -> str:
        suffix = "" if self.tune == "default" else f"-{self.tune}"
        return f"{_SHORT_NAME[self.encoder]}-{self.preset}-{ColourSpec(chroma=self.chroma).pix_fmt}{suffix}"

    @property
    def crfs(self) -> tuple[float, ...]:
        """The default CRF sweep of this encoder."""
        return DEFAULT_CRFS[self.encoder]

    def colour(self, info: VideoInfo) -> ColourSpec:
        """The colour spec for a source: the configured matrix, else the source's own."""
        matrix = self.matrix or _source_matrix(info)
        return ColourSpec(matrix, self.range, self.chroma)

    def options(self, crf: float) -> dict[str, str]:
        """ffmpeg private options for one CRF."""
        gop = f"keyint={self.gop}:min-keyint={self.gop}:scenecut=0"
        options = {"preset": self.preset, "crf": f"{crf:g}"}
        if self.encoder == "libx264":
            options["x264-params"] = gop
            if self.tune != "default":
                options["tune"] = self.tune
        elif self.encoder == "libx265":
            options["x265-params"] = x265_params(gop, "open-gop=0", tune="psnr" if self.tune == "psnr" else "default")
            if self.tune == "zerolatency":
                options["tune"] = "zerolatency"
        else:
            options["svtav1-params"] = f"keyint={self.gop}:scd=0"
        return options

    def setup(self, crf: float, info: VideoInfo) -> EncoderSetup:
        """The complete encoder configuration for a source."""
        return EncoderSetup(self.encoder, self.colour(info), self.options(crf), info.fps)

    def describe(self) -> str:
        options = " ".join(f"{key}={value}" for key, value in self.options(0).items() if key != "crf")
        return (
            f"{self.encoder} via PyAV, CRF, {ColourSpec(chroma=self.chroma).pix_fmt} {self.matrix or 'source matrix'} "
            f"{self.range} range (2x2 box-filtered chroma if 4:2:0), closed GOP {self.gop}; {options}"
        )


@dataclass(frozen=True)
class FrameRecord:
    """Rate and quality of one frame, in display order."""

    index: int
    keyframe: bool
    pict_type: str
    bits: int
    psnr: float
    psnr_y: float
    psnr_yuv: float
    msssim: float


@dataclass(frozen=True)
class VideoResult:
    """One clip coded at one CRF: summary (frame means) and per-frame records."""

    codec: str
    setting: float
    frames: int
    width: int
    height: int
    bits: int
    bpp: float
    psnr: float
    psnr_y: float
    psnr_yuv: float
    msssim: float
    keyframes: int
    records: tuple[FrameRecord, ...]


def encode_clip(source: VideoSource, anchor: VideoAnchor, crf: float, max_frames: int | None = None) -> VideoResult:
    """Encode, decode and measure the first ``max_frames`` frames (all by default) of ``source``."""
    records = tuple(_measured_frames(islice(source.frames(), max_frames), anchor.setup(crf, source.info)))
    if not records:
        raise ValueError(f"{source.path}: no frames to encode")
    result = summarise(anchor.name, crf, records, source.info.width, source.info.height)
    if result.keyframes != -(-result.frames // anchor.gop):
        warnings.warn(
            f"{anchor.name} crf {crf:g}: {result.keyframes} keyframes in {result.frames} frames, GOP {anchor.gop}"
        )
    return result


def summarise(codec: str, setting: float, records: Sequence[FrameRecord], width: int, height: int) -> VideoResult:
    """A clip's summary from its per-frame records: one definition for the anchors and tngvideo alike."""

    def mean(field: str) -> float:
        return math.fsum(getattr(record, field) for record in records) / len(records)

    bits = sum(record.bits for record in records)
    return VideoResult(
        codec=codec,
        setting=setting,
        frames=len(records),
        width=width,
        height=height,
        bits=bits,
        bpp=bits / (len(records) * width * height),
        psnr=mean("psnr"),
        psnr_y=mean("psnr_y"),
        psnr_yuv=mean("psnr_yuv"),
        msssim=mean("msssim"),
        keyframes=sum(record.keyframe for record in records),
        records=tuple(records),
    )


def _measured_frames(frames: Iterator[np.ndarray], setup: EncoderSetup) -> Iterator[FrameRecord]:
    for coded in code_frames(frames, setup):
        planes = yuv_psnr(coded.original, coded.decoded)
        yield FrameRecord(
            index=coded.index,
            keyframe=coded.keyframe,
            pict_type=coded.pict_type,
            bits=coded.bits,
            psnr=psnr(coded.original, coded.decoded),
            psnr_y=planes["psnr_y"],
            psnr_yuv=planes["psnr_yuv"],
            msssim=msssim(coded.original, coded.decoded),
        )


def _source_matrix(info: VideoInfo) -> Matrix:
    if info.colorspace == "bt601":
        return "bt601"
    if info.colorspace == "bt709":
        return "bt709"
    return "bt709" if info.height >= _HD_HEIGHT else "bt601"


def default_video_anchors(
    presets: tuple[str, ...] = ("medium", "veryslow"), gop: int = DEFAULT_GOP, svtav1_preset: str | None = None
) -> list[VideoAnchor]:
    """x264 and x265 at every preset, in 4:2:0 and 4:4:4, default and PSNR tuning; SVT-AV1 if a preset is given."""
    anchors = [
        VideoAnchor(encoder, preset, chroma, tune, gop)
        for encoder in ("libx264", "libx265")
        for preset in presets
        for chroma in ("420", "444")
        for tune in ("default", "psnr")
    ]
    if svtav1_preset is not None:
        anchors.append(VideoAnchor("libsvtav1", svtav1_preset, gop=gop))
    return anchors

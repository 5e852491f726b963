"""Classical image codecs as RD anchors: encode, decode, measure one image at one setting.

Every anchor is a frozen dataclass whose fields are its options and whose ``settings`` is the
default sweep (override per instance). ``measure`` returns an ``ImageResult``; bytes are the whole
file (Pillow) or every encoded packet, headers included (x265).

Choices that keep the anchors at their best, or comparable with ``reference/kodak_anchors.json``:

- JPEG: Pillow/libjpeg-turbo, standard Huffman tables (as the literature and the reference);
  4:2:0 below quality 90, 4:4:4 from 90.
- WebP: method 6 (slowest, best). AVIF: speed 4, Pillow's default 4:2:0.
- JPEG 2000: OpenJPEG irreversible 9/7 *with* the colour transform (``mct=1``); Pillow's default
  ``mct=0`` codes R, G, B separately and costs ~3 dB (the reference's "weak here").
- HEVC intra: libx265 on our own full-precision YCbCr planes (``colour``), QP-driven, info SEI off.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from PIL import Image, features

from tngvideo.anchors.colour import Chroma, ColourSpec, Matrix, Range
from tngvideo.anchors.libav import EncoderSetup, Tune, code_frames, x265_params
from tngvideo.metrics import bits_per_pixel, msssim, psnr

QUALITIES: tuple[float, ...] = (5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 90, 95)
JPEG2000_RATES: tuple[float, ...] = (400, 200, 100, 60, 40, 25, 15, 10)  # compression ratios vs 24-bit RGB
X265_QPS: tuple[float, ...] = (47, 42, 37, 32, 27, 22, 17)
JPEG_444_FROM = 90


@dataclass(frozen=True)
class ImageResult:
    """One image coded at one setting."""

    codec: str
    setting: float
    bytes: int
    bpp: float
    psnr: float
    msssim: float


class ImageAnchor(ABC):
    """A classical codec with a default quality sweep."""

    settings: tuple[float, ...]

    @property
    @abstractmethod
    def name(self) -> str:
        """The curve name in results."""

    @abstractmethod
    def describe(self) -> str:
        """The exact settings, for result files."""

    @abstractmethod
    def round_trip(self, rgb: np.ndarray, setting: float) -> tuple[int, np.ndarray]:
        """Encode and decode HxWx3 uint8 RGB: (encoded size in bytes, decoded RGB of the same shape)."""

    def measure(self, rgb: np.ndarray, setting: float) -> ImageResult:
        """Round trip and measure rate and quality against ``rgb``."""
        size, decoded = self.round_trip(rgb, setting)
        height, width = rgb.shape[:2]
        return ImageResult(
            self.name, setting, size, bits_per_pixel(size, width, height), psnr(rgb, decoded), msssim(rgb, decoded)
        )

    def sweep(self, rgb: np.ndarray, settings: Iterable[float] | None = None) -> list[ImageResult]:
        """``measure`` at every setting (default: the anchor's sweep)."""
        return [self.measure(rgb, setting) for setting in (self.settings if settings is None else settings)]


class PillowAnchor(ImageAnchor):
    """An anchor that is one Pillow save/open round trip through memory."""

    format: ClassVar[str]

    @property
    def name(self) -> str:
        return self.format.lower()

    @abstractmethod
    def save_options(self, setting: float) -> dict[str, Any]:
        """Keyword arguments of ``Image.save`` for this setting."""

    def round_trip(self, rgb: np.ndarray, setting: float) -> tuple[int, np.ndarray]:
        buffer = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(buffer, self.format, **self.save_options(setting))
        with Image.open(io.BytesIO(buffer.getvalue())) as decoded:
            return buffer.tell(), np.array(decoded.convert("RGB"))


def _span(values: tuple[float, ...]) -> str:
    return f"{min(values):g}..{max(values):g}"


@dataclass(frozen=True)
class JpegAnchor(PillowAnchor):
    """Baseline JPEG; 4:4:4 from quality 90 where 4:2:0 would cap quality."""

    settings: tuple[float, ...] = QUALITIES
    format: ClassVar[str] = "JPEG"

    def save_options(self, setting: float) -> dict[str, Any]:
        quality = int(setting)
        return {"quality": quality, "subsampling": "4:4:4" if quality >= JPEG_444_FROM else "4:2:0"}

    def describe(self) -> str:
        return f"Pillow quality {_span(self.settings)} (4:2:0 below {JPEG_444_FROM}, 4:4:4 from {JPEG_444_FROM})"


@dataclass(frozen=True)
class WebpAnchor(PillowAnchor):
    """Lossy WebP (VP8 intra, 4:2:0) at its slowest, best method."""

    settings: tuple[float, ...] = QUALITIES
    method: int = 6
    format: ClassVar[str] = "WEBP"

    def save_options(self, setting: float) -> dict[str, Any]:
        return {"quality": int(setting), "method": self.method}

    def describe(self) -> str:
        return f"Pillow quality {_span(self.settings)}, method {self.method}"


@dataclass(frozen=True)
class AvifAnchor(PillowAnchor):
    """AVIF (AV1 intra) through Pillow's libavif plugin, default 4:2:0."""

    settings: tuple[float, ...] = QUALITIES
    speed: int = 4
    format: ClassVar[str] = "AVIF"

    def save_options(self, setting: float) -> dict[str, Any]:
        return {"quality": int(setting), "speed": self.speed}

    def describe(self) -> str:
        return f"Pillow quality {_span(self.settings)}, speed {self.speed}"


@dataclass(frozen=True)
class Jpeg2000Anchor(PillowAnchor):
    """JPEG 2000 (OpenJPEG) at fixed compression ratios; the setting is the ratio to 24-bit RGB."""

    settings: tuple[float, ...] = JPEG2000_RATES
    format: ClassVar[str] = "JPEG2000"

    def save_options(self, setting: float) -> dict[str, Any]:
        return {"quality_mode": "rates", "quality_layers": [setting], "irreversible": True, "mct": 1}

    def describe(self) -> str:
        return f"Pillow/OpenJPEG irreversible 9/7 with colour transform (mct=1), rates {_span(self.settings)}"


@dataclass(frozen=True)
class X265IntraAnchor(ImageAnchor):
    """HEVC intra: one frame through libx265 at a fixed QP, on our own YCbCr planes."""

    chroma: Chroma = "444"
    tune: Tune = "default"
    preset: str = "veryslow"
    matrix: Matrix = "bt601"
    range: Range = "limited"
    settings: tuple[float, ...] = X265_QPS

    @property
    def colour(self) -> ColourSpec:
        return ColourSpec(self.matrix, self.range, self.chroma)

    @property
    def name(self) -> str:
        return f"x265-intra-{self.colour.pix_fmt}" + ("-psnr" if self.tune == "psnr" else "")

    def setup(self, qp: float) -> EncoderSetup:
        """The encoder configuration for one QP."""
        params = x265_params(f"qp={int(qp)}", tune=self.tune)
        return EncoderSetup("libx265", self.colour, {"preset": self.preset, "x265-params": params})

    def round_trip(self, rgb: np.ndarray, setting: float) -> tuple[int, np.ndarray]:
        (coded,) = code_frames([rgb], self.setup(setting))
        return coded.bits // 8, coded.decoded

    def describe(self) -> str:
        tuning = "PSNR-tuned (psy-rd=0 psy-rdoq=0 aq-mode=0)" if self.tune == "psnr" else "default tuning"
        return (
            f"libx265 via PyAV, one frame, preset {self.preset}, QP {_span(self.settings)}, {tuning}, "
            f"{self.colour.pix_fmt} {self.matrix} {self.range} range (box-filtered chroma), "
            "padded to a multiple of 8, info SEI off"
        )


def pillow_codec_versions() -> dict[str, str]:
    """Versions of the codec libraries inside Pillow."""
    return {f"pillow-{name}": str(features.version(name)) for name in ("libjpeg_turbo", "webp", "avif", "jpg_2000")}


def default_image_anchors() -> list[ImageAnchor]:
    """The standard anchor set: four still-image formats and x265 intra in both chroma formats and tunings."""
    x265 = [X265IntraAnchor(chroma, tune) for chroma in ("444", "420") for tune in ("default", "psnr")]
    return [JpegAnchor(), WebpAnchor(), AvifAnchor(), Jpeg2000Anchor(), *x265]

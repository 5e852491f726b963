"""Full-precision RGB <-> YCbCr for the classical anchors (numpy float64, one rounding each way).

The anchors feed their encoders our own planes and convert the decoded planes back themselves,
so swscale's fixed-point paths and default bilinear chroma filters never touch the measurement.

Matrices are BT.601 (Kr=0.299, Kb=0.114; what ``metrics.yuv_psnr`` and JPEG/JFIF use) and BT.709
(Kr=0.2126, Kb=0.0722). Ranges are ``limited`` (Y 16..235, Cb/Cr 16..240: what players assume for
untagged H.264/HEVC) and ``full`` (0..255, JFIF). The anchors default to BT.601 limited range, the
setting of ``reference/kodak_anchors.json``.

4:2:0 chroma is a 2x2 box average, i.e. centre-sited (JPEG / MPEG-1 siting), and is upsampled with
the matching bilinear 3/4-1/4 filter (libjpeg's "fancy upsampling"). Encoders never resample
chroma themselves, so the siting only matters to external players, which may shift chroma by
a quarter sample.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tngvideo.io.colour import Matrix, Range

Chroma = Literal["444", "420"]

_LUMA_WEIGHTS: dict[str, tuple[float, float]] = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


@dataclass(frozen=True)
class ColourSpec:
    """How RGB maps to YCbCr planes: matrix, range and chroma subsampling."""

    matrix: Matrix = "bt601"
    range: Range = "limited"
    chroma: Chroma = "420"

    def __post_init__(self) -> None:
        if (
            self.matrix not in _LUMA_WEIGHTS
            or self.range not in ("limited", "full")
            or self.chroma not in ("444", "420")
        ):
            raise ValueError(f"unsupported colour spec {self}")

    @property
    def pix_fmt(self) -> str:
        """The matching 8-bit planar ffmpeg pixel format."""
        return "yuv420p" if self.chroma == "420" else "yuv444p"


@dataclass(frozen=True)
class YuvPlanes:
    """Three uint8 planes; Cb and Cr are half size in both directions for 4:2:0."""

    y: np.ndarray
    cb: np.ndarray
    cr: np.ndarray

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.y, self.cb, self.cr))


def _forward_matrix(matrix: Matrix) -> np.ndarray:
    kr, kb = _LUMA_WEIGHTS[matrix]
    kg = 1.0 - kr - kb
    return np.array(
        [
            [kr, kg, kb],
            [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5],
            [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))],
        ],
        dtype=np.float64,
    )


def _range_scale_offset(range_: Range) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel scale and offset from (Y in 0..255, Cb/Cr in -127.5..127.5) to code values."""
    if range_ == "full":
        return np.array([1.0, 1.0, 1.0]), np.array([0.0, 128.0, 128.0])
    return np.array([219.0, 224.0, 224.0]) / 255.0, np.array([16.0, 128.0, 128.0])


def rgb_to_ycbcr(rgb: np.ndarray, matrix: Matrix = "bt601", range_: Range = "limited") -> np.ndarray:
    """HxWx3 RGB (0..255, any dtype) to unrounded float64 YCbCr code values, full resolution."""
    scale, offset = _range_scale_offset(range_)
    return (rgb.astype(np.float64) @ _forward_matrix(matrix).T) * scale + offset


def ycbcr_to_rgb(ycbcr: np.ndarray, matrix: Matrix = "bt601", range_: Range = "limited") -> np.ndarray:
    """Float YCbCr code values (HxWx3) to unrounded float64 RGB, the exact inverse of ``rgb_to_ycbcr``."""
    scale, offset = _range_scale_offset(range_)
    return ((ycbcr - offset) / scale) @ np.linalg.inv(_forward_matrix(matrix)).T


def downsample_chroma(plane: np.ndarray) -> np.ndarray:
    """2x2 box average (float64); odd sides are edge-replicated first."""
    height, width = plane.shape
    padded = np.pad(plane.astype(np.float64), ((0, height % 2), (0, width % 2)), mode="edge")
    return 0.25 * (padded[0::2, 0::2] + padded[1::2, 0::2] + padded[0::2, 1::2] + padded[1::2, 1::2])


def upsample_chroma(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-sited 2x bilinear upsample (weights 3/4 and 1/4, edges replicated), cropped to HxW."""
    return _upsample_axis(_upsample_axis(plane.astype(np.float64), 0), 1)[:height, :width]


def _upsample_axis(plane: np.ndarray, axis: int) -> np.ndarray:
    """Each sample becomes two: 3/4 of itself plus 1/4 of its neighbour on that side."""
    n = plane.shape[axis]
    before = np.take(plane, np.clip(np.arange(n) - 1, 0, n - 1), axis=axis)
    after = np.take(plane, np.clip(np.arange(n) + 1, 0, n - 1), axis=axis)
    out = np.stack((0.75 * plane + 0.25 * before, 0.75 * plane + 0.25 * after), axis=axis + 1)
    shape = list(plane.shape)
    shape[axis] = 2 * n
    return out.reshape(shape)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def rgb_to_planes(rgb: np.ndarray, spec: ColourSpec) -> YuvPlanes:
    """uint8 HxWx3 RGB to uint8 planes; chroma is filtered before its only rounding."""
    ycbcr = rgb_to_ycbcr(rgb, spec.matrix, spec.range)
    chroma = [ycbcr[..., c] for c in (1, 2)]
    if spec.chroma == "420":
        chroma = [downsample_chroma(plane) for plane in chroma]
    return YuvPlanes(_to_uint8(ycbcr[..., 0]), _to_uint8(chroma[0]), _to_uint8(chroma[1]))


def planes_to_rgb(planes: YuvPlanes, spec: ColourSpec) -> np.ndarray:
    """uint8 planes to uint8 HxWx3 RGB; 4:2:0 chroma is upsampled in float before the matrix."""
    height, width = planes.y.shape
    chroma = [planes.cb.astype(np.float64), planes.cr.astype(np.float64)]
    if spec.chroma == "420":
        chroma = [upsample_chroma(plane, height, width) for plane in chroma]
    ycbcr = np.stack((planes.y.astype(np.float64), chroma[0], chroma[1]), axis=-1)
    return _to_uint8(ycbcr_to_rgb(ycbcr, spec.matrix, spec.range))

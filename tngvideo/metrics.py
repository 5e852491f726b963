"""Quality and rate measures, as the compression literature computes them.

- PSNR in RGB over all three channels (the primary figure), Y-PSNR and the 6:1:1-weighted YUV
  PSNR of the video-coding literature (BT.601 full-range YCbCr of the RGB frames).
- MS-SSIM (pytorch-msssim, 5 scales, on 0-255 RGB). Its 5 scales need a side > 160 px; for
  smaller frames (QCIF is 144 px high) the same algorithm runs with as many scales as fit (a side
  > 10·2^(s-1) for s scales) and the first weights renormalised; 1 scale is plain SSIM. Frames
  under 11 px have no SSIM and raise ValueError.
- Bits per pixel, and Bjøntegaard delta rate (via the ``bjontegaard`` package).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from pytorch_msssim import ms_ssim
from torch.nn import functional as F

MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WINDOW = 11
# BT.601 luma/chroma weights of the video-coding literature's YUV PSNR.
_RGB_TO_YCBCR = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=np.float64
)


def mse(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean squared error over all samples (float64)."""
    if reference.shape != test.shape:
        raise ValueError(f"shape mismatch {reference.shape} vs {test.shape}")
    diff = reference.astype(np.float64) - test.astype(np.float64)
    return float(np.mean(diff * diff))


def psnr_from_mse(value: float, peak: float = 255.0) -> float:
    """PSNR in dB; identical inputs give +inf."""
    return math.inf if value == 0 else 10.0 * math.log10(peak * peak / value)


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """RGB PSNR of two uint8 HxWx3 frames (all channels pooled)."""
    return psnr_from_mse(mse(reference, test))


def _ycbcr(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ _RGB_TO_YCBCR.T


def yuv_psnr(reference: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """Y, U, V PSNR and the 6:1:1 weighted YUV PSNR (weights on the per-plane PSNRs, as in JVET)."""
    ref, tst = _ycbcr(reference), _ycbcr(test)
    y, u, v = (psnr_from_mse(mse(ref[..., c], tst[..., c])) for c in range(3))
    return {"psnr_y": y, "psnr_u": u, "psnr_v": v, "psnr_yuv": (6 * y + u + v) / 8}


def msssim_scales(height: int, width: int) -> int:
    """How many MS-SSIM scales fit: scale s (1-based) needs a side > 10 * 2**(s-1), as pytorch-msssim asserts."""
    side = min(height, width)
    return max(1, min(len(MSSSIM_WEIGHTS), sum(side > (_WINDOW - 1) * 2 ** (s - 1) for s in range(1, 6))))


def msssim(reference: np.ndarray, test: np.ndarray) -> float:
    """MS-SSIM of two uint8 HxWx3 frames on 0-255 RGB (see module docstring for small frames)."""
    height, width = reference.shape[:2]
    if min(height, width) < _WINDOW:
        raise ValueError(f"frame {width}x{height} is smaller than the 11x11 SSIM window")
    ref = torch.from_numpy(np.ascontiguousarray(reference)).permute(2, 0, 1)[None].double()
    tst = torch.from_numpy(np.ascontiguousarray(test)).permute(2, 0, 1)[None].double()
    scales = msssim_scales(height, width)
    if scales == len(MSSSIM_WEIGHTS):
        return float(ms_ssim(ref, tst, data_range=255.0, size_average=True))
    return _msssim_fewer_scales(ref, tst, scales)


def _msssim_fewer_scales(ref: torch.Tensor, tst: torch.Tensor, scales: int) -> float:
    """pytorch-msssim's algorithm with its first ``scales`` weights renormalised (it asserts 5 scales)."""
    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

    weights = torch.tensor(MSSSIM_WEIGHTS[:scales], dtype=ref.dtype)
    weights = weights / weights.sum()
    window = _fspecial_gauss_1d(_WINDOW, 1.5).repeat(ref.shape[1], 1, 1, 1).to(ref.dtype)
    factors = []
    for scale in range(scales):
        ssim_per_channel, cs = _ssim(ref, tst, data_range=255.0, win=window, size_average=False)
        if scale < scales - 1:
            factors.append(torch.relu(cs))
            padding = [side % 2 for side in ref.shape[2:]]
            ref = F.avg_pool2d(ref, kernel_size=2, padding=padding)
            tst = F.avg_pool2d(tst, kernel_size=2, padding=padding)
    stacked = torch.stack([*factors, torch.relu(ssim_per_channel)], dim=0)
    return float(torch.prod(stacked ** weights.view(-1, 1, 1), dim=0).mean())


def bits_per_pixel(num_bytes: int, width: int, height: int) -> float:
    """File size in bits over the pixel count."""
    return 8.0 * num_bytes / (width * height)


def bd_rate_percent(
    anchor_rates: Sequence[float],
    anchor_quality: Sequence[float],
    test_rates: Sequence[float],
    test_quality: Sequence[float],
) -> float:
    """Bjøntegaard delta rate of test vs anchor in percent (negative = test needs fewer bits).

    Akima interpolation over the overlapping quality range (the ``bjontegaard`` package);
    NaN when the curves do not overlap in quality or have fewer than 2 usable points.
    """
    anchor = _monotone_points(anchor_rates, anchor_quality)
    test = _monotone_points(test_rates, test_quality)
    if len(anchor[0]) < 2 or len(test[0]) < 2:
        return math.nan
    if min(anchor[1][-1], test[1][-1]) <= max(anchor[1][0], test[1][0]):
        return math.nan
    import bjontegaard

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = bjontegaard.bd_rate(
            anchor[0], anchor[1], test[0], test[1], method="akima", require_matching_points=False, min_overlap=0.0
        )
    return float(value)


def _monotone_points(rates: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Points sorted by rate, finite only, with quality strictly increasing (BD-rate integrates in quality)."""
    pairs = sorted((r, q) for r, q in zip(rates, quality) if r > 0 and math.isfinite(q) and math.isfinite(r))
    kept: list[tuple[float, float]] = []
    for rate, value in pairs:
        if not kept or value > kept[-1][1]:
            kept.append((rate, value))
    return np.array([p[0] for p in kept]), np.array([p[1] for p in kept])

"""Quality measures on cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pytorch_msssim import ms_ssim, ssim

from tngvideo.metrics import bits_per_pixel, msssim, msssim_scales, psnr, yuv_psnr


def _noise_picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(30, 226, (height, width, 3), dtype=np.uint8)


def test_psnr_of_a_constant_offset_is_known() -> None:
    picture = _noise_picture(32, 48)
    shifted = picture + np.uint8(5)
    assert psnr(picture, shifted) == pytest.approx(10 * math.log10(255**2 / 25))


def test_psnr_of_identical_pictures_is_infinite() -> None:
    picture = _noise_picture(8, 8)
    assert psnr(picture, picture.copy()) == math.inf


def test_psnr_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError):
        psnr(_noise_picture(8, 8), _noise_picture(8, 9))


def test_yuv_psnr_of_a_gray_offset_puts_all_error_in_luma() -> None:
    picture = np.full((16, 16, 3), 100, dtype=np.uint8)
    result = yuv_psnr(picture, picture + np.uint8(4))
    assert result["psnr_y"] == pytest.approx(10 * math.log10(255**2 / 16), abs=1e-6)
    assert result["psnr_u"] > 100 and result["psnr_v"] > 100
    assert result["psnr_yuv"] == pytest.approx((6 * result["psnr_y"] + result["psnr_u"] + result["psnr_v"]) / 8)


def test_msssim_of_identical_pictures_is_one() -> None:
    picture = _noise_picture(200, 200)
    assert msssim(picture, picture.copy()) == pytest.approx(1.0)


def test_msssim_matches_pytorch_msssim_on_large_frames() -> None:
    picture = _noise_picture(192, 200)
    noisy = np.clip(picture.astype(int) + np.random.default_rng(1).integers(-12, 13, picture.shape), 0, 255)
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].double()
    expected = float(ms_ssim(as_tensor(picture), as_tensor(noisy), data_range=255.0))
    assert msssim(picture, noisy.astype(np.uint8)) == pytest.approx(expected, abs=1e-6)


def test_small_frames_use_fewer_msssim_scales() -> None:
    assert msssim_scales(512, 768) == 5
    assert msssim_scales(144, 176) == 4  # QCIF
    assert msssim_scales(12, 40) == 1


def test_one_scale_msssim_is_plain_ssim() -> None:
    picture = _noise_picture(16, 20)
    noisy = np.clip(picture.astype(int) + 9, 0, 255).astype(np.uint8)
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].double()
    expected = float(ssim(as_tensor(picture), as_tensor(noisy), data_range=255.0))
    assert msssim(picture, noisy) == pytest.approx(expected, abs=1e-6)


def test_msssim_drops_as_distortion_grows_on_qcif_frames() -> None:
    picture = _noise_picture(144, 176)
    rng = np.random.default_rng(2)
    scores = [msssim(picture, np.clip(picture + rng.normal(0, s, picture.shape), 0, 255).astype(np.uint8)) for s in (2, 8, 32)]
    assert 1.0 > scores[0] > scores[1] > scores[2]


def test_msssim_refuses_frames_smaller_than_the_window() -> None:
    with pytest.raises(ValueError, match="window"):
        msssim(_noise_picture(10, 40), _noise_picture(10, 40))


def test_bits_per_pixel_counts_bytes_over_pixels() -> None:
    assert bits_per_pixel(1000, 100, 40) == pytest.approx(2.0)

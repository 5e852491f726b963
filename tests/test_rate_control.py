"""Rate control: quality search within a budget, and per-frame budgets that hold an average bitrate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tngvideo.bitstream import unpack_image
from tngvideo.cli import EXIT_USAGE, main
from tngvideo.rate_control import BitrateController, largest_quality_within


def _size(quality: float) -> int:
    return int(100 * 2**quality)  # 200 bytes at quality 1 ... 102400 at quality 10


def test_search_finds_the_highest_quality_that_fits() -> None:
    quality, fits = largest_quality_within(_size, 5000, 1.0, 10.0)
    assert fits and _size(quality) <= 5000 < _size(quality + 9 / 2**7)
    assert float(np.float32(quality)) == quality  # what a header stores is what was searched


def test_search_ends_at_the_ladder_when_the_budget_is_loose_or_impossible() -> None:
    assert largest_quality_within(_size, 10**9, 1.0, 10.0) == (10.0, True)
    assert largest_quality_within(_size, 100, 1.0, 10.0) == (1.0, False)


def test_bitrate_controller_holds_the_average_when_frames_can_follow_their_budget() -> None:
    controller = BitrateController(kilobits_per_second=100, frames_per_second=25)
    rng = np.random.default_rng(0)
    spent = []
    for _ in range(250):
        # a coder that lands at 60-100% of what it is given (quality steps are coarse)
        size = int(controller.next_budget_bytes() * rng.uniform(0.6, 1.0))
        controller.spent(size)
        spent.append(size)
    kbps = 8 * sum(spent) * 25 / len(spent) / 1000
    assert 90 <= kbps <= 100


def test_an_impossible_stretch_does_not_starve_the_rest_of_the_stream() -> None:
    controller = BitrateController(kilobits_per_second=100, frames_per_second=25, reservoir_seconds=1.0)
    for _ in range(100):
        controller.spent(5000)  # ten times the per-frame share, whatever the budget
    assert controller.next_budget_bytes() == 1  # paying back ...
    for _ in range(30):
        controller.spent(0)
    assert controller.next_budget_bytes() >= 500  # ... but at most one second of debt


def _clip(folder: Path, smooth_frames, count: int = 6) -> Path:
    folder.mkdir()
    for index, frame in enumerate(smooth_frames(64, 96, count=count)):
        Image.fromarray(frame).save(folder / f"{index:03d}.png")
    return folder


def test_image_encode_to_a_bpp_target(models: Path, tmp_path: Path, smooth_frames, capsys: pytest.CaptureFixture[str]) -> None:
    source = _clip(tmp_path / "clip", smooth_frames, count=1) / "000.png"
    sizes = {}
    for quality in ("1", "10"):
        assert main(["image", "encode", str(source), str(tmp_path / f"q{quality}.tng"), "--quality", quality]) == 0
        sizes[quality] = (tmp_path / f"q{quality}.tng").stat().st_size
    target_bpp = 8 * (sizes["1"] + sizes["10"]) / 2 / (64 * 96)
    assert main(["image", "encode", str(source), str(tmp_path / "t.tng"), "--bpp", str(target_bpp)]) == 0
    data = (tmp_path / "t.tng").read_bytes()
    assert 8 * len(data) / (64 * 96) <= target_bpp
    assert 1.0 < unpack_image(data)[0].quality < 10.0
    capsys.readouterr()
    assert main(["image", "encode", str(source), str(tmp_path / "low.tng"), "--bpp", "0.001"]) == 0
    assert "below what quality 1 needs" in capsys.readouterr().err


def test_video_encode_at_a_bitrate_lands_near_it(models: Path, tmp_path: Path, smooth_frames) -> None:
    clip = _clip(tmp_path / "clip", smooth_frames)
    sizes = {}
    for quality in ("1", "10"):
        assert main(["encode", str(clip), str(tmp_path / f"q{quality}.tngv"), "--quality", quality]) == 0
        sizes[quality] = (tmp_path / f"q{quality}.tngv").stat().st_size
    target_kbps = 8 * (sizes["1"] + sizes["10"]) / 2 * 25 / 6 / 1000
    assert main(["encode", str(clip), str(tmp_path / "r.tngv"), "--bitrate", f"{target_kbps:.3f}"]) == 0
    kbps = 8 * (tmp_path / "r.tngv").stat().st_size * 25 / 6 / 1000
    assert 0.8 * target_kbps <= kbps <= 1.02 * target_kbps


def test_quality_and_bitrate_are_exclusive(models: Path, tmp_path: Path, smooth_frames, capsys) -> None:
    clip = _clip(tmp_path / "clip", smooth_frames, count=1)
    assert main(["encode", str(clip), str(tmp_path / "r.tngv"), "--bitrate", "10", "--quality", "3"]) == EXIT_USAGE
    assert "not allowed with argument" in capsys.readouterr().err

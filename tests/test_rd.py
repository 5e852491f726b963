"""RD averaging, BD-rate tables and report files, on synthetic curves with known answers."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tngvideo.evaluation.rd import (
    RDCurve,
    RDPoint,
    RDReport,
    bd_table,
    load_report,
    mean_at_matched_psnr,
    mean_per_setting,
    plot_report,
    psnr_gap,
    save_report,
    update_report,
)

RATES = (0.1, 0.2, 0.4, 0.8, 1.6)


@dataclass(frozen=True)
class Result:
    codec: str
    setting: float
    bpp: float
    psnr: float
    msssim: float


def quality_at(bpp: float) -> tuple[float, float]:
    """A concave synthetic RD law: PSNR and MS-SSIM rising with log rate."""
    psnr = 30.0 + 4.0 * math.log2(bpp / 0.1)
    return psnr, 1.0 - 0.1 * 10 ** (-(psnr - 30.0) / 20.0)


def curve(name: str, rate_scale: float = 1.0) -> RDCurve:
    """RATES at the synthetic law's quality, with the bits scaled: same quality for scale x the rate."""
    points = tuple(RDPoint(rate_scale * r, *quality_at(r), setting=i) for i, r in enumerate(RATES))
    return RDCurve(name, points)


def test_bd_rate_of_curve_needing_80_percent_of_the_bits_is_minus_20() -> None:
    table = bd_table({"anchor": curve("anchor"), "test": curve("test", 0.8)}, reference="anchor")
    assert table["test"].psnr == pytest.approx(-20.0, abs=0.05)
    assert table["test"].msssim_db == pytest.approx(-20.0, abs=0.05)
    assert table["anchor"].psnr == pytest.approx(0.0, abs=1e-9)


def test_bd_rate_of_more_expensive_curve_is_positive() -> None:
    table = bd_table({"anchor": curve("anchor"), "test": curve("test", 1.5)}, reference="anchor")
    assert table["test"].psnr == pytest.approx(50.0, abs=0.1)


def test_bd_rate_is_nan_when_qualities_do_not_overlap() -> None:
    far = RDCurve("far", tuple(RDPoint(p.bpp, p.psnr + 40, p.msssim) for p in curve("x").points))
    assert math.isnan(bd_table({"anchor": curve("anchor"), "far": far}, "anchor")["far"].psnr)


def test_bd_table_rejects_unknown_reference() -> None:
    with pytest.raises(KeyError):
        bd_table({"anchor": curve("anchor")}, "jpeg")


def test_mean_per_setting_averages_items_at_each_setting() -> None:
    results = [
        Result("c", 1, 0.2, 30.0, 0.90),
        Result("c", 1, 0.4, 32.0, 0.94),
        Result("c", 2, 1.0, 40.0, 0.99),
        Result("c", 2, 2.0, 42.0, 0.97),
        Result("d", 1, 5.0, 50.0, 1.0),
    ]
    curves = mean_per_setting(results)
    assert list(curves) == ["c", "d"]
    got = [(p.setting, p.bpp, p.psnr, p.msssim) for p in curves["c"].points]
    assert got == [(1, pytest.approx(0.3), 31.0, pytest.approx(0.92)), (2, 1.5, 41.0, pytest.approx(0.98))]


def test_matched_psnr_average_interpolates_log_bpp_and_averages_bpp() -> None:
    # Item b needs twice item a's rate at every PSNR; a's log-rate is linear in PSNR, so interpolation is exact.
    psnrs = np.linspace(28.0, 40.0, 5)
    item_a = [Result("c", i, 10 ** ((p - 30) / 10), p, 0.9) for i, p in enumerate(psnrs)]
    item_b = [Result("c", i, 2 * 10 ** ((p - 29) / 10), p + 1, 0.95) for i, p in enumerate(psnrs)]
    matched = mean_at_matched_psnr([item_a, item_b], num_targets=4)
    assert matched.averaging == "matched-psnr" and matched.name == "c"
    assert [p.psnr for p in matched.points] == pytest.approx([29.0, 32.666667, 36.333333, 40.0])
    for point in matched.points:
        assert point.bpp == pytest.approx(1.5 * 10 ** ((point.psnr - 30) / 10))
        assert point.msssim == pytest.approx(0.925)


def test_matched_psnr_average_rejects_items_without_common_quality() -> None:
    low = [Result("c", 0, 0.1, 20.0, 0.8), Result("c", 1, 0.2, 25.0, 0.9)]
    high = [Result("c", 0, 0.1, 30.0, 0.9), Result("c", 1, 0.2, 35.0, 0.95)]
    with pytest.raises(ValueError, match="do not overlap"):
        mean_at_matched_psnr([low, high])


def report() -> RDReport:
    far = RDCurve("far", tuple(RDPoint(p.bpp, p.psnr + 40, p.msssim) for p in curve("x").points))
    return RDReport(
        title="synthetic",
        reference="anchor",
        curves={"anchor": curve("anchor"), "test": curve("test", 0.8), "far": far},
        matched={"anchor": RDCurve("anchor", curve("anchor").points, "matched-psnr")},
        settings={"anchor": "made up"},
        environment={"python": "3"},
        pictures=("b.png", "a.png"),
    )


def test_report_json_is_strict_and_reloads_to_the_same_report(tmp_path: Path) -> None:
    path = tmp_path / "out" / "rd.json"
    save_report(report(), path)
    raw = json.loads(path.read_text(), parse_constant=lambda token: pytest.fail(f"non-JSON constant {token}"))
    assert raw["bd_rate_percent"]["test"]["psnr"] == pytest.approx(-20.0, abs=0.05)
    assert raw["bd_rate_percent"]["far"]["psnr"] is None
    assert load_report(path) == report()


def test_update_report_adds_curves_and_keeps_the_existing_ones(tmp_path: Path) -> None:
    path = tmp_path / "rd.json"
    save_report(report(), path)
    png = tmp_path / "rd.png"
    updated = update_report(path, {"tng": curve("tng", 0.5)}, {"tng": "learned"}, png)
    reloaded = load_report(path)
    assert list(reloaded.curves) == ["anchor", "test", "far", "tng"] and reloaded == updated
    assert reloaded.settings == {"anchor": "made up", "tng": "learned"}
    assert reloaded.bd()["tng"].psnr == pytest.approx(-50.0, abs=0.1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_report_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "plots" / "rd.png"
    plot_report(report(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_loading_a_report_of_unknown_format_fails(tmp_path: Path) -> None:
    path = tmp_path / "rd.json"
    path.write_text(json.dumps({"format": 99}))
    with pytest.raises(ValueError, match="format"):
        load_report(path)


def test_psnr_gap_is_measured_at_each_rate_the_anchor_reaches() -> None:
    gaps = psnr_gap(curve("test", 0.8), curve("anchor"))  # the same quality for 80% of the bits
    assert [bpp for bpp, _ in gaps] == pytest.approx([0.16, 0.32, 0.64, 1.28])  # 0.08 bpp: below the anchor
    assert [gap for _, gap in gaps] == pytest.approx([4 * math.log2(1.25)] * 4)

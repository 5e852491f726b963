"""Rate-distortion curves shared by the image bench, the video bench and tngvideo's own evaluation.

Two ways to average per-item (image or clip) results into one curve per codec:

- ``mean_per_setting``: mean bpp, PSNR and MS-SSIM over items at each codec setting (quality, QP,
  CRF). The literature's usual curve, and the one ``reference/kodak_anchors.json`` holds.
- ``mean_at_matched_psnr``: each item's own curve, log(bpp) against PSNR, is interpolated linearly
  at a common set of PSNR targets spanning the range that *every* item reaches; bpp (and MS-SSIM,
  interpolated the same way) are then averaged at each target. This compares codecs at equal
  quality per image rather than at equal knob settings, which a per-setting mean mixes up when
  a setting means different qualities on different images.

``bd_table`` gives the Bjøntegaard delta rate of every curve against a reference curve for PSNR and
for MS-SSIM in dB (-10 log10(1 - MS-SSIM)), via ``metrics.bd_rate_percent``.

An ``RDReport`` (curves + BD table + settings + machine and library versions) is saved as JSON and
drawn as a PNG; ``update_report`` adds curves to an existing report so later runs (tngvideo's own
codec) land beside the anchors.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import math
import os
import platform
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tngvideo.io.atomic import atomic_output, write_text_atomic
from tngvideo.metrics import bd_rate_percent

REPORT_FORMAT = 1
_PACKAGES = ("tngvideo", "numpy", "torch", "av", "Pillow", "pytorch-msssim", "bjontegaard", "matplotlib")


class Measurement(Protocol):
    """What an item-level result must offer: ``ImageResult`` and ``VideoResult`` both do."""

    @property
    def codec(self) -> str: ...
    @property
    def setting(self) -> float: ...
    @property
    def bpp(self) -> float: ...
    @property
    def psnr(self) -> float: ...
    @property
    def msssim(self) -> float: ...


def msssim_db(value: float) -> float:
    """MS-SSIM on the dB scale of the literature, -10 log10(1 - MS-SSIM); +inf for a perfect score."""
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)


@dataclass(frozen=True)
class RDPoint:
    """One averaged point; ``setting`` is None for matched-quality points."""

    bpp: float
    psnr: float
    msssim: float
    setting: float | None = None


@dataclass(frozen=True)
class RDCurve:
    """A codec's averaged RD curve, points in increasing rate."""

    name: str
    points: tuple[RDPoint, ...]
    averaging: str = "per-setting"

    def series(self, quantity: str) -> list[float]:
        """One quantity ("bpp", "psnr", "msssim", "msssim_db") along the curve."""
        if quantity == "msssim_db":
            return [msssim_db(point.msssim) for point in self.points]
        return [float(getattr(point, quantity)) for point in self.points]


@dataclass(frozen=True)
class BDRate:
    """BD-rate in percent against the reference (negative: fewer bits); NaN without overlap."""

    psnr: float
    msssim_db: float


def mean_per_setting(measurements: Iterable[Measurement]) -> dict[str, RDCurve]:
    """Plain means over items at each (codec, setting)."""
    groups: dict[str, dict[float, list[Measurement]]] = defaultdict(lambda: defaultdict(list))
    for item in measurements:
        groups[item.codec][item.setting].append(item)
    curves = {}
    for name, by_setting in groups.items():
        points = [
            RDPoint(
                bpp=float(np.mean([m.bpp for m in items])),
                psnr=float(np.mean([m.psnr for m in items])),
                msssim=float(np.mean([m.msssim for m in items])),
                setting=setting,
            )
            for setting, items in by_setting.items()
        ]
        curves[name] = RDCurve(name, tuple(sorted(points, key=lambda p: p.bpp)))
    return curves


def mean_at_matched_psnr(per_item: Sequence[Sequence[Measurement]], num_targets: int | None = None) -> RDCurve:
    """Average one codec's per-item curves at common PSNR targets (see module docstring).

    Args:
        per_item: for each item, that codec's results at several settings.
        num_targets: PSNR targets, evenly spaced over the range every item covers (default: as many
            as the items have settings).
    """
    names = {m.codec for item in per_item for m in item}
    if len(names) != 1:
        raise ValueError(f"expected results of one codec, got {sorted(names)}")
    curves = [_psnr_sorted(item) for item in per_item]
    if any(len(curve) < 2 for curve in curves):
        raise ValueError("every item needs at least two points with distinct PSNR")
    low = max(curve[0][0] for curve in curves)
    high = min(curve[-1][0] for curve in curves)
    if not low < high:
        raise ValueError(f"the items' PSNR ranges do not overlap ({low:.2f} dB >= {high:.2f} dB)")
    targets = np.linspace(low, high, num_targets or max(len(item) for item in per_item))
    log_bpp = np.array([np.interp(targets, curve[:, 0], np.log(curve[:, 1])) for curve in curves])
    quality = np.array([np.interp(targets, curve[:, 0], curve[:, 2]) for curve in curves])
    points = tuple(
        RDPoint(float(bpp), float(target), float(ms))
        for bpp, target, ms in zip(np.exp(log_bpp).mean(axis=0), targets, quality.mean(axis=0))
    )
    return RDCurve(names.pop(), points, "matched-psnr")


def _psnr_sorted(item: Sequence[Measurement]) -> np.ndarray:
    """Rows (psnr, bpp, msssim) sorted by PSNR, keeping only finite, strictly increasing PSNR."""
    rows = sorted((m.psnr, m.bpp, m.msssim) for m in item if math.isfinite(m.psnr) and m.bpp > 0)
    kept: list[tuple[float, float, float]] = []
    for row in rows:
        if not kept or row[0] > kept[-1][0]:
            kept.append(row)
    return np.array(kept, dtype=np.float64).reshape(-1, 3)


def bd_table(curves: Mapping[str, RDCurve], reference: str) -> dict[str, BDRate]:
    """BD-rate of every curve (the reference included, ~0) against ``curves[reference]``."""
    if reference not in curves:
        raise KeyError(f"reference curve {reference!r} not among {sorted(curves)}")
    anchor = curves[reference]

    def bd(curve: RDCurve, quantity: str) -> float:
        return bd_rate_percent(
            anchor.series("bpp"), anchor.series(quantity), curve.series("bpp"), curve.series(quantity)
        )

    return {name: BDRate(bd(curve, "psnr"), bd(curve, "msssim_db")) for name, curve in curves.items()}


def psnr_gap(curve: RDCurve, anchor: RDCurve) -> list[tuple[float, float]]:
    """(bpp, PSNR of ``curve`` minus the anchor's at that rate) at each point of ``curve`` inside the anchor's
    rate range (linear in log rate): where along the curve a BD-rate is won or lost."""
    anchor_bpps, anchor_psnrs = anchor.series("bpp"), anchor.series("psnr")
    gaps = [(point.bpp, psnr_gap_at(point.bpp, point.psnr, anchor_bpps, anchor_psnrs)) for point in curve.points]
    return [(bpp, gap) for bpp, gap in gaps if gap is not None]


def psnr_gap_at(bpp: float, psnr: float, anchor_bpps: Sequence[float], anchor_psnrs: Sequence[float]) -> float | None:
    """PSNR minus the anchor's at the same rate (linear in log rate); None outside the anchor's rate range."""
    log_rates = np.log(anchor_bpps)
    if not log_rates[0] <= np.log(bpp) <= log_rates[-1]:
        return None
    return psnr - float(np.interp(np.log(bpp), log_rates, anchor_psnrs))


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Machine and library versions, so numbers can be traced to what produced them."""
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": str(os.cpu_count()),
    }
    for package in _PACKAGES:
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            info[package] = "not installed"
    info.update(extra or {})
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@dataclass(frozen=True)
class RDReport:
    """Everything a bench reports: curves per codec, how they were made, and where."""

    title: str
    reference: str
    curves: Mapping[str, RDCurve]
    matched: Mapping[str, RDCurve] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    # File names of the pictures measured (empty: not recorded): BD-rates only compare equal sets.
    pictures: tuple[str, ...] = ()
    # sha256 of a clip's measured frames (evaluation.baselines.source_digest; empty: not recorded), so a later
    # evaluation of the same frames can reuse curves that do not depend on what it measures.
    source_digest: str = ""

    def bd(self) -> dict[str, BDRate]:
        """BD table of the per-setting curves against the reference."""
        return bd_table(self.curves, self.reference)

    def bd_matched(self) -> dict[str, BDRate]:
        """BD table of the matched-PSNR curves, when the reference has one."""
        return bd_table(self.matched, self.reference) if self.reference in self.matched else {}

    def with_curves(
        self,
        curves: Mapping[str, RDCurve],
        settings: Mapping[str, str] | None = None,
        matched: Mapping[str, RDCurve] | None = None,
    ) -> RDReport:
        """A copy with curves added (same names replaced); the reference and environment are kept."""
        return dataclasses.replace(
            self,
            curves={**self.curves, **curves},
            matched={**self.matched, **(matched or {})},
            settings={**self.settings, **(settings or {})},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "title": self.title,
            "reference": self.reference,
            "settings": dict(self.settings),
            "environment": dict(self.environment),
            "pictures": list(self.pictures),
            "source_digest": self.source_digest,
            "curves": {name: _curve_json(curve) for name, curve in self.curves.items()},
            "matched_psnr_curves": {name: _curve_json(curve) for name, curve in self.matched.items()},
            "bd_rate_percent": {name: dataclasses.asdict(row) for name, row in self.bd().items()},
            "bd_rate_matched_psnr_percent": {name: dataclasses.asdict(row) for name, row in self.bd_matched().items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RDReport:
        """Inverse of ``to_json``; BD tables are recomputed, not read."""
        if data.get("format") != REPORT_FORMAT:
            raise ValueError(f"unknown RD report format {data.get('format')!r}")
        return cls(
            title=data["title"],
            reference=data["reference"],
            curves={name: _curve_from_json(name, raw) for name, raw in data["curves"].items()},
            matched={name: _curve_from_json(name, raw) for name, raw in data["matched_psnr_curves"].items()},
            settings=data["settings"],
            environment=data["environment"],
            pictures=tuple(data.get("pictures", ())),
            source_digest=data.get("source_digest", ""),
        )


def _curve_json(curve: RDCurve) -> dict[str, Any]:
    return {"averaging": curve.averaging, "points": [dataclasses.asdict(point) for point in curve.points]}


def _curve_from_json(name: str, raw: Mapping[str, Any]) -> RDCurve:
    return RDCurve(name, tuple(RDPoint(**point) for point in raw["points"]), raw["averaging"])


def save_report(report: RDReport, path: Path) -> None:
    """Write the report as indented JSON (NaN BD-rates become null), atomically (replacing an older one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(_nan_to_none(report.to_json()), indent=1) + "\n")


def load_report(path: Path) -> RDReport:
    """Read a report written by ``save_report``."""
    return RDReport.from_json(json.loads(path.read_text()))


def rounded_or_none(value: float, digits: int = 2) -> float | None:
    """A measured number as a manifest records it: rounded, or None where it is not finite (a BD-rate of curves
    that do not overlap; NaN is not JSON)."""
    return round(value, digits) if math.isfinite(value) else None


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(item) for item in value]
    return value


def plot_report(report: RDReport, path: Path) -> None:
    """PSNR vs bpp and MS-SSIM (dB) vs bpp, one line per curve, the reference dashed black."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13, 5.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2)
    others = [name for name in report.curves if name != report.reference]
    palette = colormaps["tab10" if len(others) <= 10 else "tab20"]  # no colour repeats up to 20 curves
    styles: dict[str, dict[str, Any]] = {name: {"color": palette(i % palette.N)} for i, name in enumerate(others)}
    styles[report.reference] = {"color": "black", "linestyle": "--"}
    for ax, quantity, label in ((axes[0], "psnr", "PSNR (dB, RGB)"), (axes[1], "msssim_db", "MS-SSIM (dB)")):
        for name, curve in report.curves.items():
            ax.plot(curve.series("bpp"), curve.series(quantity), marker=".", label=name, **styles[name])
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize="small")
    figure.suptitle(report.title)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, overwrite=True) as partial:
        figure.savefig(partial, dpi=110, format=path.suffix.lstrip(".") or "png")


def update_report(
    json_path: Path, curves: Mapping[str, RDCurve], settings: Mapping[str, str], png_path: Path | None = None
) -> RDReport:
    """Add curves to the report at ``json_path``, rewrite it and (optionally) redraw its plot."""
    report = load_report(json_path).with_curves(curves, settings)
    save_report(report, json_path)
    if png_path is not None:
        plot_report(report, png_path)
    return report


def format_points_table(curves: Mapping[str, RDCurve]) -> str:
    """A text table: codec, setting, bpp, PSNR, MS-SSIM for every point."""
    lines = [f"{'codec':<34} {'setting':>8} {'bpp':>8} {'PSNR':>7} {'MS-SSIM':>8}"]
    for name, curve in curves.items():
        for point in curve.points:
            setting = "-" if point.setting is None else f"{point.setting:g}"
            lines.append(f"{name:<34} {setting:>8} {point.bpp:8.4f} {point.psnr:7.3f} {point.msssim:8.5f}")
    return "\n".join(lines)


def format_bd_table(table: Mapping[str, BDRate], reference: str) -> str:
    """A text table of BD-rates against ``reference``."""
    lines = [f"BD-rate vs {reference} (%; negative = fewer bits)", f"{'codec':<34} {'PSNR':>8} {'MS-SSIM':>8}"]
    lines += [f"{name:<34} {row.psnr:8.2f} {row.msssim_db:8.2f}" for name, row in table.items()]
    return "\n".join(lines)

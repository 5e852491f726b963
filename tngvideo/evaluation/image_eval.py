"""RD evaluation of image coders over a folder: the classical anchors and the TNG image codec alike.

The TNG codec is wrapped as one more :class:`ImageAnchor`, so every coder goes through the same
loop, the same averaging and the same report. Each TNG round trip also checks that the decoder
reproduces the encoder's reconstruction bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tngvideo.anchors.image import ImageAnchor, ImageResult
from tngvideo.errors import InputError, OutputError
from tngvideo.evaluation.rd import (
    BDRate,
    RDCurve,
    RDPoint,
    RDReport,
    bd_table,
    environment,
    format_points_table,
    mean_at_matched_psnr,
    mean_per_setting,
    plot_report,
    save_report,
)
from tngvideo.io.atomic import write_text_atomic
from tngvideo.io.pictures import PICTURE_SUFFIXES, picture_paths, read_picture
from tngvideo.paths import data_root
from tngvideo.tng_image import LoadedImageCodec, decode_image, encode_image, load_image_codec

TNG_CURVE = "tngvideo"
REPORT_FILES = ("rd.json", "rd.png", "per_image.json", "per_image.csv")  # what run_image_eval writes in its folder

PerImage = dict[str, dict[str, list[ImageResult]]]  # coder -> image name -> results over its sweep


class TngImageAnchor(ImageAnchor):
    """The learned codec behind the anchor interface; records coding times for the speed report."""

    def __init__(self, loaded: LoadedImageCodec, qualities: Sequence[float] | None = None, refine_steps: int = 0):
        self.loaded = loaded
        self.refine_steps = refine_steps
        self.settings = tuple(qualities or range(1, loaded.codec.num_levels + 1))
        self.encode_seconds: list[float] = []
        self.decode_seconds: list[float] = []

    @property
    def name(self) -> str:
        return TNG_CURVE

    def describe(self) -> str:
        refinement = f", latent refinement {self.refine_steps} steps" if self.refine_steps else ""
        return (
            f"TNG image codec, model {self.loaded.name!r} (id {self.loaded.identity.model_id}), "
            f"qualities {self.settings}{refinement}"
        )

    def round_trip(self, rgb: np.ndarray, setting: float) -> tuple[int, np.ndarray]:
        start = time.perf_counter()
        encoded = encode_image(rgb, setting, self.loaded, self.refine_steps)
        middle = time.perf_counter()
        decoded = decode_image(encoded.data, self.loaded)
        self.encode_seconds.append(middle - start)
        self.decode_seconds.append(time.perf_counter() - middle)
        if not np.array_equal(decoded, encoded.reconstruction):
            raise RuntimeError("decoder output differs from the encoder's reconstruction")
        return len(encoded.data), decoded


def sweep_images(paths: Sequence[Path], coders: Sequence[ImageAnchor]) -> PerImage:
    """Every coder over its whole sweep on every picture."""
    per_image: PerImage = defaultdict(dict)
    with tqdm(total=len(paths) * len(coders), unit="sweep", file=sys.stderr) as progress:
        for path in paths:
            rgb = read_picture(path)
            for coder in coders:
                progress.set_postfix_str(f"{path.name} {coder.name}")
                per_image[coder.name][path.name] = coder.sweep(rgb)
                progress.update()
    return per_image


def curves_of(per_image: PerImage) -> tuple[dict[str, RDCurve], dict[str, RDCurve]]:
    """Per-setting mean curves and matched-PSNR curves (see ``evaluation.rd``) of every coder."""
    curves = mean_per_setting(r for by_image in per_image.values() for results in by_image.values() for r in results)
    matched: dict[str, RDCurve] = {}
    for name, by_image in per_image.items():
        try:
            matched[name] = mean_at_matched_psnr(list(by_image.values()))
        except ValueError as exc:
            print(f"no matched-PSNR curve for {name}: {exc}", file=sys.stderr)
    return curves, matched


def save_per_image(per_image: PerImage, path: Path) -> None:
    """Every picture at every setting, as JSON and as CSV beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = {
        name: {image: [dataclasses.asdict(r) for r in results] for image, results in by_image.items()}
        for name, by_image in per_image.items()
    }
    write_text_atomic(path, json.dumps(raw, indent=1) + "\n")
    rows = ["image,codec,setting,bytes,bpp,psnr,msssim"]
    for by_image in per_image.values():
        for image, results in by_image.items():
            rows += [
                f"{image},{r.codec},{r.setting:g},{r.bytes},{r.bpp:.6f},{r.psnr:.4f},{r.msssim:.6f}" for r in results
            ]
    write_text_atomic(path.with_suffix(".csv"), "\n".join(rows) + "\n")


def reference_anchor_report(json_path: Path) -> RDReport:
    """The shared ``reference/kodak_anchors.json`` (a cross-check, not our own measurement) as a report."""
    raw = json.loads(json_path.read_text())
    curves = {
        name: RDCurve(
            name, tuple(sorted((RDPoint(p["bpp"], p["psnr"], p["msssim"]) for p in points), key=lambda p: p.bpp))
        )
        for name, points in raw["curves"].items()
    }
    settings = {name: f"from {json_path.name}: {text}" for name, text in raw.get("settings", {}).items()}
    return RDReport(title=f"Anchors from {json_path.name}", reference="jpeg", curves=curves, settings=settings)


def bd_of_test_against_each(curves: dict[str, RDCurve], test: str) -> dict[str, BDRate]:
    """BD-rate of one curve against every other curve taken as reference ("tngvideo vs webp", ...)."""
    return {
        name: bd_table({name: curve, test: curves[test]}, name)[test] for name, curve in curves.items() if name != test
    }


def _anchor_report(anchors_json: Path | None, pictures: tuple[str, ...], all_of_kodak: bool) -> RDReport | None:
    """The anchors to compare with: the given report (unless it lists other pictures than ``pictures``),
    else the shared Kodak anchors, but only when all of Kodak is evaluated (BD-rates against anchors
    measured on other pictures mean nothing)."""
    if anchors_json is not None:
        if not anchors_json.exists():
            raise InputError(f"{anchors_json}: no such anchor report")
        raw = json.loads(anchors_json.read_text())
        report = RDReport.from_json(raw) if "format" in raw else reference_anchor_report(anchors_json)
        if report.pictures and sorted(report.pictures) != sorted(pictures):
            raise InputError(
                f"{anchors_json}: its anchors were measured on other pictures ({len(report.pictures)}, not these "
                f"{len(pictures)}); BD-rates compare the same pictures only"
            )
        return report
    shared = data_root() / "reference" / "kodak_anchors.json"
    return reference_anchor_report(shared) if all_of_kodak and shared.exists() else None


@dataclass(frozen=True)
class ImageEvalResult:
    """What ``run_image_eval`` measured: the report (with anchors) and the TNG curve's BD-rates."""

    report: RDReport
    bd_vs_anchors: dict[str, BDRate]
    median_encode_seconds: float
    median_decode_seconds: float
    images: int


def run_image_eval(
    directory: Path,
    out: Path,
    qualities: Sequence[float] | None = None,
    model: str | None = None,
    anchors_json: Path | None = None,
    limit: int | None = None,
    refine_steps: int = 0,
    overwrite: bool = True,
) -> ImageEvalResult:
    """Code every picture at every quality, save per-image CSV/JSON, RD JSON + plot; print the tables.

    Anchors come from ``anchors_json`` (a report of ``scripts/bench_image.py``, refused when it lists
    other pictures) or, when ``directory`` is the shared ``kodak/`` and every picture is coded, from the
    shared ``reference/kodak_anchors.json`` (which lists none); otherwise there are none (their BD-rates
    would compare different pictures). Without ``overwrite`` an earlier run's reports in ``out`` are
    refused before any work; each file is written atomically.
    """
    check_reports(out, REPORT_FILES, overwrite)
    every_path = picture_paths(directory)
    paths = every_path[:limit]
    if not paths:
        raise InputError(f"{directory}: no pictures ({', '.join(PICTURE_SUFFIXES)})")
    coder = TngImageAnchor(load_image_codec(model), qualities, refine_steps)
    per_image = sweep_images(paths, [coder])
    curves, matched = curves_of(per_image)
    all_of_kodak = directory.resolve() == (data_root() / "kodak").resolve() and len(paths) == len(every_path)
    pictures = tuple(path.name for path in paths)
    anchors = _anchor_report(anchors_json, pictures, all_of_kodak)
    settings = {TNG_CURVE: coder.describe()}
    if anchors is None:
        report = RDReport(f"tngvideo on {directory.name}", TNG_CURVE, curves, matched, settings, environment(), pictures)
    else:
        report = dataclasses.replace(
            anchors.with_curves(curves, settings, matched), title=f"tngvideo vs anchors on {directory.name}",
            pictures=pictures,
        )
    save_report(report, out / "rd.json")
    plot_report(report, out / "rd.png")
    save_per_image(per_image, out / "per_image.json")
    bd = bd_of_test_against_each(dict(report.curves), TNG_CURVE)
    result = ImageEvalResult(
        report, bd, float(np.median(coder.encode_seconds)), float(np.median(coder.decode_seconds)), len(paths)
    )
    print(format_points_table({TNG_CURVE: curves[TNG_CURVE]}))
    if bd:
        print()
        print(format_bd_against(bd, TNG_CURVE))
    print(
        f"\n{len(paths)} pictures; median encode {result.median_encode_seconds:.2f} s, "
        f"decode {result.median_decode_seconds:.2f} s; wrote {out}/rd.json, rd.png, per_image.json/.csv"
    )
    return result


def check_reports(out: Path, names: Sequence[str], overwrite: bool) -> None:
    """OutputError, before any work, when ``out`` holds one of the report files ``names`` (without
    ``overwrite``) or is not a folder."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    existing = [name for name in names if (out / name).exists()]
    if existing and not overwrite:
        raise OutputError(f"{out}: holds the reports of an earlier run ({', '.join(existing)}); "
                          "use --overwrite to replace them")


def format_bd_against(table: dict[str, BDRate], test: str) -> str:
    """A text table: BD-rate of ``test`` against each reference."""
    lines = [
        f"BD-rate of {test} against each anchor (%; negative = {test} needs fewer bits)",
        f"{'anchor':<34} {'PSNR':>8} {'MS-SSIM':>8}",
    ]
    lines += [f"{name:<34} {row.psnr:8.2f} {row.msssim_db:8.2f}" for name, row in table.items()]
    return "\n".join(lines)

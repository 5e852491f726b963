"""Compare two shipped image models on the Kodak points their manifest entries measured: BD-rate of the new one
against the old one, and each model's PSNR gap to an anchor at its own rates (what a new export is judged by).

    python scripts/compare_image_models.py tng-image-v7 tng-image-v6 [--anchor webp] [--models DIR] [--out F.json]

Anchors: the shared reference/kodak_anchors.json (the same curves the manifest's BD-rates were measured against).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tngvideo.evaluation.image_eval import reference_anchor_report
from tngvideo.evaluation.rd import RDCurve, RDPoint, bd_table, psnr_gap
from tngvideo.paths import data_root
from tngvideo.zoo import find_entry


def kodak_curve(name: str, models_dir: Path | None) -> RDCurve:
    """The Kodak points of a shipped model's manifest entry, as an RD curve."""
    points = find_entry(name=name, models_dir=models_dir).details["kodak"]["points"]
    return RDCurve(name, tuple(RDPoint(p["bpp"], p["psnr"], p["msssim"], p["quality"]) for p in points))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("new")
    parser.add_argument("old")
    parser.add_argument("--anchor", default="webp", help="anchor curve for the per-rate PSNR gap (default webp)")
    parser.add_argument("--models", type=Path, default=None, help="models folder (default: the shipped one)")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args(argv)

    new, old = kodak_curve(args.new, args.models), kodak_curve(args.old, args.models)
    anchor = reference_anchor_report(data_root() / "reference" / "kodak_anchors.json").curves[args.anchor]
    bd = bd_table({old.name: old, new.name: new}, old.name)[new.name]
    gaps = {curve.name: psnr_gap(curve, anchor) for curve in (old, new)}
    print(f"BD-rate of {new.name} against {old.name}: {bd.psnr:+.2f}% (PSNR), {bd.msssim_db:+.2f}% (MS-SSIM dB)")
    for name, rows in gaps.items():
        print(f"PSNR gap of {name} to {args.anchor}: " + ", ".join(f"{gap:+.2f} dB at {bpp:.3f} bpp" for bpp, gap in rows))
    if args.out:
        figures = {
            "bd_rate_percent": {"psnr": bd.psnr, "msssim_db": bd.msssim_db},
            "anchor": args.anchor,
            "psnr_gap": {name: [{"bpp": bpp, "gap_db": round(gap, 3)} for bpp, gap in rows] for name, rows in gaps.items()},
        }
        args.out.write_text(json.dumps({"new": new.name, "old": old.name, **figures}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

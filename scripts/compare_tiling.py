"""Tiled against whole-picture coding with the shipped image model: RD points, BD-rate and the largest
PSNR change per rule, as JSON (issue 18's quality check).

    python scripts/compare_tiling.py ../shared/data/kodak --out results/tiling_kodak.json

Every coding runs the analysis and the synthesis under its rule (``tngvideo.codecs.tiling``): tiles in
float32 (format version 3) and in bfloat16 (version 4), each against the whole picture at once (versions
1-2). Rates are the coded sections' bytes (the container is the same for all).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from tngvideo.anchors.image import ImageResult
from tngvideo.codecs.tiling import TILES, TILES_BF16, WHOLE_PICTURE
from tngvideo.evaluation.rd import bd_table, environment, mean_per_setting
from tngvideo.io.pictures import picture_paths, read_picture
from tngvideo.metrics import msssim, psnr
from tngvideo.tng_image import load_image_codec

REFERENCE = "whole picture"
RULES = {REFERENCE: WHOLE_PICTURE, "tiles": TILES, "tiles bfloat16": TILES_BF16}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", type=Path)
    parser.add_argument("--qualities", type=float, nargs="+", default=[2.0, 4.0, 6.0, 8.0, 10.0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=Path("results/tiling.json"))
    args = parser.parse_args()
    loaded = load_image_codec(args.model)
    codec = loaded.codec
    results: list[ImageResult] = []
    rows: list[dict[str, object]] = []
    changes: dict[str, list[float]] = {name: [] for name in RULES if name != REFERENCE}  # PSNR minus the reference's
    for path in picture_paths(args.images):
        rgb = read_picture(path)
        pixels = rgb.shape[0] * rgb.shape[1]
        by_rule: dict[str, list[ImageResult]] = {}
        for name, rule in RULES.items():
            analysed = codec.analyse(rgb, rule)
            by_rule[name] = []
            for quality in args.qualities:
                encoded = codec.encode_analysed(analysed, quality, rule)
                picture = encoded.reconstruction
                size = encoded.payload.num_bytes
                by_rule[name].append(ImageResult(name, quality, size, 8 * size / pixels, psnr(rgb, picture),
                                                 msssim(rgb, picture)))
            results += by_rule[name]
            rows += [{"picture": path.name, **dataclasses.asdict(r)} for r in by_rule[name]]
        for name, rule_changes in changes.items():
            picture_changes = [t.psnr - w.psnr for t, w in zip(by_rule[name], by_rule[REFERENCE], strict=True)]
            rule_changes += picture_changes
            print(f"{path.name}: PSNR {name} - whole " + " ".join(f"{c:+.4f}" for c in picture_changes), flush=True)
    curves = mean_per_setting(results)
    table = bd_table(curves, REFERENCE)
    summary = {
        "model": loaded.name,
        "rules": {name: rule.name for name, rule in RULES.items()},
        "bd_rate_vs_whole_percent": {name: {"psnr": round(table[name].psnr, 3), "msssim_db": round(table[name].msssim_db, 3)}
                                     for name in changes},
        "psnr_change_db": {name: {"mean": round(sum(c) / len(c), 4), "min": round(min(c), 4), "max": round(max(c), 4)}
                           for name, c in changes.items()},
        "curves": {name: [dataclasses.asdict(p) for p in curve.points] for name, curve in curves.items()},
        "results": rows,
        "environment": environment(),
    }
    print(json.dumps({k: summary[k] for k in ("bd_rate_vs_whole_percent", "psnr_change_db")}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

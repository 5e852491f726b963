"""Classical image anchors on a folder of images: RD table, BD-rate table, JSON and plot.

    python scripts/bench_image.py ../shared/data/kodak --out results/image_anchors
    python scripts/bench_image.py DIR --codecs jpeg x265-intra-yuv444p-psnr --limit 4

Writes OUT/rd.json (per-setting and matched-PSNR curves, BD tables, settings, versions), OUT/rd.png
and OUT/per_image.json (every image at every setting).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from tngvideo.anchors.image import default_image_anchors, pillow_codec_versions
from tngvideo.anchors.libav import libav_versions
from tngvideo.evaluation.image_eval import curves_of, save_per_image, sweep_images
from tngvideo.evaluation.rd import RDReport, environment, format_bd_table, format_points_table, plot_report, save_report
from tngvideo.io.pictures import picture_paths


def main(argv: list[str] | None = None) -> int:
    anchors = {anchor.name: anchor for anchor in default_image_anchors()}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", type=Path, help="folder of images")
    parser.add_argument("--out", type=Path, default=Path("results/image_anchors"))
    parser.add_argument("--codecs", nargs="+", choices=sorted(anchors), default=list(anchors))
    parser.add_argument("--reference", default="jpeg", help="BD-rate reference curve")
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for MS-SSIM (1 is fastest on a busy CPU)")
    args = parser.parse_args(argv)
    if args.reference not in args.codecs:
        parser.error(f"--reference {args.reference} is not among --codecs")
    paths = picture_paths(args.images)[: args.limit]
    if not paths:
        parser.error(f"{args.images}: no images")
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    chosen = [anchors[name] for name in args.codecs]
    per_image = sweep_images(paths, chosen)
    elapsed = time.perf_counter() - start
    curves, matched = curves_of(per_image)
    report = RDReport(
        title=f"Classical anchors on {args.images.name} ({len(paths)} images)",
        reference=args.reference,
        curves=curves,
        matched=matched,
        settings={anchor.name: anchor.describe() for anchor in chosen},
        environment=environment({**pillow_codec_versions(), **libav_versions(), "runtime_s": f"{elapsed:.0f}"}),
        pictures=tuple(path.name for path in paths),
    )
    save_report(report, args.out / "rd.json")
    plot_report(report, args.out / "rd.png")
    save_per_image(per_image, args.out / "per_image.json")

    print(format_points_table(curves))
    print()
    print(format_bd_table(report.bd(), args.reference))
    print(f"\n{len(paths)} images in {elapsed:.0f} s; wrote {args.out}/rd.json, rd.png, per_image.json/.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())

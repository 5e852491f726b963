"""Classical video anchors (x264, x265, optionally SVT-AV1) on one clip: RD and BD-rate tables, JSON, plot.

    python scripts/bench_video.py ../shared/data/video/eval/foreman_cif --frames 64
    python scripts/bench_video.py CLIP --presets medium --crfs 22 27 32 37 --svtav1

Every anchor runs at every CRF with a fixed closed GOP (--gop). Writes OUT/rd.json, OUT/rd.png and
OUT/frames.json (per-frame bits and quality of every run).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from tngvideo.anchors.libav import libav_versions
from tngvideo.anchors.video import DEFAULT_GOP, VideoResult, default_video_anchors, encode_clip
from tngvideo.evaluation.rd import (
    RDReport,
    environment,
    format_bd_table,
    format_points_table,
    mean_per_setting,
    plot_report,
    save_report,
)
from tngvideo.io.frames import open_video


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", type=Path, help="video file or clip folder")
    parser.add_argument("--out", type=Path, default=Path("results/video_anchors"))
    parser.add_argument("--gop", type=int, default=DEFAULT_GOP, help="intra period (closed GOP)")
    parser.add_argument(
        "--crfs",
        type=float,
        nargs="+",
        default=None,
        help="CRF sweep of x264/x265 (default per encoder; SVT-AV1 keeps its own 0..63 sweep)",
    )
    parser.add_argument("--presets", nargs="+", default=["medium", "veryslow"], help="x264/x265 presets")
    parser.add_argument("--frames", type=int, default=None, help="first N frames only")
    parser.add_argument("--svtav1", action="store_true", help="add libsvtav1 (4:2:0, default tune)")
    parser.add_argument("--svtav1-preset", default="8")
    parser.add_argument("--reference", default="x264-medium-yuv420p", help="BD-rate reference curve")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for MS-SSIM (1 is fastest on a busy CPU)")
    args = parser.parse_args(argv)
    anchors = default_video_anchors(tuple(args.presets), args.gop, args.svtav1_preset if args.svtav1 else None)
    if args.reference not in {anchor.name for anchor in anchors}:
        parser.error(f"--reference {args.reference} is not among {[anchor.name for anchor in anchors]}")
    torch.set_num_threads(args.threads)

    source = open_video(args.clip)
    runs = [
        (anchor, crf)
        for anchor in anchors
        for crf in (anchor.crfs if args.crfs is None or anchor.encoder == "libsvtav1" else args.crfs)
    ]
    start = time.perf_counter()
    results: list[VideoResult] = []
    for anchor, crf in (progress := tqdm(runs, unit="run")):
        progress.set_postfix_str(f"{anchor.name} crf {crf:g}")
        results.append(encode_clip(source, anchor, crf, args.frames))
    elapsed = time.perf_counter() - start

    frames, info = results[0].frames, source.info
    curves = mean_per_setting(results)
    report = RDReport(
        title=f"Classical anchors on {args.clip.name} ({frames} frames, GOP {args.gop})",
        reference=args.reference,
        curves=curves,
        settings={
            "source": f"{args.clip.name}: {info.width}x{info.height} @ {float(info.fps):g} fps, {info.colorspace} "
            f"{info.color_range} ({info.source_format}); first {frames} frames",
            **{anchor.name: anchor.describe() for anchor in anchors},
        },
        environment=environment({**libav_versions(), "runtime_s": f"{elapsed:.0f}"}),
    )
    save_report(report, args.out / "rd.json")
    plot_report(report, args.out / "rd.png")
    (args.out / "frames.json").write_text(json.dumps([dataclasses.asdict(r) for r in results], indent=1) + "\n")

    print(format_points_table(curves))
    print()
    print(format_bd_table(report.bd(), args.reference))
    print(f"\n{len(runs)} runs of {frames} frames in {elapsed:.0f} s; wrote {args.out}/rd.json, rd.png, frames.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""P-frame quality offsets against none, on held-out training clips: BD-rate per clip and mean, as JSON.

    python scripts/compare_gop_qualities.py --offsets 0 0.5 1 1.5 --frames 32 --out results/gop_qualities.json

The clips are the P-frame training's validation clips (``training.video_data.VALIDATION_CLIPS``), never
``video/eval``, so the default offset chosen from this stays clean of the evaluation set. Each coding
runs the real encoder and decoder (``evaluation.video_eval.code_clip``) at GOP 32.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tngvideo.evaluation.rd import bd_table, environment, mean_per_setting
from tngvideo.evaluation.video_eval import code_clip
from tngvideo.io.frames import open_video
from tngvideo.paths import data_root
from tngvideo.tng_inter import choose_video_models
from tngvideo.video_coder import DEFAULT_GOP, GopPolicy

CLIPS = ("cotracker_cat", "davis_paragliding")  # validation clips with enough frames for a GOP (video_data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offsets", type=float, nargs="+", default=[0.0, 0.5, 1.0, 1.5])
    parser.add_argument("--qualities", type=float, nargs="+", default=[2.0, 4.0, 6.0, 8.0])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--clips", nargs="+", default=list(CLIPS))
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=Path("results/gop_qualities.json"))
    args = parser.parse_args()
    choice = choose_video_models(args.model, DEFAULT_GOP)
    report: dict[str, object] = {"model": args.model, "frames": args.frames, "qualities": args.qualities, "clips": {}}
    mean = {offset: 0.0 for offset in args.offsets}
    for clip in args.clips:
        results = []
        for offset in args.offsets:
            name = f"offset {offset:g}"
            coded = code_clip(open_video(data_root() / "video/train" / clip), choice.models,
                              GopPolicy(DEFAULT_GOP, offset), args.qualities, name, args.frames)
            results += coded
        curves = mean_per_setting(results)
        table = bd_table(curves, f"offset {args.offsets[0]:g}")
        report["clips"][clip] = {  # type: ignore[index]
            "bd_rate_psnr_percent": {name: round(bd.psnr, 2) for name, bd in table.items()},
            "curves": {name: [vars(p) for p in curve.points] for name, curve in curves.items()},
        }
        for offset in args.offsets:
            mean[offset] += table[f"offset {offset:g}"].psnr / len(args.clips)
        print(clip, json.dumps(report["clips"][clip]["bd_rate_psnr_percent"]), flush=True)  # type: ignore[index]
    report["mean_bd_rate_psnr_percent"] = {f"offset {o:g}": round(v, 2) for o, v in mean.items()}
    report["environment"] = environment()
    print(json.dumps(report["mean_bd_rate_psnr_percent"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""The validation learning curve of a P-frame model: every stage's validation records against cumulative
CPU-hours (process CPU time of the training steps, both cores counted), as JSON and a plot.

    python scripts/video_learning_curve.py --stage flow runs/flow-b/log.jsonl \\
        --stage motion runs/motion-a/log.jsonl --stage frame runs/frame-a/log.jsonl \\
        --out docs/learning_curves/tng-inter-v1
    python scripts/video_learning_curve.py --after docs/learning_curves/tng-inter-v4.json \\
        --stage vs-0 runs/vs-0/log.jsonl --out docs/learning_curves/tng-inter-v5
    python scripts/video_learning_curve.py --after docs/learning_curves/tng-inter-v5.json \\
        --stage v5-val runs/v5-val/log.jsonl --stage mg-a runs/mg-a/log.jsonl 500 \\
        --out docs/learning_curves/tng-inter-v6

``--after`` continues the curve of an earlier model of the lineage (written by this script), whose run logs are
gone with the machine they were written on. A stage's optional LAST_STEP ends it at the checkpoint the lineage
took (a run that went on past its best). Stage ``flow`` plots the warping PSNR of the flow network; the others
the BD-rate of I+P coding against all-intra coding (estimated rates) on the held-out validation clips.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tngvideo.training.learning_curve import cpu_hours_curve, split_segment_words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", nargs="+", action="append", required=True, metavar="NAME LOG [LAST_STEP]")
    parser.add_argument("--after", type=Path, default=None, help="curve JSON of the lineage before the first stage")
    parser.add_argument("--out", type=Path, required=True, help="path without suffix: writes .json and .png")
    args = parser.parse_args()
    try:
        segments = [split_segment_words(stage, names=2, steps=range(2)) for stage in args.stage]
    except ValueError:
        parser.error("--stage takes NAME LOG [LAST_STEP]")
    earlier = json.loads(args.after.read_text()) if args.after else {"stages": [], "curve": []}
    curve: list[dict[str, Any]] = earlier["curve"]
    hours = float(curve[-1]["cpu_hours"]) if curve else 0.0
    stages = earlier["stages"]
    for (name, log), ending in segments:
        last_step = ending[0] if ending else None
        records, hours = cpu_hours_curve(name, Path(log), hours, last_step)
        curve += records
        stages.append({"stage": name, "log": log, **({"last_step": last_step} if ending else {})})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"stages": stages, "curve": curve}, indent=1) + "\n")
    figure, (flow_axis, codec_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for name in dict.fromkeys(stage["stage"] for stage in stages):
        points = [r for r in curve if r["stage"] == name]
        if name == "flow":
            flow_axis.plot([p["cpu_hours"] for p in points], [p["warp_psnr"] for p in points], "o-", label=name)
        else:
            codec_axis.plot([p["cpu_hours"] for p in points], [p["bd_rate_vs_all_intra_percent"] for p in points],
                            "o-", label=name)
    flow_axis.set(xlabel="CPU-hours", ylabel="warping PSNR (dB), validation", title="flow pre-training")
    codec_axis.set(xlabel="CPU-hours (cumulative)", ylabel="BD-rate vs all-intra (%), validation",
                   title="P-frame stages")
    for axis in (flow_axis, codec_axis):
        axis.grid(True, alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(args.out.with_suffix(".png"), dpi=100)
    print(f"wrote {args.out.with_suffix('.json')} and .png ({len(curve)} points, {hours:.2f} CPU-hours)")


if __name__ == "__main__":
    main()

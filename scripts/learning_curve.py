"""Learning curve of a model's training lineage: probe BD-rate vs JPEG against training hours.

The probe ran on Kodak up to tng-image-v11; runs since probe the validation set held out of training.

    python scripts/learning_curve.py --run runs/image-a/log.jsonl 0 9500 \\
        --run runs/image-c/log.jsonl 9500 1000 --run runs/image-d/log.jsonl 10500 --out docs/learning_curves/tng-image-v2

Each ``--run LOG FIRST_STEP [LAST_STEP]`` is one run of the lineage: the steps its starting weights had
seen, and its own last step that the next run (or the shipped weights) used. ``--after CURVE.json`` continues
the curve of an earlier model of the lineage (written by this script) whose run logs are gone:

    python scripts/learning_curve.py --after docs/learning_curves/tng-image-v3.json \\
        --run runs/image-g/log.jsonl 32000 --out docs/learning_curves/tng-image-v4

Writes OUT.json and OUT.png. The JSON names each run's log by its path relative to the current folder.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tngvideo.training.learning_curve import RunSegment, lineage_curve, split_segment_words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", nargs="+", action="append", required=True, metavar="LOG FIRST_STEP [LAST_STEP]")
    parser.add_argument("--after", type=Path, default=None, help="curve JSON of the lineage before the first run")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    segments = []
    for run in args.run:
        try:
            (log,), (first_step, *last_step) = split_segment_words(run, names=1, steps=range(1, 3))
        except ValueError:
            parser.error("--run takes LOG FIRST_STEP [LAST_STEP]")
        segments.append(RunSegment(Path(log), first_step, last_step[0] if last_step else None))
    earlier = json.loads(args.after.read_text()) if args.after else {"runs": [], "curve": []}
    curve = lineage_curve(segments, earlier["curve"])
    runs = earlier["runs"] + [os.path.relpath(s.log) for s in segments]  # no machine's absolute paths in docs/
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"runs": runs, "curve": curve}, indent=1) + "\n")
    points = [(p["step"], cast(float, p["hours"]), cast(float, p["bd_rate_vs_jpeg_percent"]))
              for p in curve if isinstance(p.get("bd_rate_vs_jpeg_percent"), float)]
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot([hours for _, hours, _ in points], [bd_rate for _, _, bd_rate in points], "o-")
    for step, hours, bd_rate in points:
        axis.annotate(f"{step}", (hours, bd_rate), fontsize=7)
    axis.axhline(0, color="gray", linewidth=0.8)
    axis.set_xlabel("training hours (2 CPU cores)")
    axis.set_ylabel("probe BD-rate vs JPEG (%, PSNR; Kodak to v11, then validation)")
    axis.set_title(f"Learning curve: {args.out.name} (labels: steps)")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(args.out.with_suffix(".png"), dpi=120)
    for p in curve:
        print(f"step {p['step']:6d}  {p['hours']:6.2f} h  BD vs JPEG {p.get('bd_rate_vs_jpeg_percent')}")


if __name__ == "__main__":
    main()

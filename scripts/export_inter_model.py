"""Ship a trained P-frame network: bake its coding tables, write models/NAME.safetensors and record it
in models/manifest.json (kind "inter", naming the intra model it was trained with).

    python scripts/export_inter_model.py runs/frame-a/best.safetensors --name tng-inter-v1 --model-id 12 \\
        --intra-model tng-image-v11 \\
        --stage flow-b 250 "python scripts/train_flow.py --run-dir runs/flow-b ..." \\
        --stage motion-a 1500 "python scripts/train_video.py --run-dir runs/motion-a --stage motion ..." \\
        --learning-curve docs/learning_curves/tng-inter-v1.json --measured results/eval_sample/rd.json

The entry holds the file's sha256, the config, the training stages (run, steps used, command), CPU-hours
(from the learning curve), the data and its terms, the validation learning curve's path and the
measured numbers (a ``tngvideo eval`` report given with --measured).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from tngvideo.evaluation.video_eval import measured_summary
from tngvideo.paths import models_dir
from tngvideo.tng_image import IMAGE_KIND
from tngvideo.tng_inter import inter_codec_of_checkpoint, ship_inter_codec
from tngvideo.zoo import (
    find_entry,
    read_metadata,
)

TRAINING_DATA_TERMS = (
    "shared data video/train (Vimeo-90K septuplets: non-commercial research; Middlebury: cite Baker et al.; KITTI "
    "CC BY-NC-SA 3.0; DAVIS/CoTracker clips CC BY-NC 4.0; ProPainter inputs S-Lab non-commercial; others MIT / "
    "Apache-2.0 / BSD / CC BY 3.0, see the data README and video/train_sources.tsv) and images/cid22 (CC BY-SA 4.0), "
    "images/clic2025 (Unsplash License) for the flow network's synthetic pairs; validation clips held out "
    "(tngvideo/training/video_data.py); no Kodak, no video/eval"
)


def _validation_of_checkpoint(curve: list[dict[str, object]], step: str | None) -> dict[str, object]:
    """The last stage's validation record at the checkpoint's step (the best, not always the last record)."""
    last_stage = [record for record in curve if record["stage"] == curve[-1]["stage"]]
    return next((record for record in last_stage if str(record.get("step")) == step), curve[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--model-id", type=int, required=True)
    parser.add_argument("--intra-model", required=True, help="the image model the P-frame model was trained with")
    parser.add_argument("--stage", nargs=3, action="append", default=[], metavar=("RUN", "STEPS", "COMMAND"))
    parser.add_argument("--learning-curve", type=Path, default=None, help="JSON of scripts/video_learning_curve.py")
    parser.add_argument("--measured", type=Path, action="append", default=[], help="tngvideo eval report(s), rd.json")
    args = parser.parse_args()
    torch.set_num_threads(2)

    find_entry(name=args.intra_model, kind=IMAGE_KIND, models_dir=models_dir())  # a shipped image model, or an error
    metadata = read_metadata(args.checkpoint)
    codec = inter_codec_of_checkpoint(args.checkpoint)
    curve = json.loads(args.learning_curve.read_text()) if args.learning_curve else None
    validation = _validation_of_checkpoint(curve["curve"], metadata.get("step")) if curve and curve["curve"] else None
    measured = [measured_summary(path) for path in args.measured]
    details = {
        "architecture": "flow: coarse-to-fine soft block matching with learned CNN corrections (encoder only); motion: "
                        "GDN transforms + mean-scale hyperprior latent codec; prediction: bilinear warp of the decoded "
                        "reference; frame: conditional coder (prediction as extra inputs of the image codec's "
                        "analysis and synthesis), its latent codec as the image model's; entropy-model convolutions "
                        "stored as int8",
        "config": json.loads(codec.model.config.to_json()),
        "training": {
            "stages": [{"run": run, "steps": int(steps), "command": command} for run, steps, command in args.stage],
            "cpu_hours": validation["cpu_hours"] if validation else None,
            "data": TRAINING_DATA_TERMS,
            "scripts": ["scripts/train_flow.py", "scripts/train_video.py"],
            "learning_curve": str(args.learning_curve) if args.learning_curve else None,
            "validation": validation,
        },
        "measured": measured,
    }
    entry = ship_inter_codec(codec, args.name, args.model_id, args.intra_model, models_dir(), details,
                             {"name": args.name, "step": metadata.get("step", "")})
    print(f"wrote {models_dir() / entry.file} ({entry.details['file_bytes'] / 1e6:.2f} MB) and its manifest entry")


if __name__ == "__main__":
    main()

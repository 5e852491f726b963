"""Ship a trained image network: bake its coding tables, write models/NAME.safetensors, measure it on
Kodak with the real codec (and all-intra on the shipped sample clip), and record everything in
models/manifest.json.

    python scripts/export_image_model.py runs/prior-n/best.safetensors --name tng-image-v11 --model-id 11 \\
        --parent tng-image-v10 --stage image-n12 8000 "python scripts/train_image.py --run-dir runs/image-n12 ..." \\
        --stage prior-n 600 "python scripts/train_image.py --run-dir runs/prior-n --phase prior ..." \\
        --learning-curve docs/learning_curves/tng-image-v11.json

The manifest entry holds the file's sha256, the architecture and training config (read from the
checkpoint's metadata), the training data and its terms, the lineage since the parent model (one
stage per run: run, steps used, command), the learning curve's path (not the curve), and the
measured Kodak and sample-clip numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

import torch

from tngvideo.codecs.image_codec import ImageCodec
from tngvideo.codecs.image_model import ImageModel, ImageModelConfig
from tngvideo.evaluation.image_eval import bd_of_test_against_each, run_image_eval
from tngvideo.evaluation.rd import rounded_or_none
from tngvideo.evaluation.video_eval import TNG_INTRA, run_video_eval
from tngvideo.paths import data_root, models_dir
from tngvideo.tng_image import IMAGE_KIND, save_shipped_image_codec
from tngvideo.zoo import (
    CONFIG_KEY,
    ManifestEntry,
    find_entry,
    load_state,
    read_metadata,
    sha256_of,
    write_manifest_entry,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CLIP = REPO_ROOT / "tests" / "data" / "sample_foreman_qcif.mp4"
EVAL_GOP = 32
TRAINING_DATA_TERMS = (
    "shared data images/cid22 (CC BY-SA 4.0), images/clic2025 (Unsplash License), frames of video/train "
    "(BSD / CC BY 3.0 / Apache-2.0 / CC BY-NC 4.0 / S-Lab non-commercial, see the data README); "
    "no Kodak, no video/eval"
)


def _repo_relative(path: str) -> str:
    """A path as the manifest records it: relative to the repository when it is inside it (no machine's paths)."""
    absolute = Path(path).resolve()
    return os.path.relpath(absolute, REPO_ROOT) if absolute.is_relative_to(REPO_ROOT) else path


def _stages(raw: list[list[str]], parser: argparse.ArgumentParser) -> list[dict[str, str | int]]:
    """``--stage RUN STEPS COMMAND [NOTE]`` values as the manifest's lineage stages."""
    stages: list[dict[str, str | int]] = []
    for values in raw:
        if len(values) not in (3, 4) or not values[1].isdigit():
            parser.error("--stage takes RUN STEPS COMMAND [NOTE], STEPS a whole number")
        stage: dict[str, str | int] = {"run": values[0], "steps": int(values[1]), "command": values[2]}
        if len(values) == 4:
            stage["note"] = values[3]
        stages.append(stage)
    return stages


def _architecture(config: ImageModelConfig) -> str:
    context = {
        "none": "no spatial context",
        "checkerboard": "checkerboard spatial context (He et al. 2021) in fixed point",
    }[config.context]
    analysis = ", residual blocks at 1/4 and 1/8 in the analysis" if config.analysis_residual_blocks else ""
    synthesis = ", residual blocks at 1/8 and 1/4 in the synthesis" if config.synthesis_residual_blocks else ""
    synthesis += ", a residual block at 1/2 in the synthesis" if config.synthesis_half_resolution_block else ""
    return (
        f"mean-scale hyperprior (Minnen et al. 2018), {context}, GDN transforms{analysis}{synthesis}, per-level gain vectors "
        "(Cui et al. 2021), fixed-point hyper-synthesis; entropy-model convolutions stored as int8 with per-slice scales"
    )


def _sample_clip_numbers(out: Path, model: str) -> dict[str, object]:
    """All-intra RD of the model on the shipped sample clip, next to x264/x265 (``tngvideo eval``)."""
    report = run_video_eval(SAMPLE_CLIP, out, None, EVAL_GOP, model)
    curve = report.curves[TNG_INTRA]
    return {
        "clip": str(SAMPLE_CLIP.relative_to(SAMPLE_CLIP.parents[2])),
        "coding": f"every frame an I-frame; anchors x264/x265 medium, PSNR-tuned, GOP {EVAL_GOP}",
        "points": [{"quality": p.setting, "bpp": round(p.bpp, 4), "psnr": round(p.psnr, 3), "msssim": round(p.msssim, 5)}
                   for p in curve.points],
        "bd_rate_percent_vs": {name: {"psnr": rounded_or_none(bd.psnr), "msssim_db": rounded_or_none(bd.msssim_db)}
                               for name, bd in bd_of_test_against_each(dict(report.curves), TNG_INTRA).items()},
        "measured_by": f"scripts/export_image_model.py (tngvideo eval), report {out / 'rd.json'}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--model-id", type=int, required=True)
    parser.add_argument("--kodak", type=Path, default=None, help="default: the shared data's kodak/")
    parser.add_argument("--anchors", type=Path, default=None, help="anchor report from scripts/bench_image.py")
    parser.add_argument("--out", type=Path, default=Path("results/kodak_tng"))
    parser.add_argument("--parent", default=None,
                        help="the shipped model the first --stage started from (its lineage total counts as steps before)")
    parser.add_argument("--stage", nargs="+", action="append", default=[], metavar="RUN STEPS COMMAND [NOTE]",
                        help="one run since --parent, in order: its name, the steps of it used, its command; the last "
                        "one produced CHECKPOINT (without any, the lineage stays empty and counts the checkpoint's step)")
    parser.add_argument("--learning-curve", type=Path, default=None, help="JSON written by scripts/learning_curve.py")
    args = parser.parse_args()
    torch.set_num_threads(2)

    metadata = read_metadata(args.checkpoint)
    checkpoint_step = int(metadata.get("step", "0") or 0)
    stages = _stages(args.stage, parser)
    if stages and stages[-1]["steps"] != checkpoint_step:
        parser.error(f"the last --stage uses {stages[-1]['steps']} steps, the checkpoint is step {checkpoint_step}")
    parent_steps = int(find_entry(name=args.parent, models_dir=models_dir()).details["training"]["steps"]) if args.parent else 0
    config = ImageModelConfig.from_json(metadata[CONFIG_KEY])
    model = ImageModel(config)
    model.load_state_dict(load_state(args.checkpoint))
    codec = ImageCodec.from_model(model)
    target = models_dir() / f"{args.name}.safetensors"
    provenance = {"train_config": metadata.get("train_config", ""), "step": metadata.get("step", "")}
    save_shipped_image_codec(codec, target, {"name": args.name, **provenance})
    entry = ManifestEntry(args.name, args.model_id, IMAGE_KIND, target.name, sha256_of(target), {})
    write_manifest_entry(entry, models_dir())  # provisional, so the evaluation can load it by name

    result = run_image_eval(args.kodak or data_root() / "kodak", args.out, None, args.name, args.anchors)
    tng = result.report.curves["tngvideo"]
    train_config = json.loads(metadata["train_config"]) if metadata.get("train_config") else None
    if train_config and train_config.get("init_weights"):
        train_config["init_weights"] = _repo_relative(train_config["init_weights"])
    curve = json.loads(args.learning_curve.read_text())["curve"] if args.learning_curve else []
    training: dict[str, object] = {
        "steps": parent_steps + (sum(int(stage["steps"]) for stage in stages) if stages else checkpoint_step),
        "hours": round(curve[-1]["hours"], 1) if curve else None,
        "data": TRAINING_DATA_TERMS,
        "script": "scripts/train_image.py",
        "config": train_config,
        "learning_curve": _repo_relative(str(args.learning_curve)) if args.learning_curve else None,
        "parent": {"name": args.parent, "steps": parent_steps} if args.parent else None,
        "lineage": stages,
    }
    details = {
        "architecture": _architecture(config),
        "config": dataclasses.asdict(config),
        "file_bytes": target.stat().st_size,
        "training": training,
        "kodak": {
            "images": result.images,
            "points": [{"quality": p.setting, "bpp": round(p.bpp, 4), "psnr": round(p.psnr, 3),
                        "msssim": round(p.msssim, 5)} for p in tng.points],
            "bd_rate_percent_vs": {name: {"psnr": rounded_or_none(bd.psnr), "msssim_db": rounded_or_none(bd.msssim_db)}
                                   for name, bd in result.bd_vs_anchors.items()},
            "median_encode_seconds": round(result.median_encode_seconds, 3),
            "median_decode_seconds": round(result.median_decode_seconds, 3),
            "measured_by": f"scripts/export_image_model.py (tngvideo image eval), report {args.out / 'rd.json'}",
        },
    }
    details["clip"] = _sample_clip_numbers(args.out / "clip", args.name)
    write_manifest_entry(dataclasses.replace(entry, details=details), models_dir())
    print(f"wrote {target} ({target.stat().st_size} bytes) and its manifest entry")


if __name__ == "__main__":
    main()

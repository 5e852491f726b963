"""Train (or resume, or fine-tune) the variable-rate TNG image network on CPU.

    python scripts/train_image.py --run-dir runs/image --steps 20000
    python scripts/train_image.py --run-dir runs/image2 --init-weights models/tng-image-v1.safetensors
    python scripts/train_image.py --run-dir runs/image-ctx --context checkerboard \\
        --init-weights models/tng-image-v1.safetensors   # grows a spatial context onto a shipped model
    python scripts/train_image.py --run-dir runs/image-prior --context checkerboard --phase prior \\
        --crop-size 512 --batch-size 2 --init-weights runs/image-ctx/last.safetensors
        # recalibrates the entropy model for whole pictures (rate-only loss, transforms frozen)

A model initialised from weights trained on another --level-lambdas ladder takes their gain vectors
regridded onto its own ladder (new levels interpolated or extrapolated in log lambda); one with a larger
--latent than the weights gets the extra latent channels silent (tngvideo.training.model_growth).

Resumes from ``RUN_DIR/last.*`` when present. Logs JSON lines (train loss/bpp/PSNR every 100 steps,
the validation probe every --eval-every steps) to stdout and ``RUN_DIR/log.jsonl``. Validation uses the
pictures held out of training (tngvideo.training.data.VALIDATION_PICTURES), never Kodak;
``RUN_DIR/best.safetensors`` is the checkpoint with the best validation BD-rate against WebP.
"""

from __future__ import annotations

import argparse
import dataclasses

from tngvideo.codecs.image_model import ImageModelConfig
from tngvideo.paths import add_data_argument, data_root_of
from tngvideo.training.image_task import TrainConfig, run_image_training
from tngvideo.training.loop import add_schedule_arguments, schedule_of

# TrainConfig fields that are plain command-line options of the same name (and type).
CONFIG_FIELDS = ("batch_size", "crop_size", "level_exponent")


def main() -> None:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_schedule_arguments(parser, steps=defaults.schedule.steps, learning_rate=defaults.schedule.learning_rate,
                           warmup_steps=defaults.schedule.warmup_steps, eval_every=defaults.schedule.eval_every)
    add_data_argument(parser)
    parser.add_argument("--hidden", type=int, default=defaults.model.hidden_channels)
    parser.add_argument("--latent", type=int, default=defaults.model.latent_channels,
                        help="latent channels M (more than --init-weights has: the new ones start silent)")
    parser.add_argument("--hyper", type=int, default=defaults.model.hyper_channels)
    parser.add_argument("--context", choices=["none", "checkerboard"], default=defaults.model.context)
    parser.add_argument("--synthesis-residual-blocks", action="store_true",
                        help="grow residual blocks into the synthesis (they start as a no-op on --init-weights)")
    parser.add_argument("--analysis-residual-blocks", action="store_true",
                        help="grow residual blocks into the analysis (they start as a no-op on --init-weights)")
    parser.add_argument("--synthesis-half-resolution-block", action="store_true",
                        help="grow a residual block into the synthesis at 1/2 resolution (a no-op on --init-weights)")
    parser.add_argument(
        "--level-lambdas", type=lambda text: tuple(float(v) for v in text.split(",")),
        default=defaults.model.level_lambdas, help="comma-separated lambda of every quality level, ascending",
    )
    for field in CONFIG_FIELDS:
        default = getattr(defaults, field)
        parser.add_argument("--" + field.replace("_", "-"), type=type(default), default=default)
    parser.add_argument("--phase", choices=["joint", "prior"], default=defaults.phase,
                        help="joint: all parameters, rate + distortion; prior: entropy model only, rate only")
    parser.add_argument("--init-weights", default=None)
    parser.add_argument("--video-frame-step", type=int, default=defaults.data.video_frame_step,
                        help="train on every Nth frame of the training clips too (0: photographs only)")
    args = parser.parse_args()

    model = ImageModelConfig(
        hidden_channels=args.hidden, latent_channels=args.latent, hyper_channels=args.hyper, context=args.context,
        level_lambdas=args.level_lambdas, synthesis_residual_blocks=args.synthesis_residual_blocks,
        analysis_residual_blocks=args.analysis_residual_blocks,
        synthesis_half_resolution_block=args.synthesis_half_resolution_block,
    )
    config = dataclasses.replace(
        defaults,
        model=model,
        data=dataclasses.replace(defaults.data, video_frame_step=args.video_frame_step),
        schedule=schedule_of(args),
        seed=args.seed,
        init_weights=args.init_weights,
        phase=args.phase,
        **{field: getattr(args, field) for field in CONFIG_FIELDS},
    )
    run_image_training(config, args.run_dir, data_root_of(args))


if __name__ == "__main__":
    main()

"""Stages 2–4 of the P-frame curriculum (stage 1, the flow network, is scripts/train_flow.py).

    # stage 2: motion coding with the warping loss (flow from stage 1, frame coder from the image model)
    python scripts/train_video.py --run-dir runs/motion-a --stage motion \\
        --image-weights models/tng-image-v11.safetensors --flow-weights runs/flow-a/best.safetensors
    # stage 3: the conditional frame coder, motion frozen
    python scripts/train_video.py --run-dir runs/frame-a --stage frame \\
        --image-weights models/tng-image-v11.safetensors --motion-weights runs/motion-a/best.safetensors
    # stage 4: joint, on pairs, then rolling over longer sequences (--sequence-length 4)
    python scripts/train_video.py --run-dir runs/joint-a --stage joint ... --init-weights runs/frame-a/best.safetensors
    # finish: the entropy models alone, rate-only, on larger crops (as the image codec's prior phase)
    python scripts/train_video.py --run-dir runs/prior-a --stage prior ... --init-weights runs/joint-a/best.safetensors \\
        --crop-size 256 --batch-size 4 --borrowed-lr-scale 1

The image model (--image-weights) codes each sequence's first frame, as the I-frame, and without
--init-weights also initialises the frame coder. Resumes from ``RUN_DIR/last.*`` when present.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import get_args

import torch

from tngvideo.codecs.flow import WarpInterpolation
from tngvideo.codecs.image_model import ImageModel, ImageModelConfig
from tngvideo.codecs.inter_codec import FRAME_TABLES, MOTION_TABLES
from tngvideo.codecs.inter_model import InterModel, InterModelConfig
from tngvideo.codecs.motion_search import DEFAULT_SEARCH_STEPS
from tngvideo.entropy.tables import PREFIX as TABLE_PREFIX
from tngvideo.training.flow_task import flow_config_of
from tngvideo.training.inter_task import InterTraining, InterTrainingConfig
from tngvideo.training.loop import add_schedule_arguments, schedule_of, start_or_resume_run
from tngvideo.training.video_data import add_video_data_arguments, video_segments_of
from tngvideo.zoo import CONFIG_KEY, load_state, read_metadata


def _image_model(path: Path) -> tuple[ImageModel, dict[str, torch.Tensor]]:
    config = ImageModelConfig.from_json(read_metadata(path)[CONFIG_KEY])
    state = {k: v.float() for k, v in load_state(path).items() if not k.startswith(TABLE_PREFIX)}
    model = ImageModel(config)
    model.load_state_dict(state)
    return model, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_schedule_arguments(parser, steps=4000, learning_rate=1e-4, warmup_steps=200, eval_every=500)
    parser.add_argument("--stage", choices=["motion", "frame", "joint", "prior"], required=True)
    parser.add_argument("--image-weights", type=Path, required=True, help="the intra model")
    parser.add_argument("--flow-weights", type=Path, default=None, help="stage-1 flow network (without --init-weights)")
    parser.add_argument("--init-weights", type=Path, default=None, help="an earlier stage's P-frame weights")
    parser.add_argument("--motion-weights", type=Path, default=None,
                        help="take the flow and motion coder from these P-frame weights (the motion stage's), the "
                        "frame coder from --image-weights")
    parser.add_argument("--warm-start", choices=["zero", "residual"], default="residual",
                        help="how the frame coder's prediction inputs start (without --init-weights): at zero (the "
                        "intra codec), or as residual coding (InterModel.start_as_residual_coder)")
    parser.add_argument("--borrowed-lr-scale", type=float, default=0.2,
                        help="learning rate of the image model's parts relative to the new parts'")
    add_video_data_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop-size", type=int, default=128)
    parser.add_argument("--sequence-length", type=int, default=2)
    parser.add_argument("--motion-latent", type=int, default=64)
    parser.add_argument("--motion-context", choices=["none", "checkerboard"], default=None,
                        help="the motion latents' spatial context (default: the initial weights', else none); a "
                        "checkerboard added to weights without one starts at zero, coding as before")
    parser.add_argument("--prediction-pyramid", type=int, default=None, metavar="CHANNELS",
                        help="feed the frame coder the prediction at 1/2-1/8 resolution through a pyramid of this "
                        "width (default: the initial weights', else none); added to weights without one, it starts "
                        "at zero, coding as before")
    parser.add_argument("--propagated-channels", type=int, default=None, metavar="CHANNELS",
                        help="features the frame coder's synthesis passes to the next P-frame beside its pixels "
                        "(default: the initial weights', else none); added to weights without them, their inputs start "
                        "at zero, coding as before (train on sequences of 3+ frames: pairs never see them)")
    parser.add_argument("--warp-interpolation", choices=get_args(WarpInterpolation), default=None,
                        help="how the prediction samples the reference (default: the initial weights', else "
                        "bilinear); set on trained weights, it keeps their transforms, which were trained with the other kernel")
    parser.add_argument("--vector-step-scales", type=float, nargs="+", default=None, metavar="S",
                        help="with --init-weights: multiply the block motion vectors' quantization step at each level "
                        "by S (one factor per level; MotionCoder.scale_vector_steps) before training")
    parser.add_argument("--density-lr-scale", type=float, default=1.0,
                        help="learning rate of the hyper-latents' factorized densities relative to the new parts'")
    parser.add_argument("--motion-gain-lr-scale", type=float, default=1.0,
                        help="learning rate of the motion latents' per-level gains (the block vectors' quantization "
                        "steps among them) relative to the new parts'")
    parser.add_argument("--validation-search-steps", type=int, default=0,
                        help="the encoder's motion search in validation (the encoder's default: "
                        f"{DEFAULT_SEARCH_STEPS}), to score what it codes")
    parser.add_argument("--skip-blocks", action="store_true",
                        help="the encoder's skip decisions in the training and validation forwards (frame and joint "
                        "stages): fit the model to the latents the encoder codes, and score them")
    parser.add_argument("--inter-offset-max", type=float, default=0.0, metavar="D",
                        help="code each sample's P-frames at its I-frame's level minus an offset drawn uniformly in "
                        "[0, D] (the encoder's --p-offset; default 0: at the I-frame's level)")
    parser.add_argument("--validation-inter-offset", type=float, default=0.0, metavar="D",
                        help="validation codes its P-frames D levels below the I-frame")
    parser.add_argument("--validation-length", type=int, default=4,
                        help="frames per validation sequence (1 I-frame, then P-frames): longer ones show the drift "
                        "deep into a GOP that 4 frames miss")
    parser.add_argument("--validation-sequences", type=int, default=8,
                        help="validation sequences, drawn in proportion to the clips' frames x area")
    parser.add_argument("--validation-per-clip", type=int, default=0, metavar="N",
                        help="instead, N sequences of every validation clip that has them (the clips weigh alike)")
    parser.add_argument("--level-exponent", type=float, default=InterTrainingConfig.level_exponent,
                        help="training levels are (L-1)·u**exponent, u uniform: below 1 the high rates are drawn more "
                        "often, above 1 the low rates")
    args = parser.parse_args()
    if args.vector_step_scales is not None and args.init_weights is None:
        parser.error("--vector-step-scales edits trained weights: give --init-weights")
    schedule = schedule_of(args)

    intra, intra_state = _image_model(args.image_weights)
    if args.init_weights is not None or args.motion_weights is not None:
        model_config = InterModelConfig.from_json(read_metadata(args.init_weights or args.motion_weights)[CONFIG_KEY])
    else:
        flow = flow_config_of(args.flow_weights) if args.flow_weights else InterModelConfig().flow
        model_config = InterModelConfig(frame=intra.config, flow=flow, motion_latent_channels=args.motion_latent)
    if args.motion_context is not None:
        model_config = dataclasses.replace(model_config, motion_context=args.motion_context)
    if args.prediction_pyramid is not None:
        model_config = dataclasses.replace(model_config, prediction_pyramid_channels=args.prediction_pyramid)
    if args.propagated_channels is not None:
        model_config = dataclasses.replace(model_config, propagated_channels=args.propagated_channels)
    if args.warp_interpolation is not None:
        model_config = dataclasses.replace(model_config, warp_interpolation=args.warp_interpolation)
    config = InterTrainingConfig(model=model_config, stage=args.stage, sequence_length=args.sequence_length,
                                 batch_size=args.batch_size, crop_size=args.crop_size,
                                 borrowed_lr_scale=args.borrowed_lr_scale, density_lr_scale=args.density_lr_scale,
                                 motion_gain_lr_scale=args.motion_gain_lr_scale,
                                 validation_search_steps=args.validation_search_steps,
                                 skip_blocks=args.skip_blocks, inter_offset_max=args.inter_offset_max,
                                 validation_inter_offset=args.validation_inter_offset,
                                 validation_length=args.validation_length,
                                 validation_sequences=args.validation_sequences,
                                 validation_per_clip=args.validation_per_clip,
                                 level_exponent=args.level_exponent)
    model = InterModel(model_config)
    task = InterTraining(config, model, intra, *video_segments_of(args), args.seed)

    def initialise() -> dict[str, object]:
        if args.init_weights is not None:  # a checkpoint, or a shipped file (whose coding tables are left out)
            state = load_state(args.init_weights)
            model.load_grown({k: v for k, v in state.items() if not k.startswith((MOTION_TABLES, FRAME_TABLES))})
            if args.vector_step_scales is not None:
                model.motion.scale_vector_steps(args.vector_step_scales)
        else:
            model.initialise_from_image(intra_state)
            if args.warm_start == "residual":
                model.start_as_residual_coder()
            if args.motion_weights is not None:
                model.load_motion(load_state(args.motion_weights))
            elif args.flow_weights is not None:
                model.flow.load_state_dict(load_state(args.flow_weights))
        return {"image_weights": str(args.image_weights), "flow_weights": str(args.flow_weights),
                "init_weights": str(args.init_weights), "motion_weights": str(args.motion_weights),
                "warm_start": None if args.init_weights else args.warm_start,
                "vector_step_scales": args.vector_step_scales}

    start_or_resume_run(task, schedule, args, config, initialise)


if __name__ == "__main__":
    main()

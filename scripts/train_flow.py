"""Stage 1 of the P-frame curriculum: pre-train the flow CNN (synthetic pairs + DIS pseudo-ground-truth).

    python scripts/train_flow.py --run-dir runs/flow-a --steps 6000

Needs the training extra (`pip install -e '.[train]'`: OpenCV for DIS flow). Resumes from
``RUN_DIR/last.*`` when present; validation (warping PSNR on held-out training clips) every
--eval-every steps; ``RUN_DIR/best.safetensors`` is the best so far.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tngvideo.paths import data_root
from tngvideo.training.data import TrainingDataConfig, load_training_pictures
from tngvideo.training.flow_task import FlowPretraining, FlowTrainingConfig
from tngvideo.training.loop import TrainingLoop, add_schedule_arguments, schedule_of
from tngvideo.training.video_data import VideoDataConfig, load_video_segments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_schedule_arguments(parser, steps=6000, learning_rate=4e-4, warmup_steps=200, eval_every=500)
    parser.add_argument("--data", type=Path, default=None, help="shared data root (default: $TNGVIDEO_DATA or ../shared/data)")
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"), help="decoded training clips are kept here")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    schedule = schedule_of(args)
    root = args.data or data_root()
    config = FlowTrainingConfig(batch_size=args.batch_size)
    photos = load_training_pictures(root, TrainingDataConfig(video_frame_step=0))
    video = VideoDataConfig()
    task = FlowPretraining(config, photos, load_video_segments(root, video, "train", args.cache),
                           load_video_segments(root, video, "validation", args.cache), args.seed)
    TrainingLoop(task, schedule, args.run_dir, config.to_json(), seed=args.seed).start_or_resume(dict)


if __name__ == "__main__":
    main()

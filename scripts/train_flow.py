"""Stage 1 of the P-frame curriculum: pre-train the flow CNN (synthetic pairs + DIS pseudo-ground-truth).

    python scripts/train_flow.py --run-dir runs/flow-a --steps 6000

Needs the training extra (`pip install -e '.[train]'`: OpenCV for DIS flow). Resumes from
``RUN_DIR/last.*`` when present; validation (warping PSNR on held-out training clips) every
--eval-every steps; ``RUN_DIR/best.safetensors`` is the best so far.
"""

from __future__ import annotations

import argparse

from tngvideo.paths import data_root_of
from tngvideo.training.data import TrainingDataConfig, load_training_pictures
from tngvideo.training.flow_task import FlowPretraining, FlowTrainingConfig
from tngvideo.training.loop import add_schedule_arguments, schedule_of, start_or_resume_run
from tngvideo.training.video_data import add_video_data_arguments, video_segments_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_schedule_arguments(parser, steps=6000, learning_rate=4e-4, warmup_steps=200, eval_every=500)
    add_video_data_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    schedule = schedule_of(args)
    config = FlowTrainingConfig(batch_size=args.batch_size)
    photos = load_training_pictures(data_root_of(args), TrainingDataConfig(video_frame_step=0))
    task = FlowPretraining(config, photos, *video_segments_of(args), args.seed)
    start_or_resume_run(task, schedule, args, config)


if __name__ == "__main__":
    main()

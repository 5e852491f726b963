"""Training crops from the shared photos and video clips, decoded once into RAM.

Video frames are sampled sparsely (neighbouring frames add little) and large frames are
downscaled by 2, which also hides most of the source's compression artefacts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tngvideo.io.frames import iter_clip_frames
from tngvideo.io.pictures import picture_paths, read_picture


@dataclass(frozen=True)
class TrainingDataConfig:
    """Which shared data feeds training, and how it is sampled."""

    image_dirs: tuple[str, ...] = ("images/cid22", "images/clic2025")
    video_dir: str = "video/train"
    video_frame_step: int = 12  # every Nth frame of each training clip; 0: photographs only
    downscale_min_side: int = 700

    def __post_init__(self) -> None:
        if self.video_frame_step < 0:
            raise ValueError(f"video frame step must be 0 (no video frames) or positive, got {self.video_frame_step}")


def _downscaled(frame: np.ndarray, min_side: int) -> np.ndarray:
    if min(frame.shape[:2]) < min_side:
        return frame
    height, width = frame.shape[:2]
    resized = Image.fromarray(frame).resize((width // 2, height // 2), Image.Resampling.LANCZOS)
    return np.asarray(resized)


def load_training_pictures(root: Path, config: TrainingDataConfig) -> list[np.ndarray]:
    """All training pictures as HxWx3 uint8 arrays. Never reads ``kodak/`` or ``video/eval/``."""
    pictures: list[np.ndarray] = []
    for image_dir in config.image_dirs:
        for path in picture_paths(root / image_dir):
            pictures.append(_downscaled(read_picture(path), 2 * config.downscale_min_side))
    video_root = root / config.video_dir
    if config.video_frame_step and video_root.is_dir():
        for clip in sorted(p for p in video_root.iterdir() if p.is_dir()):
            for index, frame in enumerate(iter_clip_frames(clip)):
                if index % config.video_frame_step == 0:
                    pictures.append(_downscaled(frame, config.downscale_min_side))
    return pictures


class RandomCrops:
    """Uniformly random crops (with flips) from pictures held in RAM; no worker processes needed."""

    def __init__(self, pictures: list[np.ndarray], crop_size: int, seed: int):
        self.pictures = [p for p in pictures if min(p.shape[:2]) >= crop_size]
        # Sample pictures in proportion to their area so big photos are not under-used.
        areas = np.array([p.shape[0] * p.shape[1] for p in self.pictures], dtype=np.float64)
        self.weights = areas / areas.sum()
        self.crop_size = crop_size
        self.rng = np.random.default_rng(seed)

    def batch(self, batch_size: int) -> torch.Tensor:
        """A float batch (B, 3, crop, crop) in [0, 1]."""
        size = self.crop_size
        crops = np.empty((batch_size, size, size, 3), dtype=np.uint8)
        for i, index in enumerate(self.rng.choice(len(self.pictures), batch_size, p=self.weights)):
            picture = self.pictures[index]
            top = self.rng.integers(0, picture.shape[0] - size + 1)
            left = self.rng.integers(0, picture.shape[1] - size + 1)
            crop = picture[top : top + size, left : left + size]
            if self.rng.random() < 0.5:
                crop = crop[:, ::-1]
            crops[i] = crop
        return torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(255.0)

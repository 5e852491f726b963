"""Training crops from the shared photos and video clips, decoded once into RAM, and the held-out
validation pictures.

Video frames are sampled sparsely (neighbouring frames add little) and large frames are
downscaled by 2, which also hides most of the source's compression artefacts.

Validation (choosing checkpoints, drawing learning curves) uses a fixed list of photographs held out
of training (:data:`VALIDATION_PICTURES`): every 14th of ``images/cid22`` by sorted name (16 pictures,
512x512) and the centre 768x512 of the first ``images/clic2025`` picture, at its full resolution.
Kodak and ``video/eval`` are for the final report only and are never read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tngvideo.io.frames import iter_clip_frames
from tngvideo.io.pictures import picture_paths, read_picture
from tngvideo.training.video_data import EXCLUDED_CLIPS, VALIDATION_CLIPS


@dataclass(frozen=True)
class HeldOutPicture:
    """A validation picture: its path under the data root, and the (height, width) of its centre
    crop (None: the whole picture)."""

    path: str
    crop: tuple[int, int] | None = None


# Never trained on (see the module docstring); a list of names, so a change of the folders cannot move it.
_CID22_EVERY_14TH = (
    "training__1001682", "training__1287145", "training__1570264", "training__1722183", "training__2156881",
    "training__2581922", "training__3311574", "training__3623285", "training__5146462", "training__670530",
    "training__8442861", "training__pexels-photo-3193731", "training__pexels-photo-635405", "validation__1279330",
    "validation__2389166", "validation__4215100",
)
VALIDATION_PICTURES = (
    *(HeldOutPicture(f"images/cid22/{name}.png") for name in _CID22_EVERY_14TH),
    HeldOutPicture("images/clic2025/097cb426910ba8ce2525dd8bb7fb1777.png", crop=(512, 768)),
)


@dataclass(frozen=True)
class TrainingDataConfig:
    """Which shared data feeds training, how it is sampled, and which pictures are held out of it."""

    image_dirs: tuple[str, ...] = ("images/cid22", "images/clic2025")
    video_dir: str = "video/train"
    video_frame_step: int = 12  # every Nth frame of each training clip; 0: photographs only
    downscale_min_side: int = 700
    validation_pictures: tuple[HeldOutPicture, ...] = VALIDATION_PICTURES

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
    """All training pictures as HxWx3 uint8 arrays: the photographs of ``config.image_dirs`` except the
    held-out ``config.validation_pictures`` (whole, not just their crops), then every Nth frame of the
    training clips (not those the P-frame stages validate on, ``video_data.VALIDATION_CLIPS``).
    Never reads ``kodak/`` or ``video/eval/``."""
    held_out = {root / picture.path for picture in config.validation_pictures}
    pictures: list[np.ndarray] = []
    for image_dir in config.image_dirs:
        for path in picture_paths(root / image_dir):
            if path not in held_out:
                pictures.append(_downscaled(read_picture(path), 2 * config.downscale_min_side))
    video_root = root / config.video_dir
    if config.video_frame_step and video_root.is_dir():
        held_out_clips = {*VALIDATION_CLIPS, *EXCLUDED_CLIPS}  # the P-frame stages' validation clips stay unseen
        for clip in sorted(p for p in video_root.iterdir() if p.is_dir() and p.name not in held_out_clips):
            for index, frame in enumerate(iter_clip_frames(clip)):
                if index % config.video_frame_step == 0:
                    pictures.append(_downscaled(frame, config.downscale_min_side))
    return pictures


def load_validation_pictures(root: Path, config: TrainingDataConfig) -> list[np.ndarray]:
    """The held-out pictures as HxWx3 uint8 arrays, centre-cropped where their entry says so (at full
    resolution: no downscaling). A missing file is an error, so the validation set cannot shrink unseen."""
    pictures = []
    for picture in config.validation_pictures:
        rgb = read_picture(root / picture.path)
        if picture.crop is not None:
            rgb = centre_crop(rgb, *picture.crop)
        pictures.append(rgb)
    return pictures


def centre_crop(picture: np.ndarray, height: int, width: int) -> np.ndarray:
    """The centre ``height`` x ``width`` of an HxWxC array."""
    if picture.shape[0] < height or picture.shape[1] < width:
        raise ValueError(f"cannot crop {width}x{height} from a {picture.shape[1]}x{picture.shape[0]} picture")
    top, left = (picture.shape[0] - height) // 2, (picture.shape[1] - width) // 2
    return picture[top : top + height, left : left + width]


class RandomCrops:
    """Uniformly random crops (with flips) from pictures held in RAM; no worker processes needed."""

    def __init__(self, pictures: list[np.ndarray], crop_size: int, seed: int):
        self.pictures = [p for p in pictures if min(p.shape[:2]) >= crop_size]
        # Sample pictures in proportion to their area so big photos are not under-used.
        areas = np.array([p.shape[0] * p.shape[1] for p in self.pictures], dtype=np.float64)
        self.weights = areas / areas.sum()
        self.crop_size = crop_size
        self.rng = np.random.default_rng(seed)

    def batch(self, batch_size: int, rng: np.random.Generator | None = None) -> torch.Tensor:
        """A float batch (B, 3, crop, crop) in [0, 1], drawn with ``rng`` (default: the crops' own)."""
        rng = self.rng if rng is None else rng
        size = self.crop_size
        crops = np.empty((batch_size, size, size, 3), dtype=np.uint8)
        for i, index in enumerate(rng.choice(len(self.pictures), batch_size, p=self.weights)):
            picture = self.pictures[index]
            top = rng.integers(0, picture.shape[0] - size + 1)
            left = rng.integers(0, picture.shape[1] - size + 1)
            crop = picture[top : top + size, left : left + size]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            crops[i] = crop
        return torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(255.0)

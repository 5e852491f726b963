"""Training and validation sequences from ``video/train``, decoded once and cached as uint8 arrays.

Clips are split at scene cuts (a P-frame across a cut teaches nothing), frames whose short side is
at least ``downscale_min_side`` are halved (as for the image codec's training frames: more motion
per pixel of crop, fewer source artefacts), and every segment is cached as a ``.npy`` file that
later runs memory-map instead of decoding again.

A fixed set of clips is held out for validation (checkpoint choice and learning curves); the
evaluation clips (``video/eval``) and Kodak are never read here.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tngvideo.io.frames import iter_clip_frames
from tngvideo.paths import add_data_argument, data_root_of

# Held out of training, for validation: a spread of sizes, sources and motion.
VALIDATION_CLIPS = ("cotracker_cat", "davis_paragliding", "middlebury_grove3", "sam2_juggle", "vid4_walk",
                    "vimeo90k_00002_0008")
# Never used: foreman_qcif is the same scene as the evaluation clip foreman_cif and the shipped sample clip.
EXCLUDED_CLIPS = ("foreman_qcif",)


@dataclass(frozen=True)
class VideoDataConfig:
    """Which clips feed training and how they are prepared."""

    video_dir: str = "video/train"
    downscale_min_side: int = 700
    max_frames_per_clip: int = 150  # long clips add mostly more of the same scene
    min_side: int = 128  # segments smaller than this (after downscaling) are dropped


@dataclass(frozen=True)
class Segment:
    """Consecutive frames of one clip with no scene cut: (T, H, W, 3) uint8 (often a memory map)."""

    name: str
    frames: np.ndarray

    @property
    def length(self) -> int:
        return int(self.frames.shape[0])


def _halved(frame: np.ndarray) -> np.ndarray:
    height, width = frame.shape[:2]
    return np.asarray(Image.fromarray(frame).resize((width // 2, height // 2), Image.Resampling.LANCZOS))


def scene_cuts(frames: np.ndarray) -> list[int]:
    """Indexes t where frame t starts a new scene: the colour histograms of t-1 and t barely overlap, or
    their mean absolute difference is both large and far above the clip's typical one (a cut between
    scenes of similar colours)."""
    small = frames[:, ::4, ::4].astype(np.float32)
    differences = np.abs(np.diff(small.mean(-1), axis=0)).mean((1, 2))
    typical = float(np.median(differences)) if len(differences) else 0.0
    cuts = []
    previous = None
    for index, frame in enumerate(small.astype(np.int64)):
        bins = frame.reshape(-1, 3) // 32
        histogram = np.bincount(bins[:, 0] * 64 + bins[:, 1] * 8 + bins[:, 2], minlength=512).astype(np.float64)
        histogram /= histogram.sum()
        if previous is not None:
            difference = differences[index - 1]
            if np.minimum(previous, histogram).sum() < 0.5 or (difference > 40 and difference > 4 * typical):
                cuts.append(index)
        previous = histogram
    return cuts


def _read_clip(clip: Path, config: VideoDataConfig) -> np.ndarray:
    frames = []
    for index, frame in enumerate(iter_clip_frames(clip)):
        if index >= config.max_frames_per_clip:
            break
        frames.append(_halved(frame) if min(frame.shape[:2]) >= config.downscale_min_side else frame)
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:  # a clip whose size changes: keep the frames of the first size
        frames = [f for f in frames if f.shape == frames[0].shape]
    return np.stack(frames)


def _cache_key(clip: Path, config: VideoDataConfig) -> str:
    files = sorted(p for p in clip.iterdir() if p.is_file())
    text = repr((config, [(p.name, p.stat().st_size) for p in files]))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_clip_segments(clip: Path, config: VideoDataConfig, cache_dir: Path | None) -> list[Segment]:
    """The scene-cut segments of one clip (from the cache when it has them)."""
    cached = cache_dir / f"{clip.name}-{_cache_key(clip, config)}" if cache_dir else None
    if cached is not None and (cached / "done").exists():
        paths = sorted(cached.glob("segment*.npy"))
        return [Segment(clip.name, np.load(p, mmap_mode="r")) for p in paths]
    frames = _read_clip(clip, config)
    bounds = [0, *scene_cuts(frames), len(frames)]
    segments = [Segment(clip.name, frames[a:b]) for a, b in itertools.pairwise(bounds)
                if b - a >= 2 and min(frames.shape[1:3]) >= config.min_side]
    if cached is not None:
        cached.mkdir(parents=True, exist_ok=True)
        for index, segment in enumerate(segments):
            np.save(cached / f"segment{index:03d}.npy", segment.frames)
        (cached / "done").touch()
    return segments


def load_video_segments(root: Path, config: VideoDataConfig, split: str, cache_dir: Path | None = None) -> list[Segment]:
    """Segments of the ``"train"`` or ``"validation"`` clips of ``root / config.video_dir``."""
    if split not in ("train", "validation"):
        raise ValueError(f"unknown split {split!r}")
    video_root = root / config.video_dir
    clips = sorted(p for p in video_root.iterdir() if p.is_dir() and p.name not in EXCLUDED_CLIPS)
    chosen = [c for c in clips if (c.name in VALIDATION_CLIPS) == (split == "validation")]
    return [segment for clip in chosen for segment in load_clip_segments(clip, config, cache_dir)]


def add_video_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the scripts that train on the clips: ``--data`` and ``--cache`` (:func:`video_segments_of`
    reads them back)."""
    add_data_argument(parser)
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"), help="decoded training clips are kept here")


def video_segments_of(args: argparse.Namespace) -> tuple[list[Segment], list[Segment]]:
    """The (training, validation) segments of :func:`add_video_data_arguments`' options."""
    root, config = data_root_of(args), VideoDataConfig()
    return (load_video_segments(root, config, "train", args.cache),
            load_video_segments(root, config, "validation", args.cache))


class SequenceCrops:
    """Random crops of ``length`` consecutive frames (same window in each), with random flips and
    time reversal, from segments held in RAM or memory maps. Also serves frame pairs (length 2)."""

    def __init__(self, segments: list[Segment], length: int, crop_size: int, seed: int):
        self.segments = [s for s in segments if s.length >= length and min(s.frames.shape[1:3]) >= crop_size]
        if not self.segments:
            raise ValueError(f"no segment has {length} frames of at least {crop_size}² pixels")
        # Sample segments in proportion to their frames x area, so each frame is about equally likely.
        sizes = np.array([(s.length - length + 1) * s.frames.shape[1] * s.frames.shape[2] for s in self.segments],
                         dtype=np.float64)
        self.weights = sizes / sizes.sum()
        self.length = length
        self.crop_size = crop_size
        self.rng = np.random.default_rng(seed)

    def batch(self, batch_size: int, rng: np.random.Generator | None = None) -> torch.Tensor:
        """(B, T, 3, crop, crop) float in [0, 1], drawn with ``rng`` (a training loop's, so a resumed run
        draws new crops) or the generator seeded at construction."""
        rng = rng or self.rng
        return self._crops(rng.choice(len(self.segments), batch_size, p=self.weights), rng)

    def per_clip(self, per_clip: int) -> torch.Tensor:
        """``per_clip`` crops of every clip that has a long and large enough segment (clip by clip, in name order;
        within a clip, segments in proportion to frames × area), drawn with the generator seeded at construction.

        A validation set: drawn in proportion to frames × area, four sequences came from two of three clips (the
        largest), and a change's worth differs by clip (docs/training.md, *Sessions 32–33*)."""
        names = sorted({s.name for s in self.segments})
        indexes: list[int] = []
        for name in names:
            members = np.array([i for i, s in enumerate(self.segments) if s.name == name])
            weights = self.weights[members] / self.weights[members].sum()
            indexes.extend(self.rng.choice(members, per_clip, p=weights))
        return self._crops(np.array(indexes), self.rng)

    def _crops(self, indexes: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        size, length = self.crop_size, self.length
        crops = np.empty((len(indexes), length, size, size, 3), dtype=np.uint8)
        for i, index in enumerate(indexes):
            frames = self.segments[index].frames
            start = rng.integers(0, frames.shape[0] - length + 1)
            top = rng.integers(0, frames.shape[1] - size + 1)
            left = rng.integers(0, frames.shape[2] - size + 1)
            crop = frames[start : start + length, top : top + size, left : left + size]
            if rng.random() < 0.5:
                crop = crop[:, :, ::-1]
            if rng.random() < 0.5:
                crop = crop[::-1]
            crops[i] = crop
        return torch.from_numpy(crops).permute(0, 1, 4, 2, 3).float().div_(255.0)

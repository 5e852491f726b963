"""CPU training of the variable-rate image network: the image task of the one training loop.

Every sample of a batch gets its own random (fractional) quality level, and so its own lambda:
one run trains all rates at once. Loss per sample: ``bpp + lambda * 255^2 * MSE`` (CompressAI's
scaling), on ``channels_last`` crops. The schedule, clipping, checkpoints and resume are the
:class:`~tngvideo.training.loop.TrainingLoop`'s.

Two phases. ``joint`` trains everything on small crops (many independent crops per CPU-second).
``prior`` then recalibrates only the entropy model on large crops with a rate-only loss: on 128²
crops the hyper-latents form a 2×2 grid, so the hyperprior only ever sees picture borders and
over-estimates the interior of a whole picture (measured: 512² pictures cost 16-19% more bits
than their sixteen 128² tiles coded apart). The transforms are frozen and the synthesis is not
run, so a prior step on 4× the pixels costs about 1.2 joint steps.

Validation runs the RD probe (:mod:`tngvideo.training.rd_probe`) on the pictures held out of training
(``training.data.VALIDATION_PICTURES``), with JPEG and WebP measured on the same pictures; the best
checkpoint has the lowest BD-rate against WebP there. Kodak is for the final report only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from tngvideo.codecs.image_model import (
    ImageModel,
    ImageModelConfig,
    bits_per_pixel,
    lambdas_of_levels,
    rate_distortion,
)
from tngvideo.config_json import JsonConfig
from tngvideo.entropy.tables import PREFIX as TABLE_PREFIX
from tngvideo.training.data import (
    RandomCrops,
    TrainingDataConfig,
    load_training_pictures,
    load_validation_pictures,
)
from tngvideo.training.levels import sample_levels
from tngvideo.training.loop import SCORE_KEY, Schedule, TrainingLoop
from tngvideo.training.model_growth import initialise_from
from tngvideo.training.rd_probe import RDProbe
from tngvideo.zoo import CONFIG_KEY, load_state, read_metadata, save_weights

TrainingPhase = Literal["joint", "prior"]
SCORE_ANCHOR = "webp"  # the best checkpoint has the lowest validation BD-rate against this anchor


@dataclass(frozen=True)
class TrainConfig(JsonConfig):
    """Everything that determines a training run (recorded in the weights' manifest entry)."""

    model: ImageModelConfig = field(default_factory=ImageModelConfig)
    data: TrainingDataConfig = field(default_factory=TrainingDataConfig)
    schedule: Schedule = field(default_factory=lambda: Schedule(steps=20000, learning_rate=5e-4))
    phase: TrainingPhase = "joint"  # "prior": entropy model only, rate-only loss (see module docstring)
    batch_size: int = 8
    crop_size: int = 128
    level_exponent: float = 1.0  # levels drawn as (L-1)*u**e: 1 uniform, <1 skewed to the high rates
    seed: int = 0
    init_weights: str | None = None  # fine-tune from these weights (fresh optimizer)

    def __post_init__(self) -> None:
        if self.phase not in ("joint", "prior"):
            raise ValueError(f"unknown training phase {self.phase!r}")
        if self.level_exponent <= 0:
            raise ValueError(f"level exponent must be positive, got {self.level_exponent}")
        if self.crop_size % ImageModelConfig.STRIDE:
            raise ValueError(f"crop size must be a multiple of {ImageModelConfig.STRIDE}, got {self.crop_size}")


def rd_loss(model: ImageModel, x: torch.Tensor, levels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean over the batch of ``bpp + lambda * 255^2 * MSE``, plus scalars to log."""
    out = model(x, levels)
    cost, bpp, mse = rate_distortion(out, x, lambdas_of_levels(levels, model.config.level_lambdas))
    loss = torch.mean(cost)
    stats = {"loss": loss.item(), "bpp": bpp.mean().item(), "psnr": float(-10 * torch.log10(mse.mean()).item())}
    return loss, stats


def rate_loss(model: ImageModel, x: torch.Tensor, levels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean estimated bpp of the batch with the analysis transform frozen: the loss of the prior phase."""
    with torch.no_grad():
        y, _ = model.latents(x, levels)
    _, y_likelihoods, z_likelihoods = model.latent.quantize(y)
    loss = bits_per_pixel(y_likelihoods, z_likelihoods, x.shape[2] * x.shape[3]).mean()
    return loss, {"loss": loss.item(), "bpp": loss.item()}


class ImageTraining:
    """The image network's :class:`~tngvideo.training.loop.TrainingTask`.

    Args:
        config: the run's configuration.
        pictures: training pictures (HxWx3 uint8), cropped at random.
        validation: held-out pictures (HxWx3 uint8); without any, validation gives no score and the
            loop keeps no best checkpoint.
    """

    def __init__(self, config: TrainConfig, pictures: list[np.ndarray], validation: list[np.ndarray]):
        self.config = config
        torch.manual_seed(config.seed)
        self.image_model = ImageModel(config.model).to(memory_format=torch.channels_last)
        self.model: nn.Module = self.image_model
        self._loss = rd_loss if config.phase == "joint" else rate_loss
        # Crops are drawn with the loop's generator, reseeded from the step at resume.
        self.crops = RandomCrops(pictures, config.crop_size, seed=config.seed)
        self.probe = RDProbe(validation)

    def initialise_from_weights(self, path: Path) -> dict[str, object]:
        """Start from trained weights, grown to this model (``model_growth``); returns what the log's start line says of them."""
        network = {k: v.float() for k, v in load_state(path).items() if not k.startswith(TABLE_PREFIX)}
        source = ImageModelConfig.from_json(read_metadata(path)[CONFIG_KEY])
        new_modules = initialise_from(self.image_model, network, source)
        return {"weights": str(path), "new_modules": new_modules,
                "source_level_lambdas": list(source.level_lambdas), "source_latent_channels": source.latent_channels}

    def trainable_parameters(self) -> Iterable[nn.Parameter]:
        model = self.image_model
        return model.parameters() if self.config.phase == "joint" else model.prior_parameters()

    def loss(self, rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        config = self.config
        x = self.crops.batch(config.batch_size, rng).contiguous(memory_format=torch.channels_last)
        levels = sample_levels(rng, config.batch_size, len(config.model.level_lambdas), config.level_exponent)
        return self._loss(self.image_model, x, levels)

    def validate(self) -> dict[str, object]:
        result = self.probe.measure(self.image_model)
        bd_rate = result.get(f"bd_rate_vs_{SCORE_ANCHOR}_percent")
        if isinstance(bd_rate, float) and math.isfinite(bd_rate):
            result = {SCORE_KEY: bd_rate, **result}
        return result

    def save(self, path: Path, metadata: dict[str, str]) -> None:
        save_weights(self.image_model, self.config.model, path, metadata)

    def load(self, path: Path) -> None:
        self.image_model.load_state_dict(load_state(path))


def run_image_training(config: TrainConfig, run_dir: Path, data_root: Path) -> None:
    """Train (or resume) one run in ``run_dir`` on the shared data under ``data_root``.

    The pictures are in RAM and the validation anchors measured before the log's ``start`` (a fresh run, with
    its picture counts and ``config.init_weights``' growth) or ``resume`` line: learning curves count the
    training time from there.
    """
    task = ImageTraining(config, load_training_pictures(data_root, config.data),
                         load_validation_pictures(data_root, config.data))

    def initialise() -> dict[str, object]:
        counts: dict[str, object] = {"pictures": len(task.crops.pictures), "validation_pictures": len(task.probe.images)}
        return {**counts, **task.initialise_from_weights(Path(config.init_weights))} if config.init_weights else counts

    TrainingLoop(task, config.schedule, run_dir, config.to_json(), seed=config.seed).start_or_resume(initialise)

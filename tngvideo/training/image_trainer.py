"""CPU training of the variable-rate image network.

Every sample of a batch gets its own random (fractional) quality level, and so its own lambda:
one run trains all rates at once. Loss per sample: ``bpp + lambda * 255^2 * MSE`` (CompressAI's
scaling). Adam with linear warm-up then cosine decay, gradient clipping, ``channels_last``.

Two phases. ``joint`` trains everything on small crops (many independent crops per CPU-second).
``prior`` then recalibrates only the entropy model on large crops with a rate-only loss: on 128²
crops the hyper-latents form a 2×2 grid, so the hyperprior only ever sees picture borders and
over-estimates the interior of a whole picture (measured: 512² pictures cost 16-19% more bits
than their sixteen 128² tiles coded apart). The transforms are frozen and the synthesis is not
run, so a prior step on 4× the pixels costs about 1.2 joint steps.

A run directory holds ``last.safetensors`` + ``last.optim.pt`` (resume), ``best.safetensors``
(best Kodak BD-rate so far) and ``log.jsonl`` (the learning curve).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from tngvideo.codecs.image_model import (
    ImageModel,
    ImageModelConfig,
    bits_per_pixel,
    lambdas_of_levels,
    rate_distortion,
)
from tngvideo.entropy.tables import PREFIX as TABLE_PREFIX
from tngvideo.training.data import RandomCrops, TrainingDataConfig, load_training_pictures
from tngvideo.training.kodak_probe import KodakProbe
from tngvideo.training.model_growth import initialise_from
from tngvideo.zoo import CONFIG_KEY, load_state, read_metadata, save_weights

TrainingPhase = Literal["joint", "prior"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (recorded in the weights' manifest entry)."""

    model: ImageModelConfig = field(default_factory=ImageModelConfig)
    data: TrainingDataConfig = field(default_factory=TrainingDataConfig)
    phase: TrainingPhase = "joint"  # "prior": entropy model only, rate-only loss (see module docstring)
    steps: int = 20000
    batch_size: int = 8
    crop_size: int = 128
    learning_rate: float = 5e-4
    warmup_steps: int = 500
    final_learning_rate: float = 1e-5
    grad_clip: float = 1.0
    level_exponent: float = 1.0  # levels drawn as (L-1)*u**e: 1 uniform, <1 skewed to the high rates
    seed: int = 0
    init_weights: str | None = None  # fine-tune from these weights (fresh optimizer)
    eval_every: int = 1000
    checkpoint_every: int = 250

    def __post_init__(self) -> None:
        if self.phase not in ("joint", "prior"):
            raise ValueError(f"unknown training phase {self.phase!r}")
        if self.level_exponent <= 0:
            raise ValueError(f"level exponent must be positive, got {self.level_exponent}")
        if self.crop_size % ImageModelConfig.STRIDE:
            raise ValueError(f"crop size must be a multiple of {ImageModelConfig.STRIDE}, got {self.crop_size}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def learning_rate_at(step: int, config: TrainConfig) -> float:
    """Linear warm-up to the peak, then cosine decay to the final rate."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps))
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return config.final_learning_rate + (config.learning_rate - config.final_learning_rate) * cosine


def sample_levels(rng: np.random.Generator, count: int, num_levels: int, exponent: float) -> torch.Tensor:
    """Random fractional quality levels ``(L-1)·u**exponent``, u uniform in [0, 1).

    An exponent below 1 trains the high rates more often (0.5: density grows linearly with the
    level), where the transforms, not the quantizer, cap the quality (NOTES.md, session 4).
    """
    return torch.from_numpy((num_levels - 1) * rng.uniform(0, 1, count) ** exponent).float()


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
    _, y_likelihoods, z_likelihoods = model.latent_prior(y)
    loss = bits_per_pixel(y_likelihoods, z_likelihoods, x.shape[2] * x.shape[3]).mean()
    return loss, {"loss": loss.item(), "bpp": loss.item()}


class ImageTrainer:
    """Runs (or resumes) one training run in ``run_dir``."""

    def __init__(self, config: TrainConfig, run_dir: Path, data_root: Path, kodak_dir: Path | None):
        self.config = config
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(config.seed)
        self.model = ImageModel(config.model).to(memory_format=torch.channels_last)
        trained = self.model.parameters() if config.phase == "joint" else self.model.prior_parameters()
        self.optimizer = torch.optim.Adam(trained, lr=config.learning_rate)
        self.loss = rd_loss if config.phase == "joint" else rate_loss
        self.step = 0
        self.best_bd_rate = math.inf
        self._restore()
        t0 = time.time()
        pictures = load_training_pictures(data_root, config.data)
        self.crops = RandomCrops(pictures, config.crop_size, seed=config.seed + self.step)
        self._log({"event": "data", "pictures": len(self.crops.pictures), "seconds": round(time.time() - t0, 1)})
        self.probe = KodakProbe(kodak_dir) if kodak_dir else None

    def _restore(self) -> None:
        last = self.run_dir / "last.safetensors"
        if last.exists():
            self.model.load_state_dict(load_state(last))
            state = torch.load(self.run_dir / "last.optim.pt", weights_only=True)
            self.optimizer.load_state_dict(state["optimizer"])
            self.step = int(state["step"])
            self.best_bd_rate = float(state["best_bd_rate"])
            self._log({"event": "resume", "step": self.step})
        elif self.config.init_weights:
            path = Path(self.config.init_weights)
            network = {k: v.float() for k, v in load_state(path).items() if not k.startswith(TABLE_PREFIX)}
            source = ImageModelConfig.from_json(read_metadata(path)[CONFIG_KEY])
            new_modules = initialise_from(self.model, network, source)
            self._log({"event": "init", "weights": self.config.init_weights, "new_modules": new_modules,
                       "source_level_lambdas": list(source.level_lambdas),
                       "source_latent_channels": source.latent_channels})

    def _log(self, record: dict[str, object]) -> None:
        record = {"time": round(time.time(), 1), **record}
        with open(self.run_dir / "log.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)

    def _checkpoint(self) -> None:
        metadata = {"train_config": self.config.to_json(), "step": str(self.step)}
        save_weights(self.model, self.config.model, self.run_dir / "last.safetensors", metadata)
        torch.save(
            {"optimizer": self.optimizer.state_dict(), "step": self.step, "best_bd_rate": self.best_bd_rate},
            self.run_dir / "last.optim.pt",
        )

    def _evaluate(self, seconds: float) -> None:
        if self.probe is None:
            return
        result = self.probe.measure(self.model)
        self._log({"event": "eval", "step": self.step, "train_seconds": round(seconds), **result})
        bd_rate = result.get("bd_rate_vs_jpeg_percent", math.inf)
        if isinstance(bd_rate, float) and bd_rate < self.best_bd_rate:
            self.best_bd_rate = bd_rate
            metadata = {"train_config": self.config.to_json(), "step": str(self.step), "kodak": json.dumps(result)}
            save_weights(self.model, self.config.model, self.run_dir / "best.safetensors", metadata)

    def run(self) -> None:
        config = self.config
        num_levels = len(config.model.level_lambdas)
        rng = np.random.default_rng(config.seed + 1 + self.step)
        window: list[dict[str, float]] = []
        started = time.time()
        self.model.train()
        while self.step < config.steps:
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate_at(self.step, config)
            x = self.crops.batch(config.batch_size).contiguous(memory_format=torch.channels_last)
            levels = sample_levels(rng, config.batch_size, num_levels, config.level_exponent)
            loss, stats = self.loss(self.model, x, levels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], config.grad_clip)
            self.optimizer.step()
            self.step += 1
            window.append(stats)
            if self.step % 100 == 0:
                mean = {k: round(float(np.mean([w[k] for w in window])), 4) for k in window[0]}
                self._log({"event": "train", "step": self.step, "lr": learning_rate_at(self.step, config), **mean})
                window.clear()
            if self.step % config.checkpoint_every == 0 or self.step == config.steps:
                self._checkpoint()
            if self.step % config.eval_every == 0 or self.step == config.steps:
                self.model.eval()
                self._evaluate(time.time() - started)
                self.model.train()

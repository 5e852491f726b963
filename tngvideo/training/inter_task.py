"""Stages 2–4 of the P-frame curriculum (after the flow's, stage 1), as one
:class:`~tngvideo.training.loop.TrainingTask`.

Every stage trains on crops of consecutive frames from ``video/train``. Frame 0 is coded by the
(frozen) image model, as an I-frame would be, and each later frame by the P-frame model with the
previous *decoded* frame as its reference (detached: the cost per frame of training on pairs).

Stages (``InterStage``), each warm-started from the previous one's weights:

- ``motion``: the flow network and the motion coder, loss ``motion bpp + λ·255²·MSE(prediction)``
  (the flow learns what predicts well at a low motion rate, not what matches a flow estimate);
- ``frame``: the conditional frame coder alone (flow and motion frozen), the full rate–distortion loss;
- ``joint``: everything, the full loss; with ``sequence_length`` > 2 the reference of each later frame
  is the model's own previous output (detached): rolling training, at the cost per frame of pairs;
- ``prior``: the entropy models of both latent codecs alone, a rate-only loss, on pairs of larger crops
  (as the image codec's prior phase: on 128² crops the hyper-latents form a 2×2 grid, so the
  hyperpriors only ever see picture borders).

With ``skip_blocks``, the frame and joint stages' forwards code the latents the encoder's skip decisions would
(:func:`~tngvideo.codecs.block_skip.choose_skipped_blocks`), in training and validation alike.

Validation (held-out clips): whole-sequence bpp and PSNR at four levels, I-frame then P-frames, and
the BD-rate against coding every frame as an I-frame (the score, lower is better; in the motion stage
the score is the motion objective on the validation frames instead).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from tngvideo.codecs.block_skip import choose_skipped_blocks, decision_weight
from tngvideo.codecs.image_model import ImageModel, lambdas_of_levels
from tngvideo.codecs.inter_model import FrameLatentChoice, InterModel, InterModelConfig, MotionRefinement
from tngvideo.codecs.motion_search import search_motion
from tngvideo.config_json import JsonConfig
from tngvideo.metrics import bd_rate_percent
from tngvideo.training.levels import sample_levels
from tngvideo.training.loop import ParameterGroup
from tngvideo.training.video_data import Segment, SequenceCrops
from tngvideo.video_coder import DEFAULT_GOP
from tngvideo.zoo import load_state, save_weights

InterStage = Literal["motion", "frame", "joint", "prior"]
VALIDATION_LEVELS = (1.0, 3.0, 5.0, 7.0)


@dataclass(frozen=True)
class InterTrainingConfig(JsonConfig):
    """What an inter training run draws and optimises (recorded with its checkpoints)."""

    model: InterModelConfig = field(default_factory=InterModelConfig)
    stage: InterStage = "frame"
    sequence_length: int = 2  # frames per training sample: 1 I-frame + (length - 1) P-frames
    batch_size: int = 8
    crop_size: int = 128
    level_exponent: float = 0.6
    validation_sequences: int = 8
    # With N > 0, validation takes N sequences of every validation clip that has them instead (SequenceCrops.per_clip)
    validation_per_clip: int = 0
    validation_length: int = 4
    validation_crop: int = 256
    borrowed_lr_scale: float = 0.2  # learning rate of the image model's parts, relative to the new parts'
    density_lr_scale: float = 1.0  # learning rate of the hyper-latents' factorized densities, relative to the new parts'
    # learning rate of the motion latents' per-level gains (their quantization steps), relative to the new parts': at
    # 1 joint training left the block vectors' gains within 4% of their initial ladder (docs/training.md, session 26)
    motion_gain_lr_scale: float = 1.0
    # The encoder's motion search (codecs.motion_search) inside validation, to score what the encoder does. (Inside
    # training's forward, straight through, it lost: joint-h, docs/training.md.)
    validation_search_steps: int = 0
    # The encoder's skip decisions (codecs.block_skip) inside the training and validation forwards of the frame and
    # joint stages: the model is fitted to the mixed latents the encoder codes, and validation scores them.
    skip_blocks: bool = False
    # P-frames below their I-frame's quality (as the encoder's GopPolicy.inter_quality_offset, x264's ipratio): each
    # sample's P-frames are coded at its I-frame's level minus an offset drawn uniformly in [0, inter_offset_max] (at
    # least level 0), so the model learns to keep a sharper reference's detail rather than re-code it; validation
    # codes its P-frames at ``validation_inter_offset`` below the I-frame.
    inter_offset_max: float = 0.0
    validation_inter_offset: float = 0.0

    def __post_init__(self) -> None:
        if self.stage not in ("motion", "frame", "joint", "prior"):
            raise ValueError(f"unknown stage {self.stage!r}")
        if self.stage == "prior" and self.sequence_length != 2:
            raise ValueError("the prior stage trains on pairs (it does not reconstruct a reference for a third frame)")
        if self.inter_offset_max < 0 or self.validation_inter_offset < 0:
            raise ValueError("P-frame level offsets must be 0 or more")
        if self.validation_per_clip < 0:
            raise ValueError("validation sequences per clip must be 0 (off) or more")
        if self.validation_search_steps < 0:
            raise ValueError("motion search steps must be 0 or more")
        if self.sequence_length < 2:
            raise ValueError("a training sequence needs at least 2 frames")
        if self.crop_size % InterModelConfig.STRIDE or self.validation_crop % InterModelConfig.STRIDE:
            raise ValueError(f"crop sizes must be multiples of {InterModelConfig.STRIDE}")
        if self.model.propagated_channels and self.stage in ("frame", "joint", "prior") and self.sequence_length < 3:
            # The first P-frame after the I-frame sees a zero context: on pairs, the entropy models and transforms
            # would be fitted to latents that the codec's later P-frames never make.
            raise ValueError("with propagated features, train on sequences of 3 frames or more (pairs never see them)")


def eight_bit_psnr(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """PSNR per sample of an output clamped and rounded to 8 bits (what a decoder writes)."""
    mse = ((x_hat.clamp(0, 1).mul(255).round() - x * 255) ** 2).mean((1, 2, 3))
    return 10 * torch.log10(255.0**2 / mse.clamp_min(1e-10))


class InterTraining:
    """The task of stages 2–4 (see module docstring)."""

    def __init__(self, config: InterTrainingConfig, model: InterModel, intra: ImageModel, train: list[Segment],
                 validation: list[Segment], seed: int):
        self.config = config
        self.model = model.to(memory_format=torch.channels_last)  # image training: 0.54 -> 0.44 s a step
        self.intra = intra.eval().to(memory_format=torch.channels_last)
        for parameter in self.intra.parameters():
            parameter.requires_grad_(False)
        self.crops = SequenceCrops(train, config.sequence_length, config.crop_size, seed)
        sequences = SequenceCrops(validation, config.validation_length, config.validation_crop, seed=12345)
        self.validation = (sequences.per_clip(config.validation_per_clip) if config.validation_per_clip
                           else sequences.batch(config.validation_sequences))
        self._intra_cache: dict[float, tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]] = {}
        for parameter in self._frozen_parameters():
            parameter.requires_grad_(False)

    def _frozen_parameters(self) -> Iterable[nn.Parameter]:
        model = self.model
        frozen: list[nn.Module] = []
        if self.config.stage == "motion":
            frozen += [model.frame_analysis, model.frame_latent, model.frame_synthesis]
        elif self.config.stage == "frame":
            frozen += [model.flow, model.motion]
        elif self.config.stage == "prior":
            entropy = {id(p) for p in model.entropy_parameters()}
            return (p for p in model.parameters() if id(p) not in entropy)
        return (p for module in frozen for p in module.parameters())

    def trainable_parameters(self) -> list[ParameterGroup]:
        """Four groups: the hyper-latents' factorized densities at ``density_lr_scale`` of the rate; the motion
        latents' gains at ``motion_gain_lr_scale``; what
        the image model brought (the frame coder's transforms and latent codec) at ``borrowed_lr_scale``
        (trained weights, fine-tuned gently); the rest at the full rate (modules that start at zero or from
        stage 1 must move far).

        The densities get their own rate because at the transforms' rate they barely move: after 2.3
        CPU-hours the motion coder's density was still near its initial width, and its hyper-latents cost
        0.059 bpp, twice the motion latents they describe (refitting it alone gave 0.017 bpp)."""
        model = self.model
        densities = {id(p) for codec in (model.motion.latent, model.frame_latent) for p in codec.z_prior.parameters()}
        motion_gains = {id(p) for p in model.motion.latent.gains.parameters()}
        new = {id(p) for module in model.new_modules() for p in module.parameters()} - densities - motion_gains
        trainable = [p for p in model.parameters() if p.requires_grad]
        groups = [{"params": [p for p in trainable if id(p) in densities], "lr_scale": self.config.density_lr_scale},
                  {"params": [p for p in trainable if id(p) in motion_gains],
                   "lr_scale": self.config.motion_gain_lr_scale},
                  {"params": [p for p in trainable if id(p) in new], "lr_scale": 1.0},
                  {"params": [p for p in trainable if id(p) not in new | densities | motion_gains],
                   "lr_scale": self.config.borrowed_lr_scale}]
        return [group for group in groups if group["params"]]

    def _intra_reconstruction(self, x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.intra(x, levels).x_hat.clamp(0, 1)

    def loss(self, rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        config = self.config
        frames = self.crops.batch(config.batch_size, rng)
        intra_levels = sample_levels(rng, config.batch_size, len(config.model.frame.level_lambdas), config.level_exponent)
        levels = intra_levels  # the P-frames'
        if config.inter_offset_max:  # (drawn only then: runs without it keep their random streams)
            offsets = torch.from_numpy(rng.uniform(0, config.inter_offset_max, config.batch_size)).float()
            levels = (intra_levels - offsets).clamp_min(0)
        lambdas = lambdas_of_levels(levels, config.model.frame.level_lambdas)
        # The motion stage warps the source frame: its loss needs no decoded reference, which would cost
        # about as much as the rest of its step (the image model's forward pass).
        first = frames[:, 0].contiguous(memory_format=torch.channels_last)
        reference = first if config.stage == "motion" else self._intra_reconstruction(first, intra_levels)
        total = torch.zeros(())
        stats = {"loss": 0.0, "bpp": 0.0, "motion_bpp": 0.0, "psnr": 0.0, "prediction_psnr": 0.0}
        # Propagated features (with InterModelConfig.propagated_channels) stay attached: the next frame's loss
        # is what trains the synthesis to propagate them (the pixels of the reference are detached).
        propagated: torch.Tensor | None = None
        for t in range(1, frames.shape[1]):
            x = frames[:, t].contiguous(memory_format=torch.channels_last)
            if config.stage == "motion":  # the frame coder is not needed: its output would not be used
                motion = self.model.motion_prediction(reference, x, levels)
                prediction_mse = ((motion.prediction - x) ** 2).mean((1, 2, 3))
                motion_bpp = motion.coded.bits() / (x.shape[2] * x.shape[3])
                cost = motion_bpp + lambdas * 255**2 * prediction_mse
                reference = x
                stats["bpp"] += motion_bpp.mean().item()
                stats["motion_bpp"] += motion_bpp.mean().item()
            elif config.stage == "prior":
                motion_coded, frame_coded = self.model.latent_rates(reference, x, levels)
                motion_bpp = motion_coded.bits() / (x.shape[2] * x.shape[3])
                cost = motion_bpp + frame_coded.bits() / (x.shape[2] * x.shape[3])
                stats["bpp"] += cost.mean().item()
                stats["motion_bpp"] += motion_bpp.mean().item()
            else:
                choose = None
                if config.skip_blocks:  # (drawn only then: runs without it keep their random streams)
                    # Each sample stands for a P-frame at a random place in a GOP: how many frames predict from it
                    # sets its skip decisions' distortion weight (as in the encoder).
                    frames_after = rng.integers(0, DEFAULT_GOP - 1, size=config.batch_size).tolist()
                    choose = self._skip_choice(x, levels, frames_after)
                out = self.model(reference, x, levels, propagated=propagated, choose=choose)
                propagated = out.propagated
                prediction_mse = ((out.prediction - x) ** 2).mean((1, 2, 3))
                mse = ((out.x_hat - x) ** 2).mean((1, 2, 3))
                cost = out.bits_per_pixel() + lambdas * 255**2 * mse
                reference = out.x_hat.detach().clamp(0, 1)
                stats["bpp"] += out.bits_per_pixel().mean().item()
                stats["motion_bpp"] += out.motion_bits_per_pixel().mean().item()
                stats["psnr"] += float(-10 * torch.log10(mse.mean()).item())
            total = total + cost.mean()
            if config.stage != "prior":  # which does not predict: its stats stay 0
                stats["prediction_psnr"] += float(-10 * torch.log10(prediction_mse.mean()).item())
        steps = frames.shape[1] - 1
        loss = total / steps
        stats = {k: v / steps for k, v in stats.items()}
        stats["loss"] = loss.item()
        return loss, stats

    def _motion_search(self, reference: torch.Tensor, x: torch.Tensor, levels: torch.Tensor) -> MotionRefinement | None:
        """The encoder's motion search for this pair, as the validation forward's ``refine`` (None: no search).

        ``refine`` sees only the motion features, so the pair is bound here (a partial, not a closure)."""
        steps = self.config.validation_search_steps
        if steps == 0:
            return None
        height, width = x.shape[2:]
        return partial(search_motion, self.model, reference.float(), x.float(), level=levels, steps=steps,
                       height=height, width=width)

    def _skip_choice(self, x: torch.Tensor, levels: torch.Tensor, frames_after: list[int]) -> FrameLatentChoice | None:
        """The encoder's skip decisions for this batch, as a forward's ``choose`` (None without ``skip_blocks``)."""
        if not self.config.skip_blocks:
            return None
        weight = decision_weight(levels, frames_after, self.config.model.frame.level_lambdas)
        return partial(choose_skipped_blocks, self.model, x, levels, weight)

    @torch.no_grad()
    def _all_intra(self, level: float) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """(bits, PSNR, 8-bit reconstruction) of every validation frame coded as an I-frame (cached: the
        image model is frozen)."""
        if level not in self._intra_cache:
            frames = self.validation
            levels = torch.full((frames.shape[0],), level)
            outputs = [self.intra(frames[:, t], levels) for t in range(frames.shape[1])]
            pixels = frames.shape[3] * frames.shape[4]
            self._intra_cache[level] = (
                [out.bits_per_pixel() * pixels for out in outputs],
                [eight_bit_psnr(out.x_hat, frames[:, t]) for t, out in enumerate(outputs)],
                [out.x_hat.clamp(0, 1).mul(255).round() / 255 for out in outputs],
            )
        return self._intra_cache[level]

    @torch.no_grad()
    def validate(self) -> dict[str, object]:
        frames = self.validation
        count, length = frames.shape[:2]
        pixels = frames.shape[3] * frames.shape[4]
        inter_bpp, inter_psnr, intra_bpp, intra_psnr, p_share = [], [], [], [], []
        motion_costs, motion_bpps, prediction_psnrs = [], [], []
        inter_levels = [max(0.0, level - self.config.validation_inter_offset) for level in VALIDATION_LEVELS]
        lambdas = lambdas_of_levels(torch.tensor(inter_levels), self.config.model.frame.level_lambdas)
        for intra_level, level, lam in zip(VALIDATION_LEVELS, inter_levels, lambdas.tolist(), strict=True):
            levels = torch.full((count,), level)
            intra_bits, intra_psnrs, intra_decoded = self._all_intra(intra_level)
            bits, psnrs, reference = [intra_bits[0]], [intra_psnrs[0]], intra_decoded[0]
            propagated: torch.Tensor | None = None
            for t in range(1, length):
                search = self._motion_search(reference, frames[:, t], levels)
                skips = self._skip_choice(frames[:, t], levels, [length - 1 - t] * count)
                out = self.model(reference, frames[:, t], levels, refine=search, propagated=propagated, choose=skips)
                propagated = out.propagated
                bits.append(out.bits_per_pixel() * pixels)
                psnrs.append(eight_bit_psnr(out.x_hat, frames[:, t]))
                prediction_mse = ((out.prediction - frames[:, t]) ** 2).mean()
                motion_bpps.append(float(out.motion_bits_per_pixel().mean()))
                motion_costs.append(motion_bpps[-1] + lam * 255**2 * float(prediction_mse))
                prediction_psnrs.append(float(-10 * torch.log10(prediction_mse)))
                reference = out.x_hat.clamp(0, 1).mul(255).round() / 255
            inter_bpp.append(float(torch.stack(bits).mean() / pixels))
            inter_psnr.append(float(torch.stack(psnrs).mean()))
            intra_bpp.append(float(torch.stack(intra_bits).mean() / pixels))
            intra_psnr.append(float(torch.stack(intra_psnrs).mean()))
            p_share.append(float(torch.stack(bits[1:]).mean() / bits[0].mean()))
        bd = bd_rate_percent(intra_bpp, intra_psnr, inter_bpp, inter_psnr)
        # The motion stage's objective is the prediction's cost (the frame coder ignores it until trained).
        score = float(np.mean(motion_costs)) if self.config.stage == "motion" else float(bd)
        return {
            "score": score if np.isfinite(score) else float("inf"),
            "motion_cost": round(float(np.mean(motion_costs)), 4),
            "motion_bpp": round(float(np.mean(motion_bpps)), 4),
            "prediction_psnr": round(float(np.mean(prediction_psnrs)), 3),
            "bd_rate_vs_all_intra_percent": round(bd, 3),
            "levels": list(VALIDATION_LEVELS),
            "inter_levels": inter_levels,
            "bpp": [round(v, 4) for v in inter_bpp],
            "psnr": [round(v, 3) for v in inter_psnr],
            "intra_bpp": [round(v, 4) for v in intra_bpp],
            "intra_psnr": [round(v, 3) for v in intra_psnr],
            "p_to_i_bytes": [round(v, 3) for v in p_share],
        }

    def save(self, path: Path, metadata: dict[str, str]) -> None:
        save_weights(self.model, self.config.model, path, metadata)

    def load(self, path: Path) -> None:
        self.model.load_state_dict(load_state(path))

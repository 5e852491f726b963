"""Stage 1 of the P-frame curriculum: pre-training the flow CNN.

Half of each batch is synthetic pairs with exact flow (:mod:`tngvideo.training.synthetic_flow`),
half real pairs from the training clips with OpenCV's DIS flow as pseudo-ground-truth (a
training-only dependency). The loss is a robust end-point error at every pyramid level.
Validation: warping PSNR on held-out clips (what the codec needs from the flow), with DIS and
zero motion as references.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tngvideo.codecs.flow import FlowConfig, FlowEstimator, warp
from tngvideo.config_json import JsonConfig
from tngvideo.training.data import RandomCrops
from tngvideo.training.synthetic_flow import synthetic_pairs
from tngvideo.training.video_data import Segment, SequenceCrops
from tngvideo.zoo import CONFIG_KEY, load_state, read_metadata, save_weights


def dis_flow(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """OpenCV DIS flow (H, W, 2) with ``current(p) ≈ reference(p + flow(p))``, from HxWx3 uint8 frames."""
    import cv2

    estimator = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)  # type: ignore[attr-defined]
    gray = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in (current, reference)]
    return estimator.calc(gray[0], gray[1], None)


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def pseudo_ground_truth(pairs: torch.Tensor, margin: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(reference, current, DIS flow) from (B, 2, 3, S + 2·margin, ...) pairs, cut ``margin`` from every
    side after estimating (DIS sees context beyond the crop)."""
    flows = [torch.from_numpy(dis_flow(_to_uint8(pair[0]), _to_uint8(pair[1]))).permute(2, 0, 1) for pair in pairs]
    inner = (slice(None), slice(None), slice(margin, pairs.shape[3] - margin), slice(margin, pairs.shape[4] - margin))
    flow = torch.stack(flows)[inner].float()
    return pairs[:, 0][inner], pairs[:, 1][inner], flow


def multiscale_epe(estimates: list[torch.Tensor], flow: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Robust end-point error (Charbonnier) of every pyramid level against the downscaled true flow;
    the full-resolution output weighs 1, each coarser level half as much as the next finer."""
    total = torch.zeros(())
    weight = 1.0
    for estimate in reversed(estimates):
        factor = flow.shape[2] // estimate.shape[2]
        target = F.avg_pool2d(flow, factor) / factor if factor > 1 else flow
        mask = F.avg_pool2d(valid, factor) if factor > 1 else valid
        error = torch.sqrt(((estimate - target) ** 2).sum(1, keepdim=True) + 1e-6)
        total = total + weight * (error * mask).sum() / mask.sum().clamp_min(1)
        weight *= 0.5
    return total


def warp_psnr(reference: torch.Tensor, current: torch.Tensor, flow: torch.Tensor) -> float:
    mse = F.mse_loss(warp(reference, flow).clamp(0, 1), current).item()
    return float(-10 * np.log10(max(mse, 1e-12)))


@dataclass(frozen=True)
class FlowTrainingConfig(JsonConfig):
    """What a flow pre-training run draws (recorded with its checkpoints)."""

    model: FlowConfig = dataclasses.field(default_factory=FlowConfig)
    batch_size: int = 8
    crop_size: int = 192
    patch_size: int = 64
    dis_margin: int = 32
    validation_pairs: int = 48
    validation_crop: int = 256


class FlowPretraining:
    """The :class:`~tngvideo.training.loop.TrainingTask` of stage 1."""

    def __init__(self, config: FlowTrainingConfig, photos: list[np.ndarray], train: list[Segment],
                 validation: list[Segment], seed: int):
        self.config = config
        self.model: nn.Module = FlowEstimator(config.model)
        if config.crop_size % config.model.stride:
            raise ValueError(f"crop size must be a multiple of {config.model.stride}")
        self.references = RandomCrops(photos, config.crop_size, seed)
        self.patches = RandomCrops(photos, config.patch_size, seed + 1)
        self.real = SequenceCrops(train, 2, config.crop_size + 2 * config.dis_margin, seed + 2)
        pairs = SequenceCrops(validation, 2, config.validation_crop, seed=12345).batch(config.validation_pairs)
        self.validation = self._validation_set(pairs)

    @staticmethod
    def _validation_set(pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return pseudo_ground_truth(pairs, margin=0)

    def trainable_parameters(self) -> Iterable[nn.Parameter]:
        return self.model.parameters()

    def loss(self, rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        half = self.config.batch_size // 2
        synthetic = synthetic_pairs(rng, self.references.batch(half, rng), self.patches.batch(half, rng))
        real_ref, real_cur, real_flow = pseudo_ground_truth(self.real.batch(self.config.batch_size - half, rng),
                                                            self.config.dis_margin)
        reference = torch.cat((synthetic[0], real_ref))
        current = torch.cat((synthetic[1], real_cur))
        flow = torch.cat((synthetic[2], real_flow))
        valid = torch.cat((synthetic[3], torch.ones_like(real_flow[:, :1])))
        estimates = self.model.pyramid(reference, current)  # type: ignore[operator]
        loss = multiscale_epe(estimates, flow, valid)
        epe = torch.sqrt(((estimates[-1] - flow) ** 2).sum(1)).mean().item()
        return loss, {"loss": loss.item(), "epe": epe}

    def validate(self) -> dict[str, object]:
        reference, current, dis = self.validation
        with torch.no_grad():
            flows = torch.cat([self.model(reference[i : i + 8], current[i : i + 8]) for i in range(0, len(reference), 8)])
        psnr = warp_psnr(reference, current, flows)
        return {
            "score": -psnr,
            "warp_psnr": round(psnr, 3),
            "dis_warp_psnr": round(warp_psnr(reference, current, dis), 3),
            "zero_motion_psnr": round(warp_psnr(reference, current, torch.zeros_like(dis)), 3),
            "epe_vs_dis": round(float(torch.sqrt(((flows - dis) ** 2).sum(1)).mean()), 3),
        }

    def save(self, path: Path, metadata: dict[str, str]) -> None:
        save_weights(self.model, self.config.model, path, metadata)

    def load(self, path: Path) -> None:
        self.model.load_state_dict(load_state(path))


def flow_config_of(path: Path) -> FlowConfig:
    """The flow network's config stored in a weight file."""
    return FlowConfig.from_json(read_metadata(path)[CONFIG_KEY])

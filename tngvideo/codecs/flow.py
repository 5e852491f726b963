"""Optical flow for P-frames: a small coarse-to-fine CNN (encoder only) and backward warping.

Flow convention: ``flow[:, :, y, x] = (dx, dy)`` in pixels such that ``current(p) ≈ reference(p + flow(p))``,
so a prediction is the reference *sampled* at ``p + flow(p)`` (:func:`warp`). The flow network runs only
in the encoder; the decoder sees the coded motion, never this network's output.

:class:`FlowEstimator` is a coarse-to-fine matcher (in the manner of SpyNet and PWC-Net) whose every
level starts from classical block matching, so it estimates usable flow before any training (a
from-scratch CNN learnt nothing in 1000 CPU steps here: see docs/training.md)::

    level L (coarsest, 1/2^L) … level 1 (1/2 resolution), flow starting at 0:
        up      = 2·upsample(flow)
        costs   = SSD of current vs warp(reference, up) at every shift d in [-r, r]², box-filtered
        match   = Σ_d softmax(−costs / T)·d                       (soft block matching)
        flow    = up + match + net([softmax(−costs / T), current, flow])   (learned correction, starts at 0)
    output (full resolution): 2·upsample(flow at level 1)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from tngvideo.config_json import JsonConfig
from tngvideo.layers import conv

WarpInterpolation = Literal["bilinear", "bicubic"]


def warp(image: torch.Tensor, flow: torch.Tensor, interpolation: WarpInterpolation = "bilinear") -> torch.Tensor:
    """``image`` sampled at ``p + flow(p)`` (bilinear or bicubic, border pixels repeated outside the picture).

    Each output pixel is computed on its own, so the result does not depend on the thread count.
    """
    _, _, height, width = image.shape
    ys = torch.arange(height, dtype=image.dtype).view(1, height, 1)
    xs = torch.arange(width, dtype=image.dtype).view(1, 1, width)
    # align_corners=True maps -1 / +1 to the centres of the first / last pixel.
    grid_x = (xs + flow[:, 0]) * (2.0 / max(width - 1, 1)) - 1.0
    grid_y = (ys + flow[:, 1]) * (2.0 / max(height - 1, 1)) - 1.0
    grid = torch.stack((grid_x, grid_y), dim=-1)
    return F.grid_sample(image, grid, mode=interpolation, padding_mode="border", align_corners=True)


def upsample_flow(flow: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear upsampling of a flow field to (height, width), its vectors scaled to the new pixel size."""
    scale = torch.tensor([width / flow.shape[3], height / flow.shape[2]], dtype=flow.dtype).view(1, 2, 1, 1)
    return F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False) * scale


def matching_costs(current: torch.Tensor, reference: torch.Tensor, radius: int, window: int) -> torch.Tensor:
    """(B, (2r+1)², H, W): squared difference of ``current`` and ``reference`` shifted by every d in
    [-r, r]² (row-major, dy outer), summed over channels and averaged over a ``window``² box."""
    height, width = current.shape[2:]
    padded = F.pad(reference, (radius,) * 4, mode="replicate")
    size = 2 * radius + 1
    costs = torch.cat([((current - padded[:, :, dy : dy + height, dx : dx + width]) ** 2).sum(1, keepdim=True)
                       for dy in range(size) for dx in range(size)], dim=1)
    return F.avg_pool2d(costs, window, stride=1, padding=window // 2, count_include_pad=False)


@dataclass(frozen=True)
class FlowConfig(JsonConfig):
    """Architecture of the flow network."""

    levels: int = 5  # pyramid levels, the finest at 1/2 resolution, the coarsest at 1/2**levels
    radius: int = 3  # block matching searches ±radius pixels at every level
    window: int = 9  # block size of the matching costs
    temperature: float = 5e-4  # initial softmax temperature of the matching (learned)
    hidden: tuple[int, ...] = (32, 32)

    @classmethod
    def from_json(cls, text: str) -> FlowConfig:
        fields = json.loads(text)
        return cls(**{**fields, "hidden": tuple(fields["hidden"])})

    @property
    def stride(self) -> int:
        """Inputs are padded to a multiple of this."""
        return 2**self.levels

    @property
    def shifts(self) -> int:
        return (2 * self.radius + 1) ** 2


class _LevelNet(nn.Module):
    """One pyramid level's learned correction: (matching probabilities, current, flow) -> flow change."""

    def __init__(self, config: FlowConfig):
        super().__init__()
        layers: list[nn.Module] = []
        channels = config.shifts + 3 + 2
        for width in config.hidden:
            layers += [conv(channels, width, kernel_size=3, stride=1), nn.LeakyReLU(0.1)]
            channels = width
        last = conv(channels, 2, kernel_size=3, stride=1)
        for parameter in last.parameters():
            nn.init.zeros_(parameter)
        self.net = nn.Sequential(*layers, last)

    def forward(self, probabilities: torch.Tensor, current: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat((probabilities, current, flow), dim=1))


class FlowEstimator(nn.Module):
    """Coarse-to-fine flow from ``reference`` to ``current`` (see module docstring)."""

    def __init__(self, config: FlowConfig):
        super().__init__()
        self.config = config
        self.levels = nn.ModuleList(_LevelNet(config) for _ in range(config.levels))
        self.log_temperature = nn.Parameter(torch.tensor(math.log(config.temperature)))
        span = torch.arange(-config.radius, config.radius + 1, dtype=torch.float32)
        dy, dx = torch.meshgrid(span, span, indexing="ij")
        self.shifts: torch.Tensor
        self.register_buffer("shifts", torch.stack((dx.flatten(), dy.flatten())), persistent=False)  # (2, shifts)

    def forward(self, reference: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        """Full-resolution flow (B, 2, H, W); H and W any size (padded internally)."""
        return self.pyramid(reference, current)[-1]

    def pyramid(self, reference: torch.Tensor, current: torch.Tensor) -> list[torch.Tensor]:
        """The flow estimated at every level, coarsest first, then the full-resolution output (for
        multi-scale supervision)."""
        config = self.config
        height, width = current.shape[2:]
        pad = (0, (-width) % config.stride, 0, (-height) % config.stride)
        reference, current = F.pad(reference, pad, mode="replicate"), F.pad(current, pad, mode="replicate")
        references, currents = [], []
        for _ in range(config.levels):
            reference, current = F.avg_pool2d(reference, 2), F.avg_pool2d(current, 2)
            references.append(reference)
            currents.append(current)
        flow = torch.zeros_like(references[-1][:, :2])
        estimates = []
        for net, ref, cur in zip(reversed(self.levels), reversed(references), reversed(currents), strict=True):
            if flow.shape[2:] != cur.shape[2:]:
                flow = upsample_flow(flow, *cur.shape[2:])
            costs = matching_costs(cur, warp(ref, flow), config.radius, config.window)
            probabilities = torch.softmax(-costs / self.log_temperature.exp(), dim=1)
            flow = flow + torch.einsum("bshw,cs->bchw", probabilities, self.shifts)
            flow = flow + net(probabilities, cur, flow)
            estimates.append(flow)
        full = upsample_flow(flow, 2 * flow.shape[2], 2 * flow.shape[3])
        estimates.append(full[:, :, :height, :width])
        return estimates

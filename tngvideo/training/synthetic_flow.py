"""Frame pairs with exact optical flow, made from still photographs (flow pre-training data).

No flow network weights can be had offline, so the flow CNN first learns from pairs whose flow is
known by construction: the current frame is the reference warped by a random global motion
(affine: translation, rotation, zoom) plus a smooth elastic field, with a patch of another photo
pasted on top moving on its own (occlusions, motion boundaries) and a brightness change.
The flow follows :func:`tngvideo.codecs.flow.warp`'s convention: ``current(p) = reference(p + flow(p))``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from tngvideo.codecs.flow import warp


def random_smooth_flow(rng: np.random.Generator, batch: int, size: int, max_shift: float) -> torch.Tensor:
    """(B, 2, size, size): an affine motion about the centre plus a smooth elastic field."""
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    flows = []
    for _ in range(batch):
        angle = math.radians(rng.uniform(-6, 6))
        zoom = math.exp(rng.uniform(-0.08, 0.08))
        tx, ty = rng.uniform(-max_shift, max_shift, 2)
        cos, sin = zoom * math.cos(angle), zoom * math.sin(angle)
        source_x = cos * xs - sin * ys + tx
        source_y = sin * xs + cos * ys + ty
        affine = torch.stack((source_x - xs, source_y - ys))
        grid = int(rng.integers(2, 6))
        elastic = torch.from_numpy(rng.normal(0, rng.uniform(0, 3), (1, 2, grid, grid))).float()
        elastic = F.interpolate(elastic, size=(size, size), mode="bicubic", align_corners=True)[0]
        flows.append(affine + elastic)
    return torch.stack(flows)


def synthetic_pairs(
    rng: np.random.Generator, references: torch.Tensor, patches: torch.Tensor, max_shift: float = 12.0,
    photometric: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(reference, current, flow, valid) from (B, 3, S, S) reference crops and (B, 3, P, P) patches;
    ``photometric``: the current frame also gets a brightness gain and noise (the flow stays exact).

    ``valid`` (B, 1, S, S) marks pixels whose source ``p + flow(p)`` lies inside the reference.
    """
    batch, _, size, _ = references.shape
    patch_size = patches.shape[2]
    references = references.clone()
    flow = random_smooth_flow(rng, batch, size, max_shift)
    pasted: list[tuple[int, int] | None] = []
    for i in range(batch):
        if rng.random() < 0.6:
            top, left = (int(v) for v in rng.integers(0, size - patch_size + 1, 2))
            references[i, :, top : top + patch_size, left : left + patch_size] = patches[i]
            pasted.append((top, left))
        else:
            pasted.append(None)
    current = warp(references, flow)
    coords = torch.arange(size, dtype=torch.float32)
    inside_x = ((coords.view(1, 1, 1, size) + flow[:, :1]) >= 0) & ((coords.view(1, 1, 1, size) + flow[:, :1]) <= size - 1)
    inside_y = ((coords.view(1, 1, size, 1) + flow[:, 1:]) >= 0) & ((coords.view(1, 1, size, 1) + flow[:, 1:]) <= size - 1)
    valid = inside_x & inside_y
    for i, where in enumerate(pasted):
        if where is None:
            continue
        top, left = where
        dy, dx = (int(v) for v in rng.integers(-int(max_shift), int(max_shift) + 1, 2))
        new_top = min(max(top + dy, 0), size - patch_size)
        new_left = min(max(left + dx, 0), size - patch_size)
        region = (slice(new_top, new_top + patch_size), slice(new_left, new_left + patch_size))
        current[i, :, region[0], region[1]] = patches[i]
        flow[i, 0, region[0], region[1]] = float(left - new_left)
        flow[i, 1, region[0], region[1]] = float(top - new_top)
        valid[i, :, region[0], region[1]] = True
    if photometric:
        gain = torch.from_numpy(rng.uniform(0.9, 1.1, (batch, 1, 1, 1))).float()
        current = (current * gain + torch.randn_like(current) * 0.005).clamp(0, 1)
    return references, current, flow, valid.float()

"""Encoder-side motion search: choose a P-frame's block motion vectors for its prediction and their rate.

The flow network proposes the block vectors (its flow averaged over 16×16 blocks), but the decoder
predicts with those vectors *bilinearly interpolated*, and the network was never told which vectors
predict best under that interpolation or cost fewest bits. The search starts from its proposal and
takes a few Adam steps on the motion part of the training objective, for this one frame::

    cost(v) = motion bits(v) / pixels + λ · 255² · MSE(warp(reference, interpolate(v) + correction), x)

with the motion latent codec's exact (rounded, straight-through) rate, and the motion synthesis's
learned correction held at its value for the proposal (running the synthesis at every step would cost
more than the whole search). The frame's other motion latents stay as the analysis made them.

Only the encoder changes: the vectors are coded like any others, so every decoder reads the files and
the reconstruction stays bit-exact. Measured on validation crops (docs/training.md, *Session 15*).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from tngvideo.codecs.flow import warp
from tngvideo.codecs.image_model import lambdas_of_levels
from tngvideo.codecs.inter_model import BLOCK_VECTOR_UNITS, InterModel

DEFAULT_SEARCH_STEPS = 8
STEP_PIXELS = 0.15  # Adam's step on the vectors, in pixels (0.1-0.2 measured alike; larger oscillates)


def decoded_motion(model: InterModel, features: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """The motion latents a decoder would see for ``features`` (rounded as the training forward rounds,
    close to the exact coder's): what the held correction of :func:`search_block_vectors` is computed from."""
    with torch.no_grad():
        return model.motion.latent(features, level).decoded


def search_block_vectors(model: InterModel, reference: torch.Tensor, x: torch.Tensor, features: torch.Tensor,
                         correction: torch.Tensor, level: torch.Tensor, steps: int, height: int,
                         width: int) -> torch.Tensor:
    """``features`` (the motion analysis's output for ``x``, (1, M, h, w), block vectors first) with block
    vectors searched for the lowest cost above; ``correction`` is ``model.motion.synthesis`` of
    :func:`decoded_motion` times ``FLOW_SCALE`` (the caller runs it under its tiling rule), and the
    distortion counts the frame's ``height`` × ``width`` pixels only (not the padding). ``steps`` = 0
    returns ``features`` unchanged; otherwise the cheapest vectors seen are returned, so the search never
    ends worse than its start."""
    if steps <= 0:
        return features
    lam = float(lambdas_of_levels(level, model.config.frame.level_lambdas)[0])
    latent = model.motion.latent
    gain, inverse_gain = latent.gains(level)
    learned = features[:, 2:]
    size = x.shape[2:]
    target = x[:, :, :height, :width]
    vectors = (features[:, :2] / BLOCK_VECTOR_UNITS).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([vectors], lr=STEP_PIXELS)
    best_cost, best = float("inf"), vectors.detach().clone()
    with torch.enable_grad():
        for step in range(steps + 1):  # the last pass only scores the last step's vectors
            coded = latent.from_gained(torch.cat((vectors * BLOCK_VECTOR_UNITS, learned), dim=1) * gain, inverse_gain)
            blocks = F.interpolate(coded.decoded[:, :2] / BLOCK_VECTOR_UNITS, size=size, mode="bilinear",
                                   align_corners=False)
            prediction = warp(reference, blocks + correction)[:, :, :height, :width]
            cost = coded.bits().sum() / (height * width) + lam * 255**2 * ((prediction - target) ** 2).mean()
            if cost.item() < best_cost:
                best_cost, best = cost.item(), vectors.detach().clone()
            if step == steps:
                break
            optimizer.zero_grad()
            cost.backward(inputs=[vectors])
            optimizer.step()
    return torch.cat((best * BLOCK_VECTOR_UNITS, learned), dim=1)

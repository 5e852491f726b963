"""Quantization proxies for training (Minnen & Singh, ICIP 2020, "mixed quantization").

The rate term sees additive uniform noise (a smooth density); the decoder sees straight-through
rounding, so training already feeds it the integers it will get at test time.
"""

from __future__ import annotations

import torch


def add_uniform_noise(x: torch.Tensor) -> torch.Tensor:
    """x + U(-1/2, 1/2): the differentiable stand-in for rounding in the rate term."""
    return x + torch.empty_like(x).uniform_(-0.5, 0.5)


def round_straight_through(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity gradient in the backward pass."""
    return x + (torch.round(x) - x).detach()

"""Conditional Gaussian prior for latents, with the integer tables used to entropy-code them.

Training: each latent ``y`` has a predicted mean ``mu`` and scale ``sigma``; its rate is
``-log2 P(y)`` with ``P`` the Gaussian mass of the unit interval around ``y`` (Minnen et al. 2018).

Coding: symbols are ``round(y - mu)``, coded with a *zero-mean* Gaussian whose scale is snapped to a
fixed table of :data:`SCALE_LEVELS` values (CompressAI's scheme). The table's pmfs are integers
computed once and stored with the weights, so the coding probabilities depend only on an integer
scale index: float drift between machines cannot desynchronise a decoder.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tngvideo.entropy.pmf import LIKELIHOOD_FLOOR, quantize_pmf
from tngvideo.layers import lower_bound

SCALE_MIN = 0.11
SCALE_MAX = 256.0
SCALE_LEVELS = 64
TAIL_SIGMAS = 10.0
MIN_SUPPORT = 16


def scale_table() -> np.ndarray:
    """The 64 log-spaced scales a coded latent's sigma is snapped to (float64)."""
    return np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), SCALE_LEVELS))


def gaussian_likelihood(values: torch.Tensor, means: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """Mass of N(means, scales) on [values - 1/2, values + 1/2], floored so log2 stays finite."""
    scales = lower_bound(scales, SCALE_MIN)
    centred = torch.abs(values - means)
    # Use the upper tail (1 - cdf) on both sides: it does not lose precision far from the mean.
    upper = _standard_normal_cdf((0.5 - centred) / scales)
    lower = _standard_normal_cdf((-0.5 - centred) / scales)
    return lower_bound(upper - lower, LIKELIHOOD_FLOOR)


def _standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-x * (2**-0.5))


def scale_pmf_tables(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer pmfs for zero-mean quantized Gaussians, one per table scale.

    Returns ``(pmfs, supports)``: ``pmfs[i, :2*supports[i]+1]`` is the pmf of symbols
    ``-supports[i]..supports[i]`` (tails folded into the end symbols), zero-padded to a common width.
    """
    supports = np.maximum(np.ceil(scales * TAIL_SIGMAS), MIN_SUPPORT).astype(np.int64)
    width = 2 * int(supports.max()) + 1
    pmfs = np.zeros((len(scales), width), dtype=np.int64)
    for i, (scale, support) in enumerate(zip(scales, supports)):
        edges = (np.arange(-support, support + 2, dtype=np.float64) - 0.5) / scale
        cdf = 0.5 * np.array([math.erfc(-e / math.sqrt(2)) for e in edges])
        pmf = np.diff(cdf)
        pmf[0] += cdf[0]
        pmf[-1] += 1 - cdf[-1]
        pmfs[i, : 2 * support + 1] = quantize_pmf(pmf)
    return pmfs, supports

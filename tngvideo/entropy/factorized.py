"""Factorized (non-parametric, per-channel) prior for hyper-latents.

Ballé et al., "Variational image compression with a scale hyperprior", ICLR 2018, appendix 6.1:
each channel has a learned monotone CDF ``c(x)``, built from small matrices kept positive by
softplus and tanh-gated residuals; a quantized value ``k`` has probability ``c(k + 1/2) - c(k - 1/2)``.

For coding, :meth:`FactorizedPrior.integer_pmfs` tabulates each channel's pmf on a fixed integer
support as integer counts, computed once when the weights are exported and stored with them, so the
encoder and every decoder code with the very same integers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tngvideo.entropy.pmf import LIKELIHOOD_FLOOR, quantize_pmf
from tngvideo.layers import lower_bound


class FactorizedPrior(nn.Module):
    """Per-channel learned density for integer-quantized hyper-latents."""

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0):
        super().__init__()
        self.channels = channels
        dims = (1, *filters, 1)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = float(np.log(np.expm1(1 / scale / dims[i + 1])))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))

    def _logits_cdf(self, values: torch.Tensor) -> torch.Tensor:
        """values: (channels, 1, n) -> logits of the CDF, same shape."""
        logits = values
        for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            logits = torch.matmul(F.softplus(matrix), logits) + bias
            if i < len(self.factors):
                logits = logits + torch.tanh(self.factors[i]) * torch.tanh(logits)
        return logits

    def likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """Probability mass of the unit interval centred on each value of ``z`` (B, C, H, W)."""
        batch, channels, height, width = z.shape
        values = z.permute(1, 0, 2, 3).reshape(channels, 1, -1)
        lower = self._logits_cdf(values - 0.5)
        upper = self._logits_cdf(values + 0.5)
        # Evaluate on the side of the median where the sigmoid is not saturated (numerically stable).
        sign = -torch.sign(lower + upper).detach()
        mass = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        mass = mass.reshape(channels, batch, height, width).permute(1, 0, 2, 3)
        return lower_bound(mass, LIKELIHOOD_FLOOR)

    @torch.no_grad()
    def integer_pmfs(self, support: int) -> torch.Tensor:
        """Integer pmfs (channels, 2*support+1) over ``-support..support``; tails folded into the ends."""
        grid = torch.arange(-support, support + 1, dtype=torch.float64)
        values = grid.to(self.matrices[0].dtype).view(1, 1, -1).expand(self.channels, 1, -1)
        cdf_edges = torch.sigmoid(self._logits_cdf(torch.cat([values - 0.5, values[..., -1:] + 0.5], -1)))
        cdf = cdf_edges.squeeze(1).double()
        pmf = cdf[:, 1:] - cdf[:, :-1]
        pmf[:, 0] += cdf[:, 0]
        pmf[:, -1] += 1 - cdf[:, -1]
        return torch.from_numpy(np.stack([quantize_pmf(row) for row in pmf.numpy()]))


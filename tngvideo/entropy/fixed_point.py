"""Exact fixed-point evaluation of the networks whose outputs parameterise the entropy coder.

A 1e-7 difference in a predicted scale or mean between encoder and decoder corrupts the rest of
the bitstream, and float convolutions differ across thread counts and CPUs. So the
hyper-synthesis runs here on integers (Ballé, Johnston & Minnen, "Integer networks for data
compression with latent-variable models", ICLR 2019, done post-training):

- weights are rounded to ``WEIGHT_BITS`` fractional bits, activations carry ``ACTIVATION_BITS``;
- convolutions run in float64 on integer-valued tensors: every product and partial sum is an
  integer below 2**53, so the result is exact whatever the summation order (BLAS blocking,
  thread count, SIMD width);
- rescaling is ``floor(acc / 2**WEIGHT_BITS)``, exact in binary floating point.

Only Conv2d, ConvTranspose2d and ReLU are supported, which is why the hyper-synthesis uses ReLU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from tngvideo.errors import BitstreamError

WEIGHT_BITS = 14
ACTIVATION_BITS = 10
_EXACT_LIMIT = 2.0**52


@dataclass(frozen=True)
class _IntegerConv:
    """A convolution with integer weights (``WEIGHT_BITS``) and bias (``WEIGHT_BITS + ACTIVATION_BITS``)."""

    layer: nn.Conv2d | nn.ConvTranspose2d
    weight: torch.Tensor
    bias: torch.Tensor
    largest_output_bound: float  # max over output channels of sum |w| (per unit of max |x|) ...
    largest_bias: float  # ... plus max |b|: a cheap bound on every partial sum

    @classmethod
    def of(cls, layer: nn.Conv2d | nn.ConvTranspose2d) -> _IntegerConv:
        weight = torch.round(layer.weight.detach().double() * 2.0**WEIGHT_BITS)
        bias = layer.bias.detach().double() if layer.bias is not None else torch.zeros(layer.out_channels, dtype=torch.float64)
        bias = torch.round(bias * 2.0 ** (WEIGHT_BITS + ACTIVATION_BITS))
        output_dim = 1 if isinstance(layer, nn.ConvTranspose2d) else 0
        per_output = weight.abs().sum(dim=[d for d in range(4) if d != output_dim])
        return cls(layer, weight, bias, float(per_output.max()), float(bias.abs().max()))

    def accumulate(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        layer = self.layer
        if isinstance(layer, nn.ConvTranspose2d):
            return F.conv_transpose2d(
                x, weight, bias, layer.stride, layer.padding, layer.output_padding  # type: ignore[arg-type]
            )
        return F.conv2d(x, weight, bias, layer.stride, layer.padding)  # type: ignore[arg-type]

    def _exact_bound(self, x: torch.Tensor) -> float:
        return float(self.accumulate(x.abs(), self.weight.abs(), self.bias.abs()).max())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # sum |w|·|x| bounds every partial sum, so below 2**52 the float64 result is exact. The cheap
        # bound (max |x| times the largest sum |w|) almost always settles it without a second convolution.
        cheap_bound = float(x.abs().max()) * self.largest_output_bound + self.largest_bias
        if cheap_bound >= _EXACT_LIMIT and self._exact_bound(x) >= _EXACT_LIMIT:
            raise BitstreamError("fixed-point overflow in the entropy-parameter network")
        return torch.floor(self.accumulate(x, self.weight, self.bias) * 2.0**-WEIGHT_BITS)


class FixedPointNetwork:
    """Integer twin of an ``nn.Sequential`` of Conv2d / ConvTranspose2d / ReLU layers."""

    def __init__(self, network: nn.Sequential):
        self._steps: list[_IntegerConv | None] = []  # None stands for ReLU
        for layer in network:
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                self._steps.append(_IntegerConv.of(layer))
            elif isinstance(layer, nn.ReLU):
                self._steps.append(None)
            else:
                raise TypeError(f"{type(layer).__name__} has no exact fixed-point form")

    def __call__(self, integers: torch.Tensor) -> torch.Tensor:
        """Integer inputs (real values) -> outputs as integers scaled by ``2**ACTIVATION_BITS`` (float64)."""
        return self.run_fixed(integers.double() * 2.0**ACTIVATION_BITS)

    def run_fixed(self, x: torch.Tensor) -> torch.Tensor:
        """Fixed-point inputs (integers scaled by ``2**ACTIVATION_BITS``) -> fixed-point outputs."""
        for step in self._steps:
            x = torch.clamp_min(x, 0.0) if step is None else step(x)
        return x


def to_real(fixed: torch.Tensor) -> torch.Tensor:
    """Fixed-point integers -> their exact float64 values."""
    return fixed * 2.0**-ACTIVATION_BITS

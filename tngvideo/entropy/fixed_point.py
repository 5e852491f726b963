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

import torch
from torch import nn
from torch.nn import functional as F

from tngvideo.errors import BitstreamError

WEIGHT_BITS = 14
ACTIVATION_BITS = 10
_EXACT_LIMIT = 2.0**52


class FixedPointNetwork:
    """Integer twin of an ``nn.Sequential`` of Conv2d / ConvTranspose2d / ReLU layers."""

    def __init__(self, network: nn.Sequential):
        self._layers: list[tuple[nn.Module, torch.Tensor | None, torch.Tensor | None]] = []
        for layer in network:
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                weight = torch.round(layer.weight.detach().double() * 2.0**WEIGHT_BITS)
                bias = layer.bias.detach().double() if layer.bias is not None else torch.zeros(layer.out_channels)
                bias = torch.round(bias * 2.0 ** (WEIGHT_BITS + ACTIVATION_BITS))
                self._layers.append((layer, weight, bias))
            elif isinstance(layer, nn.ReLU):
                self._layers.append((layer, None, None))
            else:
                raise TypeError(f"{type(layer).__name__} has no exact fixed-point form")

    def __call__(self, integers: torch.Tensor) -> torch.Tensor:
        """Integer inputs (real values) -> outputs as integers scaled by ``2**ACTIVATION_BITS`` (float64)."""
        x = integers.double() * 2.0**ACTIVATION_BITS
        for layer, weight, bias in self._layers:
            if weight is None:
                x = torch.clamp_min(x, 0.0)
                continue
            # sum |w|·|x| bounds every partial sum, so below 2**52 the float64 result is exact.
            if float(_apply(layer, x.abs(), weight.abs(), bias.abs()).max()) >= _EXACT_LIMIT:
                raise BitstreamError("fixed-point overflow in the entropy-parameter network")
            x = torch.floor(_apply(layer, x, weight, bias) * 2.0**-WEIGHT_BITS)
        return x


def _apply(layer: nn.Module, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    if isinstance(layer, nn.ConvTranspose2d):
        return F.conv_transpose2d(
            x, weight, bias, layer.stride, layer.padding, layer.output_padding  # type: ignore[arg-type]
        )
    assert isinstance(layer, nn.Conv2d)
    return F.conv2d(x, weight, bias, layer.stride, layer.padding)  # type: ignore[arg-type]


def to_real(fixed: torch.Tensor) -> torch.Tensor:
    """Fixed-point integers -> their exact float64 values."""
    return fixed * 2.0**-ACTIVATION_BITS

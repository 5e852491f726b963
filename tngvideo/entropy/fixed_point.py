"""Exact fixed-point evaluation of the networks whose outputs parameterise the entropy coder.

A 1e-7 difference in a predicted scale or mean between encoder and decoder corrupts the rest of
the bitstream, and float convolutions differ across thread counts and CPUs. So the
hyper-synthesis runs here on integers (Ballé, Johnston & Minnen, "Integer networks for data
compression with latent-variable models", ICLR 2019, done post-training):

- weights are rounded to ``WEIGHT_BITS`` fractional bits, activations carry ``ACTIVATION_BITS``;
- convolutions run in float64 on integer-valued tensors: every product and partial sum is an
  integer below 2**53, so the result is exact whatever the summation order (BLAS blocking,
  thread count, SIMD width);
- rescaling is ``floor(acc / 2**WEIGHT_BITS)``, exact in binary floating point;
- being exact, a network can run a band of output rows at a time (:meth:`FixedPointNetwork.run_rows`)
  with the very result of the whole computation, so coding memory need not grow with the picture.

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
    row_geometry: tuple[int, int, int]  # (kernel, stride, padding) along the rows

    @classmethod
    def of(cls, layer: nn.Conv2d | nn.ConvTranspose2d) -> _IntegerConv:
        if isinstance(layer.padding, str):
            raise TypeError(f"{type(layer).__name__} with padding={layer.padding!r} has no exact fixed-point form")
        weight = torch.round(layer.weight.detach().double() * 2.0**WEIGHT_BITS)
        bias = layer.bias.detach().double() if layer.bias is not None else torch.zeros(layer.out_channels, dtype=torch.float64)
        bias = torch.round(bias * 2.0 ** (WEIGHT_BITS + ACTIVATION_BITS))
        output_dim = 1 if isinstance(layer, nn.ConvTranspose2d) else 0
        per_output = weight.abs().sum(dim=[d for d in range(4) if d != output_dim])
        geometry = (layer.kernel_size[0], layer.stride[0], layer.padding[0])
        return cls(layer, weight, bias, float(per_output.max()), float(bias.abs().max()), geometry)

    @property
    def _transposed(self) -> bool:
        return isinstance(self.layer, nn.ConvTranspose2d)

    def output_height(self, height: int) -> int:
        """Rows of the output of an input of ``height`` rows (PyTorch's shape rule)."""
        kernel, stride, padding = self.row_geometry
        if self._transposed:
            return (height - 1) * stride - 2 * padding + kernel + self.layer.output_padding[0]
        return (height + 2 * padding - kernel) // stride + 1

    def input_rows(self, rows: range) -> range:
        """The input rows that output ``rows`` read, rows of the zero padding (beyond the input's edges) included."""
        kernel, stride, padding = self.row_geometry
        if self._transposed:  # input row i reaches output rows stride * i - padding + tap, 0 <= tap < kernel
            return range(-(-(rows.start + padding - kernel + 1) // stride), (rows.stop - 1 + padding) // stride + 1)
        return range(rows.start * stride - padding, (rows.stop - 1) * stride - padding + kernel)

    def accumulate(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """The layer without its zero padding along the rows (see :meth:`rows`), with the one along the columns."""
        layer = self.layer
        column_padding = (0, layer.padding[1])
        if isinstance(layer, nn.ConvTranspose2d):
            return F.conv_transpose2d(x, weight, bias, layer.stride, column_padding, layer.output_padding)  # type: ignore[arg-type]
        return F.conv2d(x, weight, bias, layer.stride, column_padding)  # type: ignore[arg-type]

    def rows(self, x: torch.Tensor, held: range, wanted: range) -> torch.Tensor:
        """Output rows ``wanted`` (all within the output) from ``x``, the input's rows ``held``: those of
        ``input_rows(wanted)`` within the input. The zero padding is added here, only beyond the input's
        true edges, so the rows equal those of the whole output whatever band they are computed in."""
        if self._transposed:  # absent input rows add nothing; unpadded output row q is layer row first + q
            _, stride, padding = self.row_geometry
            first = stride * held.start - padding
        else:
            needed = self.input_rows(wanted)
            x = F.pad(x, (0, 0, held.start - needed.start, needed.stop - held.stop))
            first = wanted.start
        crop = slice(wanted.start - first, wanted.stop - first)
        # sum |w|·|x| bounds every partial sum, so below 2**52 the float64 result is exact. The cheap
        # bound (max |x| times the largest sum |w|) almost always settles it without a second convolution.
        # Both only see rows of the whole computation, so a band overflows exactly when the whole would.
        cheap_bound = float(x.abs().max()) * self.largest_output_bound + self.largest_bias
        if cheap_bound >= _EXACT_LIMIT and self._exact_bound(x, crop) >= _EXACT_LIMIT:
            raise BitstreamError("fixed-point overflow in the entropy-parameter network")
        out = torch.floor(self.accumulate(x, self.weight, self.bias)[:, :, crop] * 2.0**-WEIGHT_BITS)
        assert out.shape[2] == len(wanted), "layer geometry the banded evaluation does not cover"
        return out

    def _exact_bound(self, x: torch.Tensor, crop: slice) -> float:
        return float(self.accumulate(x.abs(), self.weight.abs(), self.bias.abs())[:, :, crop].max())


class FixedPointNetwork:
    """Integer twin of an ``nn.Sequential`` of Conv2d / ConvTranspose2d / ReLU layers.

    Evaluated a band of output rows at a time (:meth:`run_rows`): each layer computes only the rows the
    band depends on, from the rows of its input they read. Every value being an exact integer, a band's
    rows equal those of the whole output, while the memory follows the band's height, not the picture's.
    """

    def __init__(self, network: nn.Sequential):
        self._steps: list[_IntegerConv | None] = []  # None stands for ReLU
        for layer in network:
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                self._steps.append(_IntegerConv.of(layer))
            elif isinstance(layer, nn.ReLU):
                self._steps.append(None)
            else:
                raise TypeError(f"{type(layer).__name__} has no exact fixed-point form")
        self._convolutions = [step for step in self._steps if step is not None]

    def __call__(self, integers: torch.Tensor) -> torch.Tensor:
        """Integer inputs (real values) -> outputs as integers scaled by ``2**ACTIVATION_BITS`` (float64)."""
        return self.run_fixed(to_fixed(integers.double()))

    def run_fixed(self, x: torch.Tensor) -> torch.Tensor:
        """Fixed-point inputs (integers scaled by ``2**ACTIVATION_BITS``) -> fixed-point outputs, all rows."""
        height = x.shape[2]
        rows = range(self.output_height(height))
        window = self.input_window(rows, height)
        return self.run_rows(x[:, :, window.start : window.stop], rows, height)

    def output_height(self, height: int) -> int:
        """Rows of the output of an input of ``height`` rows."""
        for convolution in self._convolutions:
            height = convolution.output_height(height)
        return height

    def input_window(self, rows: range, height: int) -> range:
        """The rows of an input of ``height`` rows that output ``rows`` depend on (the receptive field,
        within the input): what :meth:`run_rows` takes."""
        return self._row_plan(rows, height)[0][0]

    def run_rows(self, x: torch.Tensor, rows: range, height: int) -> torch.Tensor:
        """Output ``rows`` (fixed point) of an input of ``height`` rows, of which ``x`` holds
        ``input_window(rows, height)``: equal to those rows of :meth:`run_fixed` on the whole input."""
        plan = self._row_plan(rows, height)
        if x.shape[2] != len(plan[0][0]):
            raise ValueError(f"expected input rows {plan[0][0]} of {height}, got {x.shape[2]} rows")
        layers = iter(plan)
        for step in self._steps:
            x = torch.clamp_min(x, 0.0) if step is None else step.rows(x, *next(layers))
        return x

    def _row_plan(self, rows: range, height: int) -> list[tuple[range, range]]:
        """Per convolution: (the input rows it reads, the output rows it computes) for output ``rows``,
        from the last layer back (ReLU keeps rows); rows beyond a tensor's edges are zero padding, not computed."""
        heights = [height]
        for convolution in self._convolutions[:-1]:
            heights.append(convolution.output_height(heights[-1]))
        plan: list[tuple[range, range]] = []
        for convolution, input_height in zip(reversed(self._convolutions), reversed(heights)):
            needed = convolution.input_rows(rows)
            held = range(max(needed.start, 0), min(needed.stop, input_height))
            plan.append((held, rows))
            rows = held
        return plan[::-1]


def to_fixed(real: torch.Tensor) -> torch.Tensor:
    """Exact float64 values (integers or fixed-point reals) -> fixed-point integers."""
    return real * 2.0**ACTIVATION_BITS


def to_real(fixed: torch.Tensor) -> torch.Tensor:
    """Fixed-point integers -> their exact float64 values."""
    return fixed * 2.0**-ACTIVATION_BITS

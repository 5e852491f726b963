"""Network building blocks shared by the image (I-frame) and video (P-frame) transforms.

Plain ``nn.Module``s with no coding logic: entropy models live in :mod:`tngvideo.entropy`.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F


def conv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2) -> nn.Conv2d:
    """A 'same'-padded convolution that downsamples by ``stride``."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2)


def deconv(in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 2,
           float32: bool = False) -> nn.ConvTranspose2d:
    """A transposed convolution that upsamples by exactly ``stride`` (inverse of :func:`conv`);
    ``float32``: one that stays in float32 under bfloat16 autocast (:class:`Float32ConvTranspose2d`)."""
    kind = Float32ConvTranspose2d if float32 else nn.ConvTranspose2d
    return kind(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2,
                output_padding=stride - 1)


class Float32ConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution computed in float32 even under bfloat16 autocast: the last layer of a
    transform that makes pixels or flow. In bfloat16 (8 significant bits) its output would carry rounding
    noise of up to ~1/255 near white, and a P-frame's prediction, which passes through it, would carry that
    noise on to the next frame (measured on the sample clip: 1.3% more bits at equal PSNR)."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        with torch.autocast("cpu", enabled=False):
            return super().forward(x.float(), output_size)


NewEntries = Literal["zero", "fresh"]


@dataclass(frozen=True)
class LatentSizedLayer:
    """A convolution whose outputs and/or inputs are ``*_blocks`` stacked groups of M latent channels
    (0: that side does not follow M), and how the entries of new latent channels start when M grows:
    "zero", or "fresh" (the wider model's random initialisation). Modules declare these themselves, so
    widening a trained model (``tngvideo.training.model_growth``) needs no knowledge of their layout."""

    module: nn.Module
    out_blocks: int = 0
    in_blocks: int = 0
    new_outputs: NewEntries = "zero"
    new_inputs: NewEntries = "zero"

    def __post_init__(self) -> None:
        if not isinstance(self.module, (nn.Conv2d, nn.ConvTranspose2d)) or self.module.bias is None:
            raise TypeError(f"expected a convolution with a bias, got {self.module}")

    def parameter_axes(self) -> list[tuple[torch.Tensor, tuple[tuple[int, NewEntries], ...]]]:
        """(weight, bias) with (blocks, new entries) of each of their leading axes (a transposed
        convolution's weight is (in, out, k, k))."""
        module = self.module
        assert isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and module.bias is not None  # __post_init__
        outputs, inputs = (self.out_blocks, self.new_outputs), (self.in_blocks, self.new_inputs)
        weight_axes = (inputs, outputs) if isinstance(module, nn.ConvTranspose2d) else (outputs, inputs)
        return [(module.weight, weight_axes), (module.bias, (outputs,))]


class GDN(nn.Module):
    """Generalized divisive normalization (Ballé et al., ICLR 2016), or its inverse.

    ``y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)`` (``inverse=True`` multiplies instead).
    ``beta`` and ``gamma`` are kept positive by squaring a reparameterised value, as in
    tensorflow/compression, so the optimiser cannot push them negative.
    """

    _pedestal = 2.0**-18

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self._beta_bound = (beta_min + self._pedestal) ** 0.5
        self._gamma_bound = self._pedestal**0.5
        self.beta = nn.Parameter(torch.sqrt(torch.ones(channels) + self._pedestal))
        self.gamma = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels) + self._pedestal))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        beta = lower_bound(self.beta, self._beta_bound) ** 2 - self._pedestal
        gamma = lower_bound(self.gamma, self._gamma_bound) ** 2 - self._pedestal
        norm = F.conv2d(x * x, gamma.view(channels, channels, 1, 1), beta)
        return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)


class _LowerBound(torch.autograd.Function):
    """max(x, bound) whose gradient still flows when it pushes x back above the bound."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, bound: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.bound = bound
        return torch.clamp_min(x, bound)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        pass_through = (x >= ctx.bound) | (grad_output < 0)
        return grad_output * pass_through, None


def lower_bound(x: torch.Tensor, bound: float) -> torch.Tensor:
    """Clamp from below while letting gradients that raise ``x`` through (Ballé's LowerBound)."""
    return _LowerBound.apply(x, bound)  # type: ignore[no-any-return]


def analysis_transform(in_channels: int, hidden: int, out_channels: int, residual_blocks: bool = False) -> nn.Sequential:
    """Four stride-2 convolutions with GDN: pixels (or motion) -> latents at 1/16 resolution.

    ``residual_blocks`` adds a :class:`ResidualBlock` after the GDNs at 1/4 and 1/8 resolution
    (named ``3r`` and ``5r``, see :func:`_with_residual_blocks`).
    """
    layers = [conv(in_channels, hidden), GDN(hidden), conv(hidden, hidden), GDN(hidden), conv(hidden, hidden), GDN(hidden),
              conv(hidden, out_channels)]
    return _with_residual_blocks(layers, (3, 5) if residual_blocks else (), hidden)


class ResidualBlock(nn.Module):
    """``x + conv(ReLU(conv(x)))`` with 3×3 convolutions; the last one starts at zero, so a block
    grown into a trained network leaves its function unchanged until training moves it."""

    def __init__(self, channels: int):
        super().__init__()
        self.first = conv(channels, channels, kernel_size=3, stride=1)
        self.second = conv(channels, channels, kernel_size=3, stride=1)
        for parameter in self.second.parameters():  # weight and bias: the block starts as the identity
            nn.init.zeros_(parameter)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.second(F.relu(self.first(x)))


def _with_residual_blocks(layers: list[nn.Module], after: tuple[int, ...], channels: int) -> nn.Sequential:
    """``layers`` as a Sequential named "0", "1", ... with a :class:`ResidualBlock` named "<i>r" after
    each layer index in ``after``: the plain layers keep their state-dict keys, so trained plain
    weights load into the grown transform."""
    named: OrderedDict[str, nn.Module] = OrderedDict()
    for index, layer in enumerate(layers):
        named[str(index)] = layer
        if index in after:
            named[f"{index}r"] = ResidualBlock(channels)
    return nn.Sequential(named)


def synthesis_transform(
    in_channels: int, hidden: int, out_channels: int, residual_blocks: bool = False, half_resolution_block: bool = False
) -> nn.Sequential:
    """Mirror of :func:`analysis_transform` with inverse GDN: latents -> pixels (or motion).

    ``residual_blocks`` adds a :class:`ResidualBlock` after the inverse GDNs at 1/8 and 1/4
    resolution (named ``1r`` and ``3r``); ``half_resolution_block`` one at 1/2 (``5r``: fine detail,
    at four times the cost of the one at 1/4).
    """
    layers = [deconv(in_channels, hidden), GDN(hidden, inverse=True), deconv(hidden, hidden), GDN(hidden, inverse=True),
              deconv(hidden, hidden), GDN(hidden, inverse=True), deconv(hidden, out_channels, float32=True)]
    after = ((1, 3) if residual_blocks else ()) + ((5,) if half_resolution_block else ())
    return _with_residual_blocks(layers, after, hidden)


def hyper_analysis(latent_channels: int, hidden: int) -> nn.Sequential:
    """Latents -> hyper-latents at a further 1/4 resolution (Ballé et al. 2018)."""
    return nn.Sequential(
        conv(latent_channels, hidden, kernel_size=3, stride=1),
        nn.ReLU(),
        conv(hidden, hidden),
        nn.ReLU(),
        conv(hidden, hidden),
    )


def hyper_synthesis(hidden: int, out_channels: int) -> nn.Sequential:
    """Hyper-latents -> entropy parameters. Only conv/deconv/ReLU, so it can run in exact fixed point."""
    return nn.Sequential(
        deconv(hidden, hidden),
        nn.ReLU(),
        deconv(hidden, hidden * 3 // 2),
        nn.ReLU(),
        conv(hidden * 3 // 2, out_channels, kernel_size=3, stride=1),
    )


def ladder_position(level_lambdas: tuple[float, ...], lam: float) -> float:
    """The fractional level of ``lam`` on a ladder: geometric between neighbouring levels (as the gains
    and the training lambdas interpolate), extrapolated the same way beyond its ends."""
    logs = [math.log(value) for value in level_lambdas]
    target = math.log(lam)
    upper = next((i for i in range(1, len(logs) - 1) if target <= logs[i]), len(logs) - 1)
    return upper - 1 + (target - logs[upper - 1]) / (logs[upper] - logs[upper - 1])


class LevelGains(nn.Module):
    """Per-channel gain vectors, one pair per quality level (Cui et al., "Asymmetric gained deep
    image compression with continuous rate adaptation", CVPR 2021).

    The encoder multiplies latents by ``gain`` before quantization and the decoder multiplies by
    ``inverse_gain`` after, so one network covers every rate. A fractional level interpolates
    geometrically between its two neighbours, giving continuous rate control.
    """

    PARAMETERS = ("log_gain", "log_inverse_gain")  # its state: per level, a row of per-channel log gains

    def __init__(self, channels: int, level_lambdas: tuple[float, ...]):
        super().__init__()
        reference = level_lambdas[len(level_lambdas) // 2]
        # High-rate theory: the best quantization step shrinks like lambda**-1/2.
        log_gains = torch.tensor([0.5 * math.log(lam / reference) for lam in level_lambdas])
        self.log_gain = nn.Parameter(log_gains[:, None].repeat(1, channels))
        self.log_inverse_gain = nn.Parameter(-log_gains[:, None].repeat(1, channels))

    @property
    def num_levels(self) -> int:
        return self.log_gain.shape[0]

    @classmethod
    def widened_state(cls, state: dict[str, torch.Tensor], prefix: str, channels: int) -> dict[str, torch.Tensor]:
        """The parameters of trained gains (under ``prefix`` in ``state``) widened to ``channels``: each new channel
        starts at the mean of its level's trained gains (what a latent that training has not shaped yet needs)."""
        widened = {}
        for name in cls.PARAMETERS:
            old = state[prefix + name]
            widened[prefix + name] = torch.cat([old, old.mean(dim=1, keepdim=True).expand(-1, channels - old.shape[1])],
                                               dim=1)
        return widened

    @torch.no_grad()
    def regrid_from(self, log_gain: torch.Tensor, log_inverse_gain: torch.Tensor, source_lambdas: tuple[float, ...],
                    target_lambdas: tuple[float, ...]) -> None:
        """Take trained gains of another ladder: rows of shared lambdas are copied, new levels are
        interpolated (or extrapolated from the nearest two levels) linearly in log lambda, which is
        how the trained gains already behave. Lets a model grow levels without retraining the rest."""
        for row, lam in enumerate(target_lambdas):
            position = ladder_position(source_lambdas, lam)
            lower = min(max(math.floor(position), 0), len(source_lambdas) - 2)
            upper, weight = lower + 1, position - lower
            self.log_gain[row] = torch.lerp(log_gain[lower], log_gain[upper], weight)
            self.log_inverse_gain[row] = torch.lerp(log_inverse_gain[lower], log_inverse_gain[upper], weight)

    @torch.no_grad()
    def scale_steps(self, step_scales: Sequence[float], channels: slice) -> None:
        """Multiply the quantization step of ``channels`` at each level by its factor (their gains divided by it,
        their inverse gains multiplied): an edit of trained gains, one factor per level."""
        if len(step_scales) != self.num_levels or not all(scale > 0 for scale in step_scales):
            raise ValueError(f"need {self.num_levels} positive step factors (one per level), got {list(step_scales)}")
        logs = torch.tensor([math.log(scale) for scale in step_scales], dtype=self.log_gain.dtype)[:, None]
        self.log_gain[:, channels] -= logs
        self.log_inverse_gain[:, channels] += logs

    def forward(self, level: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(gain, inverse_gain) of shape (B, C, 1, 1) for per-sample levels in [0, num_levels - 1]."""
        level = level.to(self.log_gain.dtype).clamp(0, self.num_levels - 1)
        low = level.floor().long().clamp(max=self.num_levels - 2)
        frac = (level - low)[:, None]
        gain = torch.lerp(self.log_gain[low], self.log_gain[low + 1], frac)
        inverse_gain = torch.lerp(self.log_inverse_gain[low], self.log_inverse_gain[low + 1], frac)
        return gain.exp()[..., None, None], inverse_gain.exp()[..., None, None]

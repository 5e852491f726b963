"""The TNG image (I-frame) network: a variable-rate mean-scale hyperprior.

Minnen, Ballé & Toderici, "Joint autoregressive and hierarchical priors for learned image
compression", NeurIPS 2018 (its mean-scale hyperprior; instead of their serial context model, an
optional parallel checkerboard context, :mod:`tngvideo.entropy.context`), with per-level gain
vectors (Cui et al. 2021) so one network covers every quality level::

    x ──g_a──► y·gain ──h_a──► z ──Q──► ẑ ──h_s──► (σ, μ)
                 │                │              │
                 Q(y−μ)+μ = ŷ     factorized     Gaussian(μ, σ) prior for ŷ
                 │                prior for ẑ
    x̂ ◄──g_s── ŷ·inverse_gain

This module is transforms + training-time likelihoods only; coding lives in
:mod:`tngvideo.codecs.image_codec`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from tngvideo.entropy.context import CheckerboardContext, anchor_mask, parameters_with_context
from tngvideo.entropy.factorized import FactorizedPrior
from tngvideo.entropy.gaussian import gaussian_likelihood
from tngvideo.entropy.quantization import add_uniform_noise, round_straight_through
from tngvideo.layers import (
    LatentSizedLayer,
    LevelGains,
    analysis_transform,
    hyper_analysis,
    hyper_synthesis,
    ladder_position,
    synthesis_transform,
)

# Rate-distortion trade-offs of the quality levels (loss = bpp + lambda * 255^2 * MSE): CompressAI's
# ladder (0.0018 ... 0.18, ~0.3-2 bpp on Kodak) with two lower levels so quality 1 reaches ~0.1 bpp.
DEFAULT_LEVEL_LAMBDAS = (0.0003, 0.0008, 0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)

SpatialContext = Literal["none", "checkerboard"]

# The entropy model's modules (see ImageModel.prior_parameters).
PRIOR_MODULES = ("h_a", "h_s", "z_prior", "checkerboard")


@dataclass(frozen=True)
class ImageModelConfig:
    """Architecture of an image network; stored with its weights so nothing is inferred from shapes."""

    hidden_channels: int = 128
    latent_channels: int = 192
    hyper_channels: int = 128
    level_lambdas: tuple[float, ...] = DEFAULT_LEVEL_LAMBDAS
    context: SpatialContext = "none"  # "checkerboard": two-pass spatial context (entropy/context.py)
    synthesis_residual_blocks: bool = False  # layers.synthesis_transform; older files lack it (False)
    analysis_residual_blocks: bool = False  # layers.analysis_transform; older files lack it (False)
    synthesis_half_resolution_block: bool = False  # layers.synthesis_transform; older files lack it (False)

    STRIDE = 64  # total downsampling from pixels to hyper-latents

    def __post_init__(self) -> None:
        if self.context not in ("none", "checkerboard"):
            raise ValueError(f"unknown spatial context {self.context!r}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def level_of(self, lam: float) -> float:
        """The (fractional) level whose lambda is ``lam``, for the geometric interpolation of the ladder."""
        if not self.level_lambdas[0] <= lam <= self.level_lambdas[-1]:
            raise ValueError(f"lambda {lam} is outside this model's ladder {self.level_lambdas}")
        return ladder_position(self.level_lambdas, lam)

    @classmethod
    def from_json(cls, text: str) -> ImageModelConfig:
        fields = json.loads(text)
        fields["level_lambdas"] = tuple(fields["level_lambdas"])  # a missing "context" (older files) means "none"
        return cls(**fields)


def lambdas_of_levels(levels: torch.Tensor, level_lambdas: tuple[float, ...]) -> torch.Tensor:
    """Geometric interpolation of the level ladder at fractional levels (matches LevelGains)."""
    log_lambdas = torch.log(torch.tensor(level_lambdas))
    low = levels.floor().long().clamp(max=len(level_lambdas) - 2)
    return torch.exp(torch.lerp(log_lambdas[low], log_lambdas[low + 1], levels - low))


def rate_distortion(out: ImageForward, x: torch.Tensor, lambdas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample (cost, bpp, MSE) of the objective ``bpp + lambda * 255^2 * MSE`` (CompressAI's scale):
    what training minimises over a batch and latent refinement over one picture."""
    bpp = out.bits_per_pixel()
    mse = torch.mean((out.x_hat - x) ** 2, dim=(1, 2, 3))
    return bpp + lambdas * 255**2 * mse, bpp, mse


@dataclass(frozen=True)
class ImageForward:
    """Training-time output: reconstruction and the likelihoods of both latent tensors."""

    x_hat: torch.Tensor
    y_likelihoods: torch.Tensor
    z_likelihoods: torch.Tensor

    def cropped(self, height: int, width: int) -> ImageForward:
        """The output of a padded picture cut back to its size, so the rate counts only its real pixels."""
        return dataclasses.replace(self, x_hat=self.x_hat[:, :, :height, :width])

    def bits_per_pixel(self) -> torch.Tensor:
        """Estimated rate per sample: sum of -log2 likelihoods over pixels (shape (B,))."""
        return bits_per_pixel(self.y_likelihoods, self.z_likelihoods, self.x_hat.shape[2] * self.x_hat.shape[3])


def bits_per_pixel(y_likelihoods: torch.Tensor, z_likelihoods: torch.Tensor, pixels: int) -> torch.Tensor:
    """Rate estimate of each sample of a batch (shape (B,)): the sum of -log2 likelihoods per pixel."""
    bits = -torch.log2(y_likelihoods).sum((1, 2, 3)) - torch.log2(z_likelihoods).sum((1, 2, 3))
    return bits / pixels


class ImageModel(nn.Module):
    """Transforms and priors of the TNG image codec (see module docstring for the data flow)."""

    def __init__(self, config: ImageModelConfig):
        super().__init__()
        self.config = config
        n, m, h = config.hidden_channels, config.latent_channels, config.hyper_channels
        self.g_a = analysis_transform(3, n, m, config.analysis_residual_blocks)
        self.g_s = synthesis_transform(m, n, 3, config.synthesis_residual_blocks, config.synthesis_half_resolution_block)
        self.h_a = hyper_analysis(m, h)
        self.h_s = hyper_synthesis(h, 2 * m)
        self.gains = LevelGains(m, config.level_lambdas)
        self.z_prior = FactorizedPrior(h)
        self.checkerboard = CheckerboardContext(m) if config.context == "checkerboard" else None

    def latent_sized_layers(self) -> Iterator[LatentSizedLayer]:
        """Every layer whose width follows M, and how new latent channels start so that a widened model is
        the same codec: the analysis emits zeros in them (they quantize to 0 and cost almost nothing), the
        synthesis reads them with fresh weights (so the distortion's gradient reaches the analysis through
        the straight-through rounding and they can come alive), the entropy model ignores them and gives
        them mean 0 at the smallest scale."""
        yield LatentSizedLayer(self.g_a[-1], out_blocks=1)
        yield LatentSizedLayer(self.g_s[0], in_blocks=1, new_inputs="fresh")
        yield LatentSizedLayer(self.h_a[0], in_blocks=1)
        yield LatentSizedLayer(self.h_s[-1], out_blocks=2)  # [scales | means]
        if self.checkerboard is not None:
            yield from self.checkerboard.latent_sized_layers()

    def entropy_parameters(self, z_hat: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(scales, means) of the Gaussian prior of every latent: from the hyper-latents, and with a
        checkerboard context also from the (straight-through rounded) anchor latents of ``y``."""
        parameters = self.h_s(z_hat)
        if self.checkerboard is not None:
            _, anchor_means = parameters.chunk(2, dim=1)
            y_hat = round_straight_through(y - anchor_means) + anchor_means
            parameters = parameters_with_context(self.checkerboard, parameters, y_hat, anchor_mask(*y.shape[2:]))
        scales, means = parameters.chunk(2, dim=1)
        return scales, means

    def latents(self, x: torch.Tensor, level: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(y, inverse_gain): latents scaled by the level's gain, and the gain that undoes it after decoding."""
        gain, inverse_gain = self.gains(level)
        return self.g_a(x) * gain, inverse_gain

    def latent_prior(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ŷ, likelihoods of y, likelihoods of z): quantized latents and what the entropy model makes of them.

        Quantization is mixed (Minnen & Singh 2020): ŷ and ẑ are straight-through rounded; in training mode
        the likelihoods are of noisy latents, in eval mode of the rounded ones (the coded size).
        """
        z = self.h_a(y)
        z_hat = round_straight_through(z)
        scales, means = self.entropy_parameters(z_hat, y)
        y_hat = round_straight_through(y - means) + means
        y_likelihoods = gaussian_likelihood(add_uniform_noise(y) if self.training else y_hat, means, scales)
        z_likelihoods = self.z_prior.likelihood(add_uniform_noise(z) if self.training else z_hat)
        return y_hat, y_likelihoods, z_likelihoods

    def prior_parameters(self) -> list[nn.Parameter]:
        """Parameters of the entropy model (hyperprior and context): they set the rate, and the pixels only
        through the means that ŷ = round(y − μ) + μ is rounded around."""
        return [p for name, p in self.named_parameters() if name.split(".")[0] in PRIOR_MODULES]

    def entropy_model_conv_weights(self) -> list[str]:
        """State-dict names of the entropy model's convolution weights: shipped as int8, which costs
        0.03% BD-rate and saves 5.4 MB of tng-image-v8's 19.4 MB (measured on its Kodak probe)."""
        return [name + ".weight" for name, module in self.named_modules()
                if name.split(".")[0] in PRIOR_MODULES and isinstance(module, (nn.Conv2d, nn.ConvTranspose2d))]

    def forward(self, x: torch.Tensor, level: torch.Tensor) -> ImageForward:
        """Training pass; ``level`` holds one (fractional) level per sample.

        In eval mode the rate is that of the rounded latents, i.e. the estimate of the coded size.
        """
        return self.from_latents(*self.latents(x, level))

    def from_latents(self, y: torch.Tensor, inverse_gain: torch.Tensor) -> ImageForward:
        """Everything after the analysis transform: training, and the encoder refining given latents."""
        y_hat, y_likelihoods, z_likelihoods = self.latent_prior(y)
        return ImageForward(
            x_hat=self.g_s(y_hat * inverse_gain), y_likelihoods=y_likelihoods, z_likelihoods=z_likelihoods
        )

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

import torch
from torch import nn

from tngvideo.codecs.latent_codec import ENTROPY_MODULES, LatentCodec, SpatialContext
from tngvideo.config_json import JsonConfig
from tngvideo.layers import LatentSizedLayer, analysis_transform, ladder_position, synthesis_transform

# Rate-distortion trade-offs of the quality levels (loss = bpp + lambda * 255^2 * MSE): CompressAI's
# ladder (0.0018 ... 0.18, ~0.3-2 bpp on Kodak) with two lower levels so quality 1 reaches ~0.1 bpp.
DEFAULT_LEVEL_LAMBDAS = (0.0003, 0.0008, 0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)

# Files up to tng-image-v11 name the latent codec's modules at the top level ("h_a.0.weight"); they
# now live in ImageModel.latent ("latent.h_a.0.weight").
_LEGACY_LATENT_PREFIXES = tuple(name + "." for name in (*ENTROPY_MODULES, "gains"))


def upgrade_legacy_keys(state: dict[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """Rename (in place, and return) the latent codec's keys of an older image weight file."""
    for key in [k for k in state if k.startswith(prefix) and k[len(prefix):].startswith(_LEGACY_LATENT_PREFIXES)]:
        state[prefix + "latent." + key[len(prefix):]] = state.pop(key)
    return state


@dataclass(frozen=True)
class ImageModelConfig(JsonConfig):
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
    """Transforms and latent codec of the TNG image codec (see module docstring for the data flow)."""

    def __init__(self, config: ImageModelConfig):
        super().__init__()
        self.config = config
        n, m, h = config.hidden_channels, config.latent_channels, config.hyper_channels
        self.g_a = analysis_transform(3, n, m, config.analysis_residual_blocks)
        self.g_s = synthesis_transform(m, n, 3, config.synthesis_residual_blocks, config.synthesis_half_resolution_block)
        self.latent = LatentCodec(m, h, config.level_lambdas, config.context)
        self._register_load_state_dict_pre_hook(lambda state, prefix, *_: upgrade_legacy_keys(state, prefix))

    def latent_sized_layers(self) -> Iterator[LatentSizedLayer]:
        """Every layer whose width follows M, and how new latent channels start so that a widened model is
        the same codec: the analysis emits zeros in them (they quantize to 0 and cost almost nothing), the
        synthesis reads them with fresh weights (so the distortion's gradient reaches the analysis through
        the straight-through rounding and they can come alive), the entropy model ignores them and gives
        them mean 0 at the smallest scale."""
        yield LatentSizedLayer(self.g_a[-1], out_blocks=1)
        yield LatentSizedLayer(self.g_s[0], in_blocks=1, new_inputs="fresh")
        yield from self.latent.latent_sized_layers()

    def latents(self, x: torch.Tensor, level: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(y, inverse_gain): latents scaled by the level's gain, and the gain that undoes it after decoding."""
        return self.latent.gained(self.g_a(x), level)

    def prior_parameters(self) -> list[nn.Parameter]:
        """Parameters of the entropy model (hyperprior and context): see ``LatentCodec.entropy_parameters_list``."""
        return self.latent.entropy_parameters_list()

    def entropy_model_conv_weights(self) -> list[str]:
        """State-dict names of the entropy model's convolution weights (shipped as int8)."""
        return ["latent." + name for name in self.latent.entropy_conv_weight_names()]

    def forward(self, x: torch.Tensor, level: torch.Tensor) -> ImageForward:
        """Training pass; ``level`` holds one (fractional) level per sample.

        In eval mode the rate is that of the rounded latents, i.e. the estimate of the coded size.
        """
        return self.from_latents(*self.latents(x, level))

    def from_latents(self, y: torch.Tensor, inverse_gain: torch.Tensor) -> ImageForward:
        """Everything after the analysis transform: training, and the encoder refining given latents."""
        out = self.latent.from_gained(y, inverse_gain)
        return ImageForward(x_hat=self.g_s(out.decoded), y_likelihoods=out.y_likelihoods, z_likelihoods=out.z_likelihoods)

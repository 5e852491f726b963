"""Growing trained image weights into a bigger model that starts as the same codec.

Training from scratch costs days on this CPU, so every architecture change is grown onto the
shipped weights instead: new modules (checkerboard context, residual blocks) start as a no-op, new
quality levels are interpolated from the trained gains, and extra latent channels start silent
(see :func:`widen_latents`). Fine-tuning then only has to learn what the growth adds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from tngvideo.codecs.image_model import ImageModel, ImageModelConfig
from tngvideo.layers import ResidualBlock

NewEntries = Literal["zero", "fresh"]  # new rows/columns: zeros, or the wider model's random initialisation


def growable_prefixes(model: ImageModel) -> tuple[str, ...]:
    """State-dict prefixes of the modules a model may add on top of the weights it is initialised from,
    because they start as a no-op: the checkerboard context and every residual block."""
    blocks = [name + "." for name, module in model.named_modules() if isinstance(module, ResidualBlock)]
    return ("checkerboard.", *blocks)


def initialise_from(
    model: ImageModel, weights: dict[str, torch.Tensor], source: ImageModelConfig | None = None
) -> list[str]:
    """Load ``weights`` (of a model configured as ``source``) into ``model``; only the modules of
    :func:`growable_prefixes` may be missing from them.

    Weights trained on another level ladder get their gain vectors regridded onto the model's ladder
    (``LevelGains.regrid_from``); weights with fewer latent channels are widened (:func:`widen_latents`).
    Returns the names of the modules that kept their fresh initialisation.
    """
    weights = dict(weights)
    if source is not None and source.latent_channels != model.config.latent_channels:
        weights = widen_latents(weights, source.latent_channels, model)
    target_lambdas = model.config.level_lambdas
    regrid = source is not None and tuple(source.level_lambdas) != tuple(target_lambdas)
    if regrid:
        gains = {k: weights.pop("gains." + k) for k in ("log_gain", "log_inverse_gain")}
    result = model.load_state_dict(weights, strict=False)
    missing = [k for k in result.missing_keys if not (regrid and k.startswith("gains."))]
    not_growable = [k for k in missing if not k.startswith(growable_prefixes(model))]
    if not_growable or result.unexpected_keys:
        raise ValueError(f"weights do not fit this model: missing {not_growable}, unexpected {result.unexpected_keys}")
    if regrid:
        assert source is not None
        model.gains.regrid_from(gains["log_gain"], gains["log_inverse_gain"], source.level_lambdas, target_lambdas)
    return sorted({k.split(".")[0] for k in missing})


@dataclass(frozen=True)
class _LatentSizedLayer:
    """A convolution whose inputs and/or outputs are ``blocks`` stacked groups of M latent channels
    (e.g. the hyper-synthesis output is [scales | means], 2 blocks), and how its new entries start."""

    module: nn.Conv2d | nn.ConvTranspose2d
    out_blocks: int
    in_blocks: int
    new_outputs: NewEntries
    new_inputs: NewEntries


def _latent_sized_layers(model: ImageModel) -> Iterator[_LatentSizedLayer]:
    """Every layer whose shape depends on M, with the initialisation that keeps the grown model's
    output identical: the analysis emits zeros in the new channels (so they quantize to 0 and cost
    nothing), the synthesis reads them with random weights (so the distortion's gradient reaches the
    analysis through the straight-through rounding and the channels can come alive), and the entropy
    model ignores them and predicts (mean 0, smallest scale) for them."""
    yield _LatentSizedLayer(_conv(model.g_a[-1]), 1, 0, "zero", "zero")
    yield _LatentSizedLayer(_conv(model.g_s[0]), 0, 1, "zero", "fresh")
    yield _LatentSizedLayer(_conv(model.h_a[0]), 0, 1, "zero", "zero")
    yield _LatentSizedLayer(_conv(model.h_s[-1]), 2, 0, "zero", "zero")
    if model.checkerboard is not None:  # context: [2M] from [M]; correction: [2M] <- [3M] <- [4M] = [parameters | context]
        correction = model.checkerboard.correction
        yield _LatentSizedLayer(_conv(model.checkerboard.context[0]), 2, 1, "zero", "zero")
        yield _LatentSizedLayer(_conv(correction[0]), 3, 4, "fresh", "zero")
        yield _LatentSizedLayer(_conv(correction[2]), 2, 3, "fresh", "zero")
        yield _LatentSizedLayer(_conv(correction[-1]), 2, 2, "zero", "zero")


def _conv(module: nn.Module) -> nn.Conv2d | nn.ConvTranspose2d:
    if not isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) or module.bias is None:
        raise TypeError(f"expected a convolution with a bias, got {module}")
    return module


def _old_positions(blocks: int, old: int, new: int) -> torch.Tensor:
    """Where the ``old`` channels of each of ``blocks`` groups sit once every group has ``new`` channels."""
    return torch.cat([torch.arange(old) + block * new for block in range(blocks)])


def _embedded(old: torch.Tensor, fresh: torch.Tensor, axes: tuple[tuple[int, NewEntries], ...], old_m: int,
              new_m: int) -> torch.Tensor:
    """``old`` placed into a copy of ``fresh``; ``axes`` gives (blocks, new entries) for each leading axis
    (blocks 0: the axis does not depend on M)."""
    grown = fresh.detach().clone()
    kept = []
    for axis, (blocks, new_entries) in enumerate(axes):
        if not blocks:
            kept.append(torch.arange(grown.shape[axis]))
            continue
        kept.append(_old_positions(blocks, old_m, new_m))
        if new_entries == "zero":
            is_new = torch.ones(grown.shape[axis], dtype=torch.bool)
            is_new[kept[-1]] = False
            grown.index_fill_(axis, torch.nonzero(is_new).flatten(), 0.0)
    grown[torch.meshgrid(*kept, indexing="ij")] = old
    return grown


def widen_latents(weights: dict[str, torch.Tensor], old_channels: int, model: ImageModel) -> dict[str, torch.Tensor]:
    """Weights of a model with ``old_channels`` latent channels, widened to ``model``'s M.

    The result codes every picture exactly as before (the new channels are all zero: symbol 0 at
    the smallest scale, a few bits per picture), yet training can move them. New gain vectors
    start at the mean of the trained ones of their level.
    """
    new_channels = model.config.latent_channels
    if not 0 < old_channels <= new_channels:
        raise ValueError(f"cannot widen {old_channels} latent channels to {new_channels}")
    widened = dict(weights)
    names = {id(parameter): name for name, parameter in model.named_parameters()}
    for layer in _latent_sized_layers(model):
        outputs, inputs = (layer.out_blocks, layer.new_outputs), (layer.in_blocks, layer.new_inputs)
        transposed = isinstance(layer.module, nn.ConvTranspose2d)  # weight is (in, out, k, k)
        fresh_weight, fresh_bias = layer.module.weight, layer.module.bias
        assert fresh_bias is not None  # _conv checked
        weight, bias = names[id(fresh_weight)], names[id(fresh_bias)]
        axes = (inputs, outputs) if transposed else (outputs, inputs)
        widened[weight] = _embedded(weights[weight], fresh_weight, axes, old_channels, new_channels)
        widened[bias] = _embedded(weights[bias], fresh_bias, (outputs,), old_channels, new_channels)
    for name in ("gains.log_gain", "gains.log_inverse_gain"):
        old = weights[name]
        widened[name] = torch.cat([old, old.mean(dim=1, keepdim=True).expand(-1, new_channels - old_channels)], dim=1)
    return widened

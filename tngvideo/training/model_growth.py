"""Growing trained image weights into a bigger model that starts as the same codec.

Training from scratch costs days on this CPU, so every architecture change is grown onto the
shipped weights instead: new modules (checkerboard context, residual blocks) start as a no-op, new
quality levels are interpolated from the trained gains, and extra latent channels start silent (see
:func:`widen_latents`). Fine-tuning then only has to learn what the growth adds.
"""

from __future__ import annotations

import torch

from tngvideo.codecs.image_model import ImageModel, ImageModelConfig, upgrade_legacy_keys
from tngvideo.layers import LevelGains, NewEntries, ResidualBlock

# Widths a model cannot change on top of trained weights (the latent width M may grow: widen_latents).
_FIXED_WIDTHS = ("hidden_channels", "hyper_channels")


def growable_prefixes(model: ImageModel) -> tuple[str, ...]:
    """State-dict prefixes of the modules a model may add on top of the weights it is initialised from,
    because they start as a no-op: the checkerboard context and every residual block."""
    blocks = [name + "." for name, module in model.named_modules() if isinstance(module, ResidualBlock)]
    return ("latent.checkerboard.", *blocks)


def initialise_from(
    model: ImageModel, weights: dict[str, torch.Tensor], source: ImageModelConfig | None = None
) -> list[str]:
    """Load ``weights`` (of a model configured as ``source``) into ``model``; only the modules of
    :func:`growable_prefixes` may be missing from them.

    Weights trained on another level ladder get their gain vectors regridded onto the model's ladder
    (``LevelGains.regrid_from``); weights with fewer latent channels are widened (:func:`widen_latents`).
    Returns the names of the modules that kept their fresh initialisation.
    """
    if source is not None:
        changed = [f"{name} {getattr(source, name)} -> {getattr(model.config, name)}" for name in _FIXED_WIDTHS
                   if getattr(source, name) != getattr(model.config, name)]
        if changed:
            raise ValueError(f"cannot grow trained weights to other widths: {', '.join(changed)}")
    weights = upgrade_legacy_keys(dict(weights))
    if source is not None and source.latent_channels != model.config.latent_channels:
        weights = widen_latents(weights, source.latent_channels, model)
    target_lambdas = model.config.level_lambdas
    regrid = source is not None and tuple(source.level_lambdas) != tuple(target_lambdas)
    if regrid:
        gains = {k: weights.pop("latent.gains." + k) for k in LevelGains.PARAMETERS}
    result = model.load_state_dict(weights, strict=False)
    missing = [k for k in result.missing_keys if not (regrid and k.startswith("latent.gains."))]
    not_growable = [k for k in missing if not k.startswith(growable_prefixes(model))]
    if not_growable or result.unexpected_keys:
        raise ValueError(f"weights do not fit this model: missing {not_growable}, unexpected {result.unexpected_keys}")
    if regrid:
        assert source is not None
        model.latent.gains.regrid_from(gains["log_gain"], gains["log_inverse_gain"], source.level_lambdas, target_lambdas)
    return sorted({k.removeprefix("latent.").split(".")[0] for k in missing})


def widen_latents(weights: dict[str, torch.Tensor], old_channels: int, model: ImageModel) -> dict[str, torch.Tensor]:
    """Weights of a model with ``old_channels`` latent channels, widened to ``model``'s M.

    The result codes every picture as before (the new channels are all zero: symbol 0 at the smallest
    scale, a few bits per picture; see ``ImageModel.latent_sized_layers``), yet training can move them.
    New gain vectors start at the mean of the trained ones of their level.
    """
    new_channels = model.config.latent_channels
    if not 0 < old_channels <= new_channels:
        raise ValueError(f"cannot widen {old_channels} latent channels to {new_channels} (latent_channels may only grow)")
    widened = dict(weights)
    names = {id(parameter): name for name, parameter in model.named_parameters()}
    for layer in model.latent_sized_layers():
        for parameter, axes in layer.parameter_axes():
            name = names[id(parameter)]
            widened[name] = _embedded(weights[name], parameter, axes, old_channels, new_channels)
    return {**widened, **LevelGains.widened_state(weights, "latent.gains.", new_channels)}


def _embedded(old: torch.Tensor, fresh: torch.Tensor, axes: tuple[tuple[int, NewEntries], ...], old_m: int,
              new_m: int) -> torch.Tensor:
    """``old`` placed into a copy of ``fresh``; ``axes`` gives (blocks, new entries) for each leading axis
    (0 blocks: the axis does not follow M)."""
    grown = fresh.detach().clone()
    kept = []
    for axis, (blocks, new_entries) in enumerate(axes):
        if not blocks:
            kept.append(torch.arange(grown.shape[axis]))
            continue
        kept.append(torch.cat([torch.arange(old_m) + block * new_m for block in range(blocks)]))
        if new_entries == "zero":
            is_new = torch.ones(grown.shape[axis], dtype=torch.bool)
            is_new[kept[-1]] = False
            grown.index_fill_(axis, torch.nonzero(is_new).flatten(), 0.0)
    grown[torch.meshgrid(*kept, indexing="ij")] = old
    return grown

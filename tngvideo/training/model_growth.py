"""Growing trained image weights into a bigger model that starts as the same codec.

Training from scratch costs days on this CPU, so every architecture change is grown onto the
shipped weights instead: new modules (checkerboard context, residual blocks) start as a no-op, new
quality levels are interpolated from the trained gains. Fine-tuning then only has to learn what
the growth adds.
"""

from __future__ import annotations

import torch

from tngvideo.codecs.image_model import ImageModel, ImageModelConfig
from tngvideo.layers import ResidualBlock

# Widths a model cannot change on top of trained weights (latent widening lived in commit e842206 and
# was removed: the checkerboard context grows with M^2 and the 20 MB file limit leaves no room).
_FIXED_WIDTHS = ("hidden_channels", "latent_channels", "hyper_channels")


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
    (``LevelGains.regrid_from``). Returns the names of the modules that kept their fresh initialisation.
    """
    if source is not None:
        changed = [f"{name} {getattr(source, name)} -> {getattr(model.config, name)}" for name in _FIXED_WIDTHS
                   if getattr(source, name) != getattr(model.config, name)]
        if changed:
            raise ValueError(f"cannot grow trained weights to other widths: {', '.join(changed)}")
    weights = dict(weights)
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

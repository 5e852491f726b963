"""What a P-frame's frame coder is conditioned on, as the encoder's and decoder's tiled runs take it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tngvideo.codecs.tiling import LATENT_PIXELS, ScaledInput


@dataclass(frozen=True)
class Condition:
    """What a P-frame's frame coder is conditioned on: the motion-compensated prediction and, with propagated
    features, the warped context (padded; at full and 1/2 resolution)."""

    prediction: torch.Tensor
    context: torch.Tensor | None

    def inputs(self) -> list[ScaledInput]:
        """As inputs of a tiled run (codecs.tiling), after the transform's own first input."""
        inputs = [ScaledInput(self.prediction, LATENT_PIXELS)]
        if self.context is not None:
            inputs.append(ScaledInput(self.context, LATENT_PIXELS // 2))
        return inputs

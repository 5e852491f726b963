"""Checkerboard spatial context for the latent prior (He et al., "Checkerboard context model for
efficient learned image compression", CVPR 2021).

Latents are coded in two passes. *Anchors* (positions where row + column is even) are coded with
the hyperprior's parameters alone; the other half then sees its decoded anchor neighbours through
a 5x5 convolution, and a small 1x1 network corrects its (scale, mean) from the hyperprior's
parameters and that context. Both passes are fully parallel, unlike a serial autoregressive
context, which is what makes it affordable on a CPU decoder.

The correction's last layer starts at zero, so a context model initialised from a trained
hyperprior-only model starts as exactly that model, and fine-tuning can only add.
Everything here also has an exact fixed-point twin (:class:`FixedPointCheckerboard`), because
these parameters drive the entropy coder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn

from tngvideo.entropy.fixed_point import FixedPointNetwork
from tngvideo.layers import LatentSizedLayer, conv


def anchor_mask(height: int, width: int) -> torch.Tensor:
    """(1, 1, H, W) bool: True at anchor positions (row + column even), coded first."""
    rows = torch.arange(height)[:, None]
    cols = torch.arange(width)[None, :]
    return ((rows + cols) % 2 == 0)[None, None]


def parameters_with_context(
    correct: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    parameters: torch.Tensor,
    latents: torch.Tensor,
    anchors: torch.Tensor,
) -> torch.Tensor:
    """The rule of training (coding applies it a band at a time): anchors keep the hyperprior's
    parameters; the other positions get ``correct(parameters, latents at the anchors, zero elsewhere)``."""
    return torch.where(anchors, parameters, correct(parameters, latents * anchors))


class CheckerboardContext(nn.Module):
    """Corrects the hyperprior's (scale, mean) parameters of non-anchor latents from decoded anchors."""

    def __init__(self, latent_channels: int):
        super().__init__()
        m = latent_channels
        self.context = nn.Sequential(conv(m, 2 * m, kernel_size=5, stride=1))
        last = conv(2 * m, 2 * m, kernel_size=1, stride=1)
        for parameter in last.parameters():
            nn.init.zeros_(parameter)
        self.correction = nn.Sequential(
            conv(4 * m, 3 * m, kernel_size=1, stride=1),
            nn.ReLU(),
            conv(3 * m, 2 * m, kernel_size=1, stride=1),
            nn.ReLU(),
            last,
        )

    def latent_sized_layers(self) -> Iterator[LatentSizedLayer]:
        """Layers whose widths follow M: context [2M] <- [M]; correction [3M] <- [4M] (hyperprior parameters
        | context) -> [2M] <- [3M] -> [2M] <- [2M]. New inputs start at zero and new hidden units fresh, so a
        widened context ignores the new channels and corrects the old ones as before."""
        yield LatentSizedLayer(self.context[0], out_blocks=2, in_blocks=1)
        yield LatentSizedLayer(self.correction[0], out_blocks=3, in_blocks=4, new_outputs="fresh")
        yield LatentSizedLayer(self.correction[2], out_blocks=2, in_blocks=3, new_outputs="fresh")
        yield LatentSizedLayer(self.correction[-1], out_blocks=2, in_blocks=2)

    def forward(self, parameters: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        """Parameters (2M channels) for every position given the anchors' values (zero elsewhere);
        only the non-anchor positions of the result are meant to be used."""
        return parameters + self.correction(torch.cat([parameters, self.context(anchors)], dim=1))


class FixedPointCheckerboard:
    """Exact integer twin of :class:`CheckerboardContext` on fixed-point tensors, a band of latent rows at a time."""

    def __init__(self, module: CheckerboardContext):
        self._context = FixedPointNetwork(module.context)
        self._correction = FixedPointNetwork(module.correction)

    def anchor_window(self, rows: range, height: int) -> range:
        """The rows of a latent grid of ``height`` rows whose anchors the parameters of ``rows`` depend on
        (the 5x5 context's receptive field; the correction is 1x1)."""
        return self._context.input_window(rows, height)

    def __call__(self, parameters: torch.Tensor, anchors: torch.Tensor, rows: range, height: int) -> torch.Tensor:
        """Parameters of latent ``rows`` (of ``height``) from their hyperprior ``parameters`` and the anchors'
        values (zero elsewhere) in ``anchor_window(rows, height)``; only the non-anchors' are meant to be used."""
        context = self._context.run_rows(anchors, rows, height)
        # The correction is 1x1: a band of rows is a whole input to it.
        return parameters + self._correction.run_fixed(torch.cat([parameters, context], dim=1))

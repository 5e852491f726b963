"""Encoder-side skip decisions for P-frames: where the prediction is good enough, code "the prediction".

The conditional frame coder is trained to lower ``bits + λ·255²·MSE`` on average, yet per block it
keeps spending bits where the prediction is already about as good as the frame will be: it re-codes
the reference's coding noise, which at mid qualities is half the prediction's error. Given a
prediction of the same quality as its target (the intra codec's own reconstruction of the frame),
tng-inter-v3 spent 0.10 bpp to gain 0.4 dB, a worse ``bits + λ·D`` than sending nothing.

A classical codec's answer is the skip mode, and the conditional coder has one without any change to
the format: the latents the analysis gives for the prediction itself, ``analysis(prediction,
prediction)``, cost almost nothing (0.009 bpp on validation crops, the hyper-latents' floor) and
decode to about the prediction. The encoder compares each 16×16 block's ``bits + λ·255²·squared error``
both ways and keeps the skip latents where they cost less::

    y      = analysis(x, prediction)             what the network would code
    y_skip = analysis(prediction, prediction)    "the prediction", nearly free
    coded  = y_skip where J(y_skip) < J(y) per block, else y

    J(y)      = bits of y at the block + w·λ·255²·SE(synthesis(y, prediction))
    J(y_skip) = bits of y_skip at the block + w·λ·255²·SE(prediction)

The rates are the training-time estimates (rounded latents under the hyperprior and context). A skipped
block's distortion is its prediction's, what the skip latents decode to, about: synthesising them as
well cost one more synthesis and entropy pass per P-frame (0.38 s instead of 0.24 s at 352×288); on the
held-out clips the old decision gave −2.66% (tng-inter-v3, Session 18) and this one −2.60% (tng-inter-v4,
Session 20): not an A/B on one model, but no sign that the second synthesis paid. The decisions interact a little across block borders (the synthesis's
receptive field, the hyper-latents), which the per-block comparison ignores.

A skipped block keeps its prediction's errors, and the next P-frames predict from it: the greedy
per-frame cost undervalues a block's distortion, as x264's macroblock tree corrects for. The decision
weighs the distortion by ``FUTURE_WEIGHT`` × λ. Measured with tng-inter-v3 on the held-out clips
(GOP 32, qualities 2-8, real encoder and decoder; docs/training.md, *Session 18*): with the frame's own
λ (weight 1), 73% of the blocks skip at level 5 and one P-frame's ``bits + λ·D`` falls 7.8%, but over
32 frames BD-rate is +4.7% (cotracker_cat) and +12.3% (davis_paragliding); with weight 4,
−2.82% and −2.49% (`--skip-blocks 0 1 --frames 32`, results/skip_blocks_k4.json). With tng-inter-v4 and
the decision above: −2.91% and −2.29% (results/skip_blocks_cheap_s20.json), at ~0.24 s of a 352×288 P-frame
(an analysis, two entropy passes and a synthesis): encoding 1.8 → 1.24 fps, so it was the default until frames were
padded to 16 pixels (.tngv 7), when it stopped paying: off by default since session 24 (``--skip-blocks`` turns it on).

How much a block's errors are inherited depends on how many frames still predict from it: none for the
last P-frame of a GOP (an I-frame follows), up to 30 for the first. The weight is therefore
:func:`distortion_weight` of the frames after it in its GOP: 1 for the last P-frame, rising geometrically to
``FUTURE_WEIGHT`` (as a macroblock tree's propagation, with a share ρ of each frame's errors passed on).
Against the constant weight 4 (tng-inter-v4, held-out clips, GOP 32, qualities 2-8, 32 frames;
docs/training.md, *Session 21*): rising to 4 −0.38% / −0.38%, rising to 6 −0.56% (cotracker_cat) / −0.83%
(davis_paragliding); the limit is 6.

Only the encoder changes: the chosen latents are coded like any others, so every decoder reads the
files and the reconstruction stays bit-exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional as F

from tngvideo.codecs.conditioning import Condition
from tngvideo.codecs.image_model import lambdas_of_levels
from tngvideo.codecs.inter_model import InterModel
from tngvideo.codecs.latent_codec import LatentForward
from tngvideo.codecs.tiling import LATENT_PIXELS, Reconstruction, ScaledInput

# Off since session 24. Held-out clips: BD-rate -2.6% with frames padded to 64 pixels (.tngv 6, 32 frames; Session 20),
# but turning it off gains -2.37% (cotracker_cat) and -1.03% (davis_paragliding) with frames padded to 16 (.tngv 7, 32
# frames; results/skip_blocks_v7_32f_s24.json): much of its gain was the padding's blocks. 352x288 encoding 1.24 -> ~1.8 fps.
DEFAULT_SKIP_BLOCKS = False
FUTURE_WEIGHT = 6.0  # the limit of the distortion's weight in the decision, in units of the frame's λ (see module docstring)


def distortion_weight(frames_after: int | None) -> float:
    """The distortion's weight in the decision, in units of the frame's λ, for a P-frame that ``frames_after``
    later P-frames of its GOP predict from (None: unknown, as if many). Its own error counts once, and each
    later frame inherits a share ρ of the one before's, so the weight is 1 + ρ + … + ρ^frames_after, which
    tends to ``FUTURE_WEIGHT`` (ρ = 1 − 1/FUTURE_WEIGHT); the last P-frame of a GOP, which nothing
    predicts from, weighs its distortion as the frame's own λ says."""
    if frames_after is None:
        return FUTURE_WEIGHT
    return FUTURE_WEIGHT * (1.0 - (1.0 - 1.0 / FUTURE_WEIGHT) ** (frames_after + 1))


def decision_weight(level: torch.Tensor, frames_after: Sequence[int | None], level_lambdas: tuple[float, ...]
                    ) -> torch.Tensor:
    """Per sample: what a squared error (in 8-bit units) costs in the decision, in bits: the :func:`distortion_weight`
    of its ``frames_after`` times its level's λ·255² (in float64, then float32)."""
    weights = torch.tensor([distortion_weight(n) for n in frames_after], dtype=torch.float64)
    return (weights * lambdas_of_levels(level, level_lambdas).double() * 255**2).float()


def _skip_latents(model: InterModel, condition: Condition, level: torch.Tensor, rule: Reconstruction) -> torch.Tensor:
    """``InterModel.prediction_latents`` as the encoder computes it, tiled under ``rule``: what a skipped block codes.
    Call inside ``rule.inference()``."""
    inputs = [ScaledInput(condition.prediction, LATENT_PIXELS), *condition.inputs()]
    return model.frame_latent.gained(rule.run(model.frame_features, inputs, 1), level)[0]


def with_skipped_blocks(model: InterModel, y: torch.Tensor, inverse_gain: torch.Tensor, condition: Condition,
                        x: torch.Tensor, level: torch.Tensor, height: int, width: int,
                        rule: Reconstruction, frames_after: int | None = None) -> torch.Tensor:
    """The gained frame latents ``y`` (of ``x`` given the ``condition``'s prediction, both padded, (1, 3, H, W))
    with the :func:`_skip_latents` in every block where they cost less (see module docstring); only the ``height`` ×
    ``width`` pixels of the frame count in the distortion, weighted for the ``frames_after`` P-frames that
    will predict from this one (:func:`distortion_weight`). Call inside ``rule.inference()``: the rate estimates
    run at its one intra-op thread too (with every thread the two entropy passes take 0.03 s instead of 0.05 s
    each, but near-ties flip: the sample clip measured +120.7% instead of +120.3% against x264 veryfast)."""

    def synthesize(decoded: torch.Tensor) -> torch.Tensor:
        return rule.run(model.frame_synthesis, [ScaledInput(decoded, 1), *condition.inputs()], LATENT_PIXELS)

    weight = decision_weight(level, [frames_after], model.config.frame.level_lambdas)
    skip = _skip_latents(model, condition, level, rule)
    skipped = _skipped(model, y, skip, inverse_gain, synthesize, condition.prediction, x, weight, height, width)
    return torch.where(skipped[:, None], skip, y)


def choose_skipped_blocks(model: InterModel, x: torch.Tensor, level: torch.Tensor, weight: torch.Tensor,
                          y: torch.Tensor, inverse_gain: torch.Tensor, prediction: torch.Tensor,
                          context: torch.Tensor | None) -> torch.Tensor:
    """The encoder's skip decisions in a training or validation forward (an ``InterModel.forward`` ``choose``, with
    ``model``, the batch ``x``, its ``level`` and :func:`decision_weight` bound): the mixed latents, differentiable
    through both the frame's own latents and the skip latents, so training fits the transforms and the entropy
    models to the latents the encoder codes. The decision itself is the encoder's (rounded latents, no gradient)."""
    skip = model.prediction_latents(prediction, context, level)
    with torch.no_grad(), _evaluating(model.frame_latent):
        skipped = _skipped(model, y.detach(), skip.detach(), inverse_gain.detach(),
                           lambda decoded: model.frame_synthesis(decoded, prediction.detach(),
                                                                 None if context is None else context.detach()),
                           prediction.detach(), x, weight, x.shape[2], x.shape[3])
    return torch.where(skipped[:, None], skip, y)


def _skipped(model: InterModel, y: torch.Tensor, skip: torch.Tensor, inverse_gain: torch.Tensor,
             synthesize: Callable[[torch.Tensor], torch.Tensor], prediction: torch.Tensor, x: torch.Tensor,
             weight: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Per sample and block (B, h, w): whether the skip latents cost less than the own latents ``y`` (rounded, their
    likelihoods in eval mode), a squared error costing ``weight`` (per sample) bits."""
    own = model.frame_latent.from_gained(y, inverse_gain)
    skip_coded = model.frame_latent.from_gained(skip, inverse_gain)
    own_decoded = synthesize(own.decoded).clamp(0, 1)
    weight = weight[:, None, None]
    own_cost = _block_bits(own) + weight * block_error(own_decoded, x, height, width)
    skip_cost = _block_bits(skip_coded) + weight * block_error(prediction.clamp(0, 1), x, height, width)
    return skip_cost < own_cost


@contextmanager
def _evaluating(module: nn.Module) -> Iterator[None]:
    """``module`` in eval mode (exact likelihoods of rounded latents, as the encoder estimates them), then as before."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def _block_bits(coded: LatentForward) -> torch.Tensor:
    """Per latent position (1, h, w): the estimated bits of its latents (hyper-latents not counted)."""
    return -torch.log2(coded.y_likelihoods).sum(dim=1)


def block_error(x_hat: torch.Tensor, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Per latent position (1, h, w): the squared error of its 16×16 pixels (MSE over the colour channels, as
    training's distortion); the padding beyond ``height`` × ``width`` is not shown, so it does not count."""
    squared_error = ((x_hat - x) ** 2).mean(dim=1, keepdim=True)
    squared_error[..., height:, :] = 0
    squared_error[..., :, width:] = 0
    return F.avg_pool2d(squared_error, LATENT_PIXELS)[:, 0] * LATENT_PIXELS**2

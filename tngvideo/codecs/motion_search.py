"""Encoder-side motion search: choose a P-frame's block motion vectors for its prediction and their rate.

The flow network proposes the block vectors (its flow averaged over 16×16 blocks), but the decoder
predicts with those vectors *bilinearly interpolated*, and the network was never told which vectors
predict best under that interpolation or cost fewest bits. The search starts from its proposal and
takes a few Adam steps on the motion part of the training objective, for this one frame::

    cost(v) = motion bits(v) / pixels + λ · 255² · MSE(predict(reference, interpolate(v) + correction), x)

with the vectors' rate under the Gaussians the motion latent codec gives them for the proposal (rounded
straight through; the hyper-latents and the context are held, as the vectors move by a pixel or two),
and the motion synthesis's learned correction held at its value for the proposal too: running the
entropy networks and the synthesis at every step would triple the search's time for the same gain
(measured). ``predict`` is the model's own warp (bilinear or bicubic, ``InterModel.predict``), so the vectors
fit the decoder's kernel. The frame's other motion latents stay as the analysis made them.

Only the encoder changes: the vectors are coded like any others, so every decoder reads the files and
the reconstruction stays bit-exact. Measured with tng-inter-v3 on the two held-out training clips
(``scripts/compare_encoder_settings.py --motion-search 0 8 16 --frames 16``, GOP 32, qualities 2-8):
BD-rate −21.0% (8 steps) and −24.1% (16 steps) against none. With tng-inter-v4 (16 frames, one process per clip),
32 steps against 16: cotracker_cat −1.41%, davis_paragliding −5.34%, sam2_juggle −1.24%; 64 against 32:
−0.03% and −2.58% (the vectors could not travel far enough at 0.15 px a step). A step falling from 0.8 to 0.05 px
over 32 steps (tng-inter-v5) got most of that at 32 steps' cost: −0.62% and −2.29% against a constant 0.15 px
(0.4 to 0.05: −0.64% and −1.71%). The default is 32 steps: ~0.12 s of a 0.37 s 352×288 P-frame (docs/training.md,
*Session 27*).

Optionally (``candidate_rounds``, off by default) the search starts from candidate vectors, as a block-matching
encoder's predictors: per block zero, the reference frame's decoded vector, or a neighbour's, where that lowers the
frame's cost. One round with tng-inter-v5: −0.23% (cotracker_cat), −1.44% (davis_paragliding), −0.96% (sam2_juggle), with
~0.05 dB lost at quality 2 on the first two (docs/training.md, *Session 28*).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from tngvideo.codecs.block_skip import block_error
from tngvideo.codecs.image_model import lambdas_of_levels
from tngvideo.codecs.inter_model import BLOCK_VECTOR_UNITS, FLOW_SCALE, MOTION_BLOCK, InterModel
from tngvideo.entropy.gaussian import gaussian_likelihood
from tngvideo.entropy.quantization import round_straight_through
from tngvideo.schedules import cosine_decay

DEFAULT_SEARCH_STEPS = 32
DEFAULT_MOTION_WEIGHT = 1.0  # the distortion's weight in the search's cost, in units of the frame's λ
# Adam's step on the vectors, in pixels, from the first step's to the last's along a half cosine (a constant step:
# 0.1-0.2 measured alike, larger oscillates; a falling one reaches vectors a few pixels away and still settles).
# A shorter search starts smaller, in proportion: a large first move needs steps left to settle.
FIRST_STEP_PIXELS = 0.8
FIRST_STEP_FULL_AT = 32  # searches of this many steps or more start at FIRST_STEP_PIXELS
LAST_STEP_PIXELS = 0.05
DEFAULT_CANDIDATE_ROUNDS = 0  # rounds of neighbours' vectors tried per block before the gradient steps (0: none)


# decoded motion latents -> the motion synthesis's output (before FLOW_SCALE); the encoder's runs it in tiles
MotionSynthesis = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class _Proposal:
    """The flow network's motion latents as a decoder would see them (rounded as the training forward
    rounds, close to the exact coder's), and the Gaussians of their block-vector channels."""

    decoded: torch.Tensor
    scales: torch.Tensor
    means: torch.Tensor


def search_motion(model: InterModel, reference: torch.Tensor, x: torch.Tensor, features: torch.Tensor,
                  level: torch.Tensor, steps: int, height: int, width: int,
                  synthesis: MotionSynthesis | None = None, weight: float = DEFAULT_MOTION_WEIGHT,
                  candidate_rounds: int = DEFAULT_CANDIDATE_ROUNDS,
                  previous_vectors: torch.Tensor | None = None) -> torch.Tensor:
    """``features`` (the motion analysis's output for ``x``, (B, M, h, w), block vectors first; ``level``
    per sample) with block vectors searched for the lowest cost above. ``synthesis`` runs ``model.motion.synthesis`` (default: as
    it is; the encoder passes its tiling rule's runner); the distortion counts the frame's ``height`` ×
    ``width`` pixels only (not the padding), weighted by ``weight`` × λ. ``candidate_rounds`` > 0 first lets each
    block take a neighbour's vector, zero, or its vector in ``previous_vectors`` (the reference frame's decoded block
    vectors in pixels, if it has any) (:func:`_candidate_start`). ``steps`` = 0 returns ``features``
    unchanged; otherwise the cheapest vectors seen are returned, so the search never ends worse than the flow
    network's proposal."""
    if steps <= 0:
        return features
    proposal = _propose(model, features, level)
    with torch.no_grad():
        correction = (synthesis or model.motion.synthesis)(proposal.decoded) * FLOW_SCALE
    return _search(model, reference, x, features, proposal, correction, level, steps, height, width, weight,
                   candidate_rounds, previous_vectors)


def _propose(model: InterModel, features: torch.Tensor, level: torch.Tensor) -> _Proposal:
    """One pass of the motion latent codec's entropy networks, for both what the search holds."""
    latent = model.motion.latent
    with torch.no_grad():
        y, inverse_gain = latent.gained(features, level)
        y_hat, scales, means = latent.rounded(y)
    return _Proposal(y_hat * inverse_gain, scales[:, :2], means[:, :2])


class _VectorCost:
    """What block vectors (B, 2, h, w, in pixels) cost a frame: their bits under the proposal's Gaussians, and λ-weighted
    the squared error of the prediction they make with the held correction, counted on the shown pixels only."""

    def __init__(self, model: InterModel, reference: torch.Tensor, x: torch.Tensor, proposal: _Proposal,
                 correction: torch.Tensor, level: torch.Tensor, height: int, width: int, weight: float):
        self.model, self.reference, self.x, self.correction = model, reference, x, correction
        self.height, self.width = height, width
        self.proposal = proposal
        self.distortion_weight = weight * lambdas_of_levels(level, model.config.frame.level_lambdas) * 255**2
        gains, inverse_gains = model.motion.latent.gains(level)
        self.gain, self.inverse_gain = gains[:, :2], inverse_gains[:, :2]  # the block vectors' channels

    def quantized(self, vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(bits per block (B, h, w), the decoded vectors in pixels), rounded straight through."""
        means = self.proposal.means
        y_hat = round_straight_through(vectors * BLOCK_VECTOR_UNITS * self.gain - means) + means
        bits = -torch.log2(gaussian_likelihood(y_hat, means, self.proposal.scales)).sum(1)
        return bits, y_hat * self.inverse_gain / BLOCK_VECTOR_UNITS

    def of_frames(self, vectors: torch.Tensor) -> torch.Tensor:
        """The cost per sample, with the vectors interpolated bilinearly as the decoder does."""
        bits, decoded = self.quantized(vectors)
        blocks = F.interpolate(decoded, size=self.x.shape[2:], mode="bilinear", align_corners=False)
        prediction = self.model.predict(self.reference, blocks + self.correction)[:, :, : self.height, : self.width]
        distortion = ((prediction - self.x[:, :, : self.height, : self.width]) ** 2).mean((1, 2, 3))
        return bits.sum((1, 2)) / (self.height * self.width) + self.distortion_weight * distortion

    def of_blocks(self, vectors: torch.Tensor) -> torch.Tensor:
        """The cost per block (B, h, w), each block moved by its own vector alone (the frame cost times its pixels)."""
        bits, decoded = self.quantized(vectors)
        blocks = F.interpolate(decoded, scale_factor=MOTION_BLOCK, mode="nearest")
        prediction = self.model.predict(self.reference, blocks + self.correction)
        return bits + self.distortion_weight[:, None, None] * block_error(prediction, self.x, self.height, self.width)


def _candidate_start(cost: _VectorCost, vectors: torch.Tensor, rounds: int,
                     previous: torch.Tensor | None) -> torch.Tensor:
    """Block vectors where each block took the cheapest of its own, zero, the ``previous`` frame's at its place and
    its eight neighbours' (the first round), then its four neighbours' again (each later round, so a good vector
    spreads): what a block-matching encoder's predictor candidates do. The flow network averages its flow over a
    block, which misses where a block holds two motions or the flow failed; a neighbour's vector often fits better."""
    with torch.no_grad():
        block_costs, frame_cost = cost.of_blocks(vectors), cost.of_frames(vectors)
        for round_ in range(rounds):
            start = vectors
            candidates = [torch.zeros_like(start)] if round_ == 0 else []
            if round_ == 0 and previous is not None and previous.shape == start.shape:
                candidates.append(previous)
            candidates += [_shifted(start, dy, dx) for dy, dx in (_NEIGHBOURS if round_ == 0 else _NEIGHBOURS[:4])]
            for candidate in candidates:
                candidate_costs = cost.of_blocks(candidate)
                better = candidate_costs < block_costs
                chosen = torch.where(better[:, None], candidate, vectors)
                # a block's cost is measured as if it moved alone; the decoder interpolates between blocks, so the
                # choice stands only if the whole frame's cost falls
                chosen_cost = cost.of_frames(chosen)
                kept = chosen_cost < frame_cost
                frame_cost = torch.where(kept, chosen_cost, frame_cost)
                block_costs = torch.where(kept[:, None, None] & better, candidate_costs, block_costs)
                vectors = torch.where(kept[:, None, None, None], chosen, vectors)
    return vectors


_NEIGHBOURS = ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1))  # (dy, dx), the four nearest first


def _shifted(vectors: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Each block given the vector of its neighbour at (dy, dx) (its own at the picture's edge)."""
    height, width = vectors.shape[2:]
    padded = F.pad(vectors, (1, 1, 1, 1), mode="replicate")
    return padded[:, :, 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]


def _search(model: InterModel, reference: torch.Tensor, x: torch.Tensor, features: torch.Tensor,
            proposal: _Proposal, correction: torch.Tensor, level: torch.Tensor, steps: int, height: int,
            width: int, weight: float, candidate_rounds: int, previous_vectors: torch.Tensor | None) -> torch.Tensor:
    """The search on a batch: each sample's cost at its own level, each keeps its own cheapest vectors."""
    cost_of = _VectorCost(model, reference, x, proposal, correction, level, height, width, weight)
    proposed = features[:, :2] / BLOCK_VECTOR_UNITS
    # the candidates' start never costs more than the proposal (their gate), so the first step scores the best start
    start = proposed if candidate_rounds == 0 else _candidate_start(cost_of, proposed, candidate_rounds,
                                                                    previous_vectors)
    vectors = start.clone().requires_grad_(True)
    optimizer = _Adam(vectors)
    best_cost, best = torch.full((x.shape[0],), float("inf")), vectors.detach().clone()
    with torch.enable_grad():
        for step in range(steps + 1):  # the last pass only scores the last step's vectors
            cost = cost_of.of_frames(vectors)
            better = cost.detach() < best_cost
            best_cost = torch.where(better, cost.detach(), best_cost)
            best = torch.where(better[:, None, None, None], vectors.detach(), best)
            if step == steps:
                break
            (gradient,) = torch.autograd.grad(cost.sum(), [vectors])
            optimizer.step(gradient, _step_pixels(step, steps))
    return torch.cat((best * BLOCK_VECTOR_UNITS, features[:, 2:]), dim=1)


def _step_pixels(step: int, steps: int) -> float:
    """The search's step size at ``step`` of ``steps``: large first, to reach vectors a few pixels away, then small."""
    first = max(LAST_STEP_PIXELS, FIRST_STEP_PIXELS * min(1.0, steps / FIRST_STEP_FULL_AT))
    return cosine_decay(first, LAST_STEP_PIXELS, step / max(1, steps - 1))


class _Adam:
    """Adam (Kingma & Ba 2015) on one tensor, updated in place. Not ``torch.optim.Adam``: its first step
    imports torch._dynamo, 2 s of every encode's first P-frame."""

    BETAS = (0.9, 0.999)
    EPSILON = 1e-8

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor
        self.mean = torch.zeros_like(tensor)
        self.square = torch.zeros_like(tensor)
        self.steps = 0

    @torch.no_grad()
    def step(self, gradient: torch.Tensor, size: float) -> None:
        (b1, b2), self.steps = self.BETAS, self.steps + 1
        self.mean.lerp_(gradient, 1 - b1)
        self.square.lerp_(gradient * gradient, 1 - b2)
        denominator = (self.square / (1 - b2**self.steps)).sqrt_().add_(self.EPSILON)
        self.tensor.addcdiv_(self.mean, denominator, value=-size / (1 - b1**self.steps))

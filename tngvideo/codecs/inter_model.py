"""The TNG P-frame network: CNN flow, coded motion, warped prediction, conditional coding of the frame.

Built from the image codec's parts (analysis/synthesis transforms, :class:`LatentCodec`), so a
P-frame model starts from a trained image model::

    reference x̂_{t-1} ──┐
    current x_t ──► FlowEstimator (encoder only) ──► flow
                                                       │ ÷FLOW_SCALE
                        motion: [16×16 block vectors | analysis] ─► LatentCodec ─► upsampled vectors
                                + synthesis ──► decoded flow
                                                                            │
    prediction = warp(x̂_{t-1}, decoded flow) ◄──────────────────────────────┘
    frame:  analysis([x_t, prediction]) ─► LatentCodec ─► synthesis(ŷ, prediction) ──► x̂_t

The frame coder is *conditional* (Li et al., DCVC, NeurIPS 2021), in a warm-startable form: the
prediction enters the image codec's analysis through a convolution added to its first layer, and its
synthesis through a transposed convolution (of the prediction at 1/2 resolution, space-to-depth) added
to its last layer; optionally (``prediction_pyramid_channels``) a small :class:`PredictionPyramid` also
feeds both transforms at 1/2, 1/4 and 1/8 resolution. Every prediction input starts at zero, so a model
initialised from an image model (:meth:`InterModel.initialise_from_image`), or grown from a P-frame model
without a pyramid (:meth:`InterModel.load_grown`), starts by coding exactly as that model did, and
training can only learn to use the prediction. The entropy models never see the (float) prediction: their parameters come from
hyper-latents and spatial context alone, so every decoder parses the same symbols.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import get_args

import torch
from torch import nn
from torch.nn import functional as F

from tngvideo.codecs.flow import FlowConfig, FlowEstimator, WarpInterpolation, warp
from tngvideo.codecs.image_model import ImageModel, ImageModelConfig
from tngvideo.codecs.latent_codec import LatentCodec, LatentForward, SpatialContext
from tngvideo.config_json import JsonConfig
from tngvideo.layers import analysis_transform, conv, deconv, synthesis_transform

FLOW_SCALE = 4.0  # flow in pixels is divided by this before the motion analysis (keeps its inputs near unit scale)
MOTION_BLOCK = 16  # the motion latents' grid: one block motion vector per 16×16 pixels
BLOCK_VECTOR_UNITS = 4.0  # block motion vectors are coded in quarter pixels (at the middle level's gain)
# motion features -> the same features with the encoder's choice of block vectors (codecs.motion_search)
MotionRefinement = Callable[[torch.Tensor], torch.Tensor]
# (gained frame latents, their inverse gain, prediction, context) -> the latents the encoder codes instead
# (codecs.block_skip: "the prediction" where it costs less)
FrameLatentChoice = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]
_PREDICTION_CHANNELS_AT_HALF = 12  # the prediction space-to-depth at 1/2 resolution


@dataclass(frozen=True)
class InterModelConfig(JsonConfig):
    """Architecture of a P-frame network; stored with its weights."""

    frame: ImageModelConfig = field(default_factory=ImageModelConfig)  # the conditional frame coder's transforms
    flow: FlowConfig = field(default_factory=FlowConfig)
    motion_hidden_channels: int = 64
    motion_latent_channels: int = 64
    motion_hyper_channels: int = 64
    motion_context: SpatialContext = "none"
    prediction_pyramid_channels: int = 0  # 0: the prediction enters the frame coder at full/half resolution only
    # Features (at 1/2 resolution) the frame coder's synthesis passes to the next P-frame beside its pixels, warped
    # and read through the prediction pyramids (0: pixels only). A multiple of 4 (ConditionalSynthesis.packed).
    propagated_channels: int = 0
    # How the reference is sampled at the decoded flow. Bilinear sampling is a low-pass filter ([½, ½] at half-pixel
    # positions) that each P-frame of a GOP applies again; bicubic keeps more of the reference's detail.
    warp_interpolation: WarpInterpolation = "bilinear"

    STRIDE = ImageModelConfig.STRIDE  # pixels to hyper-latents (training crops are multiples of it; .tngv frames up to v6 too)

    def __post_init__(self) -> None:
        if self.propagated_channels and not self.prediction_pyramid_channels:
            raise ValueError("propagated features enter through the prediction pyramids: give it one")
        if self.warp_interpolation not in get_args(WarpInterpolation):
            raise ValueError(f"unknown warp interpolation {self.warp_interpolation!r}")
        if self.propagated_channels % 4:
            raise ValueError(f"propagated channels must be a multiple of 4, got {self.propagated_channels}")

    @classmethod
    def from_json(cls, text: str) -> InterModelConfig:
        fields = json.loads(text)
        frame = ImageModelConfig.from_json(json.dumps(fields.pop("frame")))
        flow = FlowConfig.from_json(json.dumps(fields.pop("flow")))
        return cls(frame=frame, flow=flow, **fields)


class MotionCoder(nn.Module):
    """Flow -> motion latents -> decoded flow.

    Two of the latent channels are block motion vectors: the flow averaged over 16×16 blocks, in
    quarter pixels (as a classical codec's motion vectors); the others are learned features of the flow
    (the image codec's analysis transform on two channels). The decoded flow is the block vectors
    bilinearly interpolated plus the synthesis transform's correction. The learned paths start at zero
    (last layers zero), so an untrained motion coder already codes block motion, and training adds
    what the blocks miss."""

    def __init__(self, config: InterModelConfig):
        super().__init__()
        n, m = config.motion_hidden_channels, config.motion_latent_channels
        self.analysis = analysis_transform(2, n, m - 2)
        self.latent = LatentCodec(m, config.motion_hyper_channels, config.frame.level_lambdas, config.motion_context)
        self.synthesis = synthesis_transform(m, n, 2)
        for layer in (self.analysis[-1], self.synthesis[-1]):
            for parameter in layer.parameters():
                nn.init.zeros_(parameter)

    def forward(self, flow: torch.Tensor, level: torch.Tensor,
                refine: MotionRefinement | None = None) -> tuple[torch.Tensor, LatentForward]:
        """(decoded flow, the latent codec's training output); ``refine`` (validation scoring what the encoder
        codes) replaces the features by the encoder's motion search's."""
        features = self.features(flow)
        if refine is not None:
            features = refine(features)
        coded = self.latent(features, level)
        return self.synthesize(coded.decoded), coded

    def features(self, flow: torch.Tensor) -> torch.Tensor:
        blocks = F.avg_pool2d(flow, MOTION_BLOCK) * BLOCK_VECTOR_UNITS
        return torch.cat((blocks, self.analysis(flow / FLOW_SCALE)), dim=1)

    def scale_vector_steps(self, step_scales: Sequence[float]) -> None:
        """Multiply the block vectors' quantization step at each level by its factor (their gains divided by it).

        The vectors' gains start on the frame latents' ladder (step ∝ λ^-½, a quarter pixel at the middle level) and
        joint training leaves them there (tng-inter-v4: within 0.04 in log after 6.6 CPU-hours), though a vector's
        precision need not follow a frame latent's: coarser steps paid at the middle and high levels on every held-out
        clip, at the low levels only where motion is slow (docs/training.md, *Session 26*). The decoder reads the
        edited gains from the weights."""
        self.latent.gains.scale_steps(step_scales, slice(0, 2))

    def synthesize(self, decoded_latents: torch.Tensor) -> torch.Tensor:
        height, width = (MOTION_BLOCK * side for side in decoded_latents.shape[2:])
        blocks = F.interpolate(decoded_latents[:, :2] / BLOCK_VECTOR_UNITS, size=(height, width), mode="bilinear",
                               align_corners=False)
        return blocks + self.synthesis(decoded_latents) * FLOW_SCALE


class PredictionPyramid(nn.Module):
    """Features of the prediction at 1/2, 1/4 and 1/8 resolution (stride-2 3×3 convolutions with ReLU):
    what the frame coder's transforms see of the prediction at their inner scales, where a pixel-domain
    input alone cannot tell them which details the prediction already holds (DCVC's multi-scale
    contexts, Sheng et al. 2022, in a light form). With ``context_channels``, the warped features the
    previous P-frame's synthesis propagated (its *context*, at 1/2 resolution) are added at the first level
    through a 1×1 convolution that starts at zero."""

    SCALES = 3

    def __init__(self, channels: int, context_channels: int = 0):
        super().__init__()
        self.levels = nn.ModuleList(conv(3 if i == 0 else channels, channels, kernel_size=3) for i in range(self.SCALES))
        self.context_input = _zero_input(context_channels, channels) if context_channels else None

    def forward(self, prediction: torch.Tensor, context: torch.Tensor | None = None) -> list[torch.Tensor]:
        """[features at 1/2, 1/4, 1/8]; ``context`` is required with ``context_channels``."""
        first = self.levels[0](prediction)
        if self.context_input is not None:
            if context is None:
                raise ValueError("this pyramid reads a propagated context: pass one")
            first = first + self.context_input(context)
        pyramid = [F.relu(first)]
        for level in self.levels[1:]:
            pyramid.append(F.relu(level(pyramid[-1])))
        return pyramid


def _zero_input(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 1×1 convolution that adds features to a transform's hidden features, starting at zero (so a grown model
    codes as before)."""
    layer = conv(in_channels, out_channels, kernel_size=1, stride=1)
    for parameter in layer.parameters():
        nn.init.zeros_(parameter)
    return layer


def _zero_inputs(count: int, in_channels: int, out_channels: int) -> nn.ModuleList:
    """``count`` of :func:`_zero_input`: a transform's inputs of pyramid features."""
    return nn.ModuleList(_zero_input(in_channels, out_channels) for _ in range(count))


def _run_adding(transform: nn.Sequential, features: torch.Tensor, before: dict[str, torch.Tensor],
                capture: str | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run ``transform``, adding ``before[name]`` to the input of its layer ``name``; returns the output and the
    input of layer ``capture`` (after the addition; None without one)."""
    captured = None
    for name, layer in transform.named_children():
        if name in before:
            features = features + before[name]
        if name == capture:
            captured = features
        features = layer(features)
    return features, captured


class ConditionalAnalysis(nn.Module):
    """The image analysis transform, which also reads the prediction: through a convolution added to its
    first layer's output and, with a :class:`PredictionPyramid`, at 1/4 and 1/8 resolution too (every
    prediction input starts at zero)."""

    # The layers (of layers.analysis_transform) whose inputs the prediction is added to: the GDNs at 1/2, 1/4, 1/8.
    _INPUTS_AT = ("1", "3", "5")

    def __init__(self, config: ImageModelConfig, pyramid_channels: int = 0, context_channels: int = 0):
        super().__init__()
        self.transform = analysis_transform(3, config.hidden_channels, config.latent_channels,
                                            config.analysis_residual_blocks)
        self.prediction_input = conv(3, config.hidden_channels)
        for parameter in self.prediction_input.parameters():
            nn.init.zeros_(parameter)
        self.pyramid = PredictionPyramid(pyramid_channels, context_channels) if pyramid_channels else None
        self.pyramid_inputs = _zero_inputs(2, pyramid_channels, config.hidden_channels) if pyramid_channels else None

    def forward(self, x: torch.Tensor, prediction: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        added = [self.prediction_input(prediction)]
        if self.pyramid is not None and self.pyramid_inputs is not None:
            pyramid = self.pyramid(prediction, context)
            added += [adapt(features) for adapt, features in zip(self.pyramid_inputs, pyramid[1:], strict=True)]
        return _run_adding(self.transform, x, dict(zip(self._INPUTS_AT, added, strict=False)))[0]


class ConditionalSynthesis(nn.Module):
    """The image synthesis transform, which also reads the prediction: space-to-depth at 1/2 resolution
    through its own transposed convolution added to the output and, with a :class:`PredictionPyramid`,
    at the inputs of its upsampling layers at 1/8, 1/4 and 1/2 (every prediction input starts at zero)."""

    # The layers (of layers.synthesis_transform) whose inputs pyramid features are added to: the
    # transposed convolutions from 1/8, 1/4 and 1/2 resolution.
    _INPUTS_AT = ("2", "4", "6")
    _PROPAGATED_FROM = "6"  # propagated features are made from the input of the last layer (1/2 resolution)

    def __init__(self, config: ImageModelConfig, pyramid_channels: int = 0, propagated_channels: int = 0):
        super().__init__()
        self.transform = synthesis_transform(config.latent_channels, config.hidden_channels, 3,
                                             config.synthesis_residual_blocks, config.synthesis_half_resolution_block)
        self.prediction_input = deconv(_PREDICTION_CHANNELS_AT_HALF, 3, float32=True)  # carries the prediction
        for parameter in self.prediction_input.parameters():
            nn.init.zeros_(parameter)
        self.pyramid = PredictionPyramid(pyramid_channels, propagated_channels) if pyramid_channels else None
        self.pyramid_inputs = _zero_inputs(3, pyramid_channels, config.hidden_channels) if pyramid_channels else None
        self.propagated_output = (conv(config.hidden_channels, propagated_channels, kernel_size=1, stride=1)
                                  if propagated_channels else None)

    def forward(self, decoded_latents: torch.Tensor, prediction: torch.Tensor,
                context: torch.Tensor | None = None) -> torch.Tensor:
        """The decoded pixels."""
        return self._run(decoded_latents, prediction, context, propagate=False)[0]

    def with_propagated(self, decoded_latents: torch.Tensor, prediction: torch.Tensor,
                        context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(decoded pixels, what is propagated to the next P-frame: features at 1/2 resolution, None without
        propagation); ``context``: the previous P-frame's, warped (required with propagation)."""
        return self._run(decoded_latents, prediction, context, propagate=True)

    def _run(self, decoded_latents: torch.Tensor, prediction: torch.Tensor, context: torch.Tensor | None,
             propagate: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        added: dict[str, torch.Tensor] = {}
        if self.pyramid is not None and self.pyramid_inputs is not None:
            coarse_first = reversed(self.pyramid(prediction, context))
            added = {name: adapt(features) for name, adapt, features
                     in zip(self._INPUTS_AT, self.pyramid_inputs, coarse_first, strict=True)}
        output = self.propagated_output if propagate else None
        hidden, at_half = _run_adding(self.transform, decoded_latents, added,
                                      self._PROPAGATED_FROM if output is not None else None)
        pixels = hidden + self.prediction_input(F.pixel_unshuffle(prediction, 2))
        return pixels, (output(at_half) if output is not None and at_half is not None else None)

    def packed(self, decoded_latents: torch.Tensor, prediction: torch.Tensor,
               context: torch.Tensor | None = None) -> torch.Tensor:
        """[pixels | propagated features, depth-to-space by 2]: (B, 3 + C/4, H, W), one full-resolution tensor,
        so a tiled run (codecs.tiling) carries both (just the pixels without propagation);
        :func:`unpack_propagated` splits it."""
        pixels, propagated = self.with_propagated(decoded_latents, prediction, context)
        if propagated is None:
            return pixels
        return torch.cat([pixels, F.pixel_shuffle(propagated.to(pixels.dtype), 2)], dim=1)


def unpack_propagated(packed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(pixels, propagated features at 1/2 resolution, or None) of :meth:`ConditionalSynthesis.packed`'s output."""
    return packed[:, :3], (F.pixel_unshuffle(packed[:, 3:], 2) if packed.shape[1] > 3 else None)


def warp_context(propagated: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Propagated features (at 1/2 resolution) warped by a full-resolution flow (averaged over 2×2 pixels, halved)."""
    return warp(propagated, F.avg_pool2d(flow, 2) / 2)


@dataclass(frozen=True)
class MotionForward:
    """Training-time output of the motion path: the prediction, the decoded flow and the motion latents."""

    prediction: torch.Tensor
    flow: torch.Tensor
    coded: LatentForward


@dataclass(frozen=True)
class InterForward:
    """Training-time output of one P-frame."""

    x_hat: torch.Tensor
    prediction: torch.Tensor
    flow: torch.Tensor  # decoded flow
    motion: LatentForward
    frame: LatentForward
    propagated: torch.Tensor | None = None  # features for the next P-frame (InterModelConfig.propagated_channels)

    def bits_per_pixel(self) -> torch.Tensor:
        """Estimated rate of each sample (motion + frame), shape (B,)."""
        return (self.motion.bits() + self.frame.bits()) / (self.x_hat.shape[2] * self.x_hat.shape[3])

    def motion_bits_per_pixel(self) -> torch.Tensor:
        return self.motion.bits() / (self.x_hat.shape[2] * self.x_hat.shape[3])


class InterModel(nn.Module):
    """Transforms and latent codecs of the P-frame codec (see module docstring)."""

    def __init__(self, config: InterModelConfig):
        super().__init__()
        self.config = config
        frame = config.frame
        self.flow = FlowEstimator(config.flow)
        self.motion = MotionCoder(config)
        self.frame_analysis = ConditionalAnalysis(frame, config.prediction_pyramid_channels, config.propagated_channels)
        self.frame_latent = LatentCodec(frame.latent_channels, frame.hyper_channels, frame.level_lambdas, frame.context)
        self.frame_synthesis = ConditionalSynthesis(frame, config.prediction_pyramid_channels,
                                                    config.propagated_channels)

    def predict(self, reference: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """The motion-compensated prediction: the decoded reference warped by the decoded flow."""
        return warp(reference, flow, self.config.warp_interpolation)

    def frame_features(self, x: torch.Tensor, prediction: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """The frame latents before their gain: the conditional analysis of ``x``."""
        return self.frame_analysis(x, prediction, context)

    def context_of(self, propagated: torch.Tensor | None, flow: torch.Tensor) -> torch.Tensor | None:
        """The frame coder's context: the features the reference's synthesis propagated, warped by the decoded
        ``flow``; zeros after an I-frame (which propagates none); None for a model without propagation."""
        channels = self.config.propagated_channels
        if not channels:
            return None
        if propagated is None:
            batch, _, height, width = flow.shape
            return flow.new_zeros(batch, channels, height // 2, width // 2)
        return warp_context(propagated.to(flow.dtype), flow)

    def motion_prediction(self, reference: torch.Tensor, x: torch.Tensor, level: torch.Tensor,
                          flow: torch.Tensor | None = None, refine: MotionRefinement | None = None) -> MotionForward:
        """Estimate, code and apply the motion of ``x`` relative to the decoded ``reference``.

        Always in float32, also when training autocasts to bfloat16: bfloat16 keeps 8 bits (a flow of
        30 px in steps of 1/8 px), and with this path in bfloat16 the training prediction fell from 25.0 to
        22.7 dB in 500 steps (joint-c, docs/training.md)."""
        with torch.autocast("cpu", enabled=False):
            reference, x = reference.float(), x.float()
            if flow is None:
                flow = self.flow(reference, x)
            decoded_flow, coded = self.motion(flow, level, refine)
            return MotionForward(self.predict(reference, decoded_flow), decoded_flow, coded)

    def forward(self, reference: torch.Tensor, x: torch.Tensor, level: torch.Tensor,
                flow: torch.Tensor | None = None, refine: MotionRefinement | None = None,
                propagated: torch.Tensor | None = None, choose: FrameLatentChoice | None = None) -> InterForward:
        """Code ``x`` given the decoded ``reference`` (both (B, 3, H, W), H and W multiples of 16, one latent) at
        per-sample ``level``; ``flow`` overrides the flow network, ``refine`` changes
        the motion features as the encoder's search would (see :meth:`MotionCoder.forward`), ``choose`` the
        frame latents as its skip decisions would; ``propagated``: what the reference's synthesis propagated
        (None after an I-frame)."""
        motion = self.motion_prediction(reference, x, level, flow, refine)
        context = self.context_of(propagated, motion.flow)
        y, inverse_gain = self.frame_latent.gained(self.frame_features(x, motion.prediction, context), level)
        if choose is not None:
            y = choose(y, inverse_gain, motion.prediction, context)
        frame = self.frame_latent.from_gained(y, inverse_gain)
        x_hat, passed_on = self.frame_synthesis.with_propagated(frame.decoded, motion.prediction, context)
        return InterForward(x_hat, motion.prediction, motion.flow, motion.coded, frame, passed_on)

    def prediction_latents(self, prediction: torch.Tensor, context: torch.Tensor | None, level: torch.Tensor
                           ) -> torch.Tensor:
        """The gained latents of ``analysis(prediction, prediction)``: "the prediction" in latent space (what a skipped
        block codes); the encoder's tiled form is in ``block_skip``."""
        return self.frame_latent.gained(self.frame_features(prediction, prediction, context), level)[0]

    def latent_rates(self, reference: torch.Tensor, x: torch.Tensor, level: torch.Tensor) -> tuple[LatentForward, LatentForward]:
        """The (motion, frame) latent codecs' training outputs, the synthesis not run: with the transforms
        frozen (the prior stage), a rate-only loss on them reaches the entropy models alone (the frame coder
        sees a detached prediction, so no gradient runs back through the warp)."""
        motion = self.motion_prediction(reference, x, level)
        context = self.context_of(None, motion.flow)
        return motion.coded, self.frame_latent(self.frame_features(x, motion.prediction.detach(), context), level)

    def entropy_parameters(self) -> list[nn.Parameter]:
        """The parameters of both latent codecs' entropy models (what the prior stage trains)."""
        return self.motion.latent.entropy_parameters_list() + self.frame_latent.entropy_parameters_list()

    def initialise_from_image(self, image_state: dict[str, torch.Tensor]) -> None:
        """Start the frame coder as the image codec whose (network) weights these are: the prediction's
        inputs start at zero, so the P-frame model codes like the intra codec at first."""
        image = ImageModel(self.config.frame)
        image.load_state_dict(image_state)  # older files' keys are upgraded by ImageModel's load hook
        self.frame_latent.load_state_dict(image.latent.state_dict())
        self.frame_analysis.transform.load_state_dict(image.g_a.state_dict())
        self.frame_synthesis.transform.load_state_dict(image.g_s.state_dict())

    @torch.no_grad()
    def start_as_residual_coder(self) -> None:
        """Set the prediction's inputs so that the frame coder codes the residual ``x − prediction`` with the
        image transforms (offset to mid-grey) and adds the prediction back: its first layer sees
        ``x − prediction + ½`` (up to the zero padding at the picture's border), and its output is
        ``synthesis + prediction − ½``. Residual coding is the special case of conditional coding that uses
        the prediction from the first step; training may then move away from it."""
        first = self.frame_analysis.transform[0]
        assert isinstance(first, nn.Conv2d)
        analysis_input = self.frame_analysis.prediction_input
        analysis_input.weight.copy_(-first.weight)
        analysis_input.bias.copy_(0.5 * first.weight.sum(dim=(1, 2, 3)))  # type: ignore[union-attr]
        synthesis_input = self.frame_synthesis.prediction_input  # depth-to-space of the unshuffled prediction
        synthesis_input.weight.zero_()
        size = synthesis_input.kernel_size[0] // 2
        for channel in range(3):
            for row in range(2):
                for column in range(2):
                    synthesis_input.weight[channel * 4 + row * 2 + column, channel, size + row, size + column] = 1.0
        synthesis_input.bias.fill_(-0.5)  # type: ignore[union-attr]

    def load_grown(self, state: dict[str, torch.Tensor]) -> None:
        """Load the weights of a model like this one but without some of its optional parts: checkerboard
        contexts and prediction pyramids (e.g. added to trained weights). A new part keeps its fresh
        initialisation, whose effect is zero (a context's correction, a pyramid's inputs), so the model codes
        exactly as those weights did; anything else missing or unexpected is an error."""
        missing, unexpected = self.load_state_dict(state, strict=False)
        optional = ("motion.latent.checkerboard.", "frame_latent.checkerboard.", "frame_analysis.pyramid",
                    "frame_synthesis.pyramid", "frame_synthesis.propagated_output.")
        others = [key for key in missing if not key.startswith(optional)]
        if others or unexpected:
            raise ValueError(f"weights do not fit this model: missing {others}, unexpected {list(unexpected)}")

    def load_motion(self, state: dict[str, torch.Tensor]) -> None:
        """Take the flow network and the motion coder from another P-frame model's weights (an earlier stage)."""
        for name, module in (("flow", self.flow), ("motion", self.motion)):
            module.load_state_dict({k[len(name) + 1 :]: v for k, v in state.items() if k.startswith(name + ".")})

    def new_modules(self) -> list[nn.Module]:
        """What an image model does not have (trained from zero or from stage 1): the flow network, the motion
        coder, and the prediction's inputs of the frame coder."""
        conditional = (self.frame_analysis, self.frame_synthesis)
        output = self.frame_synthesis.propagated_output
        return [self.flow, self.motion, *([output] if output is not None else []),
                *(module.prediction_input for module in conditional),
                *(part for module in conditional for part in (module.pyramid, module.pyramid_inputs) if part is not None)]

"""The TNG P-frame codec: a trained :class:`InterModel` made exact, frame by frame.

Encoding a P-frame (the decoder repeats every step after the flow from the two payloads)::

    x, reference ─► flow CNN ─► motion analysis ─► motion LatentCodec ─► [motion payload]
                                                          │ decoded motion latents
                        reference ─► warp(·, motion synthesis) ─► prediction
    [x, prediction] ─► frame analysis ─► frame LatentCodec ─► [frame payload]
                                                 │ decoded frame latents
                            conditional synthesis(·, prediction) ─► reconstruction (uint8)

Both latent codecs take their entropy parameters from integers only (hyper-latent symbols, spatial
context), so the flow, the warp and the synthesis may be float: they change pixels, never the parse.
All float steps run under :func:`deterministic_inference`, so the reconstruction does not depend on
the thread count; the reference of the next frame is this frame's uint8 reconstruction.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from tngvideo.codecs.image_codec import deterministic_inference, pad_to_multiple, to_tensor, to_uint8
from tngvideo.codecs.inter_model import InterModel, InterModelConfig
from tngvideo.codecs.latent_codec import LatentPayload, latent_grid, quality_level
from tngvideo.entropy.coder import CODER_ID
from tngvideo.entropy.tables import HyperpriorTables
from tngvideo.errors import InputError

MOTION_TABLES = "motion.coding."
FRAME_TABLES = "frame.coding."


@dataclass(frozen=True)
class InterPayload:
    """The entropy-coded sections of one P-frame: motion latents, then frame latents."""

    motion: LatentPayload
    frame: LatentPayload

    @property
    def num_bytes(self) -> int:
        return self.motion.num_bytes + self.frame.num_bytes


@dataclass(frozen=True)
class EncodedInterFrame:
    """A P-frame's payload and the picture every decoder will produce from it."""

    payload: InterPayload
    reconstruction: np.ndarray  # HxWx3 uint8


class StageTimes:
    """Seconds spent per named stage, summed over calls (what benchmarks report)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started


class Reference:
    """A decoded frame as P-frames use it: padded to the model's stride, float in [0, 1] (from uint8,
    so encoder and decoder hold the same values)."""

    def __init__(self, rgb: np.ndarray):
        self.height, self.width = rgb.shape[:2]
        self.tensor = pad_to_multiple(to_tensor(rgb), InterModelConfig.STRIDE)


class InterCodec:
    """Exact P-frame coding with a trained :class:`InterModel` (tables baked, see module docstring)."""

    def __init__(self, model: InterModel, motion_tables: HyperpriorTables | None = None,
                 frame_tables: HyperpriorTables | None = None):
        self.model = model.eval()
        self.motion_tables = model.motion.latent.prepare_coding(motion_tables)
        self.frame_tables = model.frame_latent.prepare_coding(frame_tables)
        self.num_levels = model.frame_latent.gains.num_levels

    @classmethod
    def from_state(cls, config: InterModelConfig, tensors: dict[str, torch.Tensor]) -> InterCodec:
        """Build from stored tensors (network weights + motion and frame tables)."""
        model = InterModel(config)
        model.load_state_dict({k: v for k, v in tensors.items() if not k.startswith((MOTION_TABLES, FRAME_TABLES))})
        return cls(model, HyperpriorTables.from_tensors(tensors, MOTION_TABLES),
                   HyperpriorTables.from_tensors(tensors, FRAME_TABLES))

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Everything a weight file must hold for this codec."""
        weights = {k: v.detach().contiguous() for k, v in self.model.state_dict().items()}
        return {**weights, **self.motion_tables.to_tensors(MOTION_TABLES), **self.frame_tables.to_tensors(FRAME_TABLES)}

    def entropy_model_conv_weights(self) -> list[str]:
        """State-dict names of both latent codecs' entropy-model convolutions (shipped as int8)."""
        return ([f"motion.latent.{n}" for n in self.model.motion.latent.entropy_conv_weight_names()]
                + [f"frame_latent.{n}" for n in self.model.frame_latent.entropy_conv_weight_names()])

    def level(self, quality: float) -> torch.Tensor:
        return quality_level(quality, self.num_levels)

    def encode(self, reference: Reference, rgb: np.ndarray, quality: float,
               times: StageTimes | None = None) -> EncodedInterFrame:
        """Code an HxWx3 uint8 frame as a P-frame of ``reference`` at ``quality``; ``times`` (benchmarks)
        collects the seconds spent in each stage."""
        if rgb.shape[:2] != (reference.height, reference.width):
            raise InputError(f"frame size {rgb.shape[1]}x{rgb.shape[0]} differs from the reference's "
                             f"{reference.width}x{reference.height}")
        level = self.level(quality)
        model, stage = self.model, (times or StageTimes()).stage
        motion_latent, frame_latent = model.motion.latent, model.frame_latent
        with deterministic_inference():
            x = pad_to_multiple(to_tensor(rgb), InterModelConfig.STRIDE)
            with stage("flow"):
                flow = model.flow(reference.tensor, x)
            with stage("motion transforms"):
                motion_y, _ = motion_latent.gained(model.motion.features(flow), level)
            with stage("entropy coding"):
                motion_payload, motion_coded = motion_latent.compress(motion_y)
            prediction = self._prediction(reference, motion_latent.dequantize(motion_coded, level), stage)
            with stage("frame transforms"):
                frame_y, _ = frame_latent.gained(model.frame_features(x, prediction), level)
            with stage("entropy coding"):
                frame_payload, frame_coded = frame_latent.compress(frame_y)
            with stage("frame transforms"):
                x_hat = model.frame_synthesis(frame_latent.dequantize(frame_coded, level), prediction)
            reconstruction = to_uint8(x_hat[:, :, : reference.height, : reference.width])
        return EncodedInterFrame(InterPayload(motion_payload, frame_payload), reconstruction)

    def decode(self, reference: Reference, payload: InterPayload, quality: float, coder_id: int = CODER_ID,
               times: StageTimes | None = None) -> np.ndarray:
        """The P-frame's HxWx3 uint8 picture; equals the encoder's reconstruction bit for bit."""
        level = self.level(quality)
        model, stage = self.model, (times or StageTimes()).stage
        latent_size = latent_grid(reference.height, reference.width, InterModelConfig.STRIDE)
        with deterministic_inference():
            with stage("entropy coding"):
                motion_coded = model.motion.latent.decompress(payload.motion, *latent_size, coder_id)
            prediction = self._prediction(reference, model.motion.latent.dequantize(motion_coded, level), stage)
            with stage("entropy coding"):
                frame_coded = model.frame_latent.decompress(payload.frame, *latent_size, coder_id)
            with stage("frame transforms"):
                x_hat = model.frame_synthesis(model.frame_latent.dequantize(frame_coded, level), prediction)
            return to_uint8(x_hat[:, :, : reference.height, : reference.width])

    def _prediction(self, reference: Reference, decoded_motion: torch.Tensor,
                    stage: Callable[[str], AbstractContextManager[None]]) -> torch.Tensor:
        with stage("motion transforms"):
            flow = self.model.motion.synthesize(decoded_motion)
        with stage("warping"):
            return self.model.predict(reference.tensor, flow)


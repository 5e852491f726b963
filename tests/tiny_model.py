"""Tiny random-init image and P-frame codecs for fast tests (the real weights are exercised by the smoke tests)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from tngvideo.bitstream import ModelIdentity
from tngvideo.codecs.flow import FlowConfig, WarpInterpolation
from tngvideo.codecs.image_codec import ImageCodec
from tngvideo.codecs.image_model import ImageModel, ImageModelConfig, SpatialContext
from tngvideo.codecs.inter_codec import InterCodec
from tngvideo.codecs.inter_model import InterModel, InterModelConfig
from tngvideo.tng_image import IMAGE_KIND, LoadedImageCodec, save_shipped_image_codec
from tngvideo.tng_inter import INTER_KIND, save_shipped_inter_codec
from tngvideo.zoo import ManifestEntry, sha256_of, write_manifest_entry

TINY_CONFIG = ImageModelConfig(hidden_channels=8, latent_channels=12, hyper_channels=8)
TINY_INTER_CONFIG = InterModelConfig(
    frame=ImageModelConfig(hidden_channels=16, latent_channels=12, hyper_channels=8),
    flow=FlowConfig(levels=3, hidden=(8,)),
    motion_hidden_channels=8,
    motion_latent_channels=8,
    motion_hyper_channels=8,
    prediction_pyramid_channels=4,
)


def tiny_model(seed: int = 0, context: SpatialContext = "none") -> ImageModel:
    torch.manual_seed(seed)
    model = ImageModel(dataclasses.replace(TINY_CONFIG, context=context))
    with torch.no_grad():
        model.g_a[-1].weight.mul_(10.0)  # random init gives near-zero latents; make them cost real bits
        if model.latent.checkerboard is not None:  # its correction starts at zero: give the context a say
            for parameter in model.latent.checkerboard.correction[-1].parameters():
                parameter.normal_(0.0, 0.3)
    return model


def tiny_codec(seed: int = 0, context: SpatialContext = "none") -> ImageCodec:
    return ImageCodec.from_model(tiny_model(seed, context))


def tiny_loaded(seed: int = 0, model_id: int = 7, context: SpatialContext = "none") -> LoadedImageCodec:
    return LoadedImageCodec(tiny_codec(seed, context), ModelIdentity(model_id, bytes(range(8))), "tiny")


def write_tiny_models_dir(folder: Path, seed: int = 0, model_id: int = 7, name: str = "tiny") -> ManifestEntry:
    """A models folder (weights + manifest) holding one tiny image model, as shipped models are stored."""
    folder.mkdir(parents=True, exist_ok=True)
    codec = tiny_codec(seed)
    weights = folder / f"{name}.safetensors"
    save_shipped_image_codec(codec, weights, {})
    entry = ManifestEntry(name, model_id, IMAGE_KIND, weights.name, sha256_of(weights), {})
    write_manifest_entry(entry, folder)
    return entry


def tiny_inter_model(seed: int = 0, context: SpatialContext = "none", propagated_channels: int = 0,
                     warp_interpolation: WarpInterpolation = "bilinear") -> InterModel:
    """A random-init P-frame network whose every part matters: latents that cost bits, a flow correction
    and a prediction input that are not the zeros a fresh model starts with; ``context`` for both latent
    codecs (the shipped image models use the checkerboard: two coding passes); ``propagated_channels``:
    features the synthesis passes to the next P-frame (0: none); ``warp_interpolation``: how it predicts."""
    torch.manual_seed(seed)
    frame = dataclasses.replace(TINY_INTER_CONFIG.frame, context=context)
    model = InterModel(dataclasses.replace(TINY_INTER_CONFIG, frame=frame, motion_context=context,
                                           propagated_channels=propagated_channels,
                                           warp_interpolation=warp_interpolation))
    with torch.no_grad():
        for latent in (model.frame_latent, model.motion.latent):
            if latent.checkerboard is not None:  # its correction starts at zero: give the context a say
                for parameter in latent.checkerboard.correction[-1].parameters():
                    parameter.normal_(0.0, 0.3)
        model.frame_analysis.transform[-1].weight.mul_(30.0)
        model.motion.analysis[-1].weight.normal_(0.0, 0.3)  # the learned motion paths start at zero
        model.motion.synthesis[-1].weight.normal_(0.0, 0.05)
        for level in model.flow.levels:
            level.net[-1].weight.normal_(0.0, 0.01)
        model.frame_analysis.prediction_input.weight.normal_(0.0, 0.1)
        model.frame_synthesis.prediction_input.weight.normal_(0.0, 0.1)
        for conditional in (model.frame_analysis, model.frame_synthesis):
            if conditional.pyramid_inputs is not None:
                for parameter in conditional.pyramid_inputs.parameters():
                    parameter.normal_(0.0, 0.1)
            if conditional.pyramid is not None and conditional.pyramid.context_input is not None:
                for parameter in conditional.pyramid.context_input.parameters():  # starts at zero
                    parameter.normal_(0.0, 0.3)
    return model


def write_tiny_inter_model(
    folder: Path, seed: int = 0, model_id: int = 20, name: str = "tiny-inter", intra_model: str = "tiny",
    context: SpatialContext = "none", propagated_channels: int = 0, warp_interpolation: WarpInterpolation = "bilinear",
) -> ManifestEntry:
    """Add a tiny P-frame model, trained (so to speak) with the image model ``intra_model``, to a models folder."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{name}.safetensors"
    model = tiny_inter_model(seed, context, propagated_channels, warp_interpolation)
    save_shipped_inter_codec(InterCodec(model), weights, {})
    entry = ManifestEntry(name, model_id, INTER_KIND, weights.name, sha256_of(weights), {"intra_model": intra_model})
    write_manifest_entry(entry, folder)
    return entry

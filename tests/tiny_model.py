"""Tiny random-init image codecs for fast tests (the real weights are exercised by the smoke test)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from tngvideo.bitstream import ModelIdentity
from tngvideo.codecs.image_codec import ImageCodec
from tngvideo.codecs.image_model import ImageModel, ImageModelConfig, SpatialContext
from tngvideo.tng_image import IMAGE_KIND, LoadedImageCodec, save_shipped_image_codec
from tngvideo.zoo import ManifestEntry, sha256_of, write_manifest_entry

TINY_CONFIG = ImageModelConfig(hidden_channels=8, latent_channels=12, hyper_channels=8)


def tiny_model(seed: int = 0, context: SpatialContext = "none") -> ImageModel:
    torch.manual_seed(seed)
    model = ImageModel(dataclasses.replace(TINY_CONFIG, context=context))
    with torch.no_grad():
        model.g_a[-1].weight.mul_(10.0)  # random init gives near-zero latents; make them cost real bits
        if model.checkerboard is not None:  # its correction starts at zero: give the context a say
            for parameter in model.checkerboard.correction[-1].parameters():
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

"""Shipped P-frame models: loading, saving, and the pair of models a video stream needs.

An inter model is trained with one intra (image) model, which codes its I-frames and its training
references; its manifest entry names that model (``intra_model``), and a stream's model table
records both, so a decoder loads exactly the pair the encoder used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tngvideo.bitstream import ModelIdentity, ModelRole, VideoHeader
from tngvideo.codecs.inter_codec import InterCodec
from tngvideo.codecs.inter_model import InterModel, InterModelConfig
from tngvideo.entropy.coder import CODER_ID, READABLE_CODER_IDS
from tngvideo.errors import BitstreamError, ModelError
from tngvideo.tng_image import IMAGE_KIND, LoadedImageCodec, codec_for_stream, load_image_codec
from tngvideo.zoo import (
    CONFIG_KEY,
    ManifestEntry,
    find_entry,
    load_state,
    read_manifest,
    read_metadata,
    save_shipped_weights,
    sha256_of,
    verified_weights,
    write_manifest_entry,
)

INTER_KIND = "inter"


@dataclass(frozen=True)
class LoadedInterCodec:
    """A ready P-frame codec, the identity it writes into streams, and its intra model's name."""

    codec: InterCodec
    identity: ModelIdentity
    name: str
    intra_model: str


@dataclass(frozen=True)
class VideoModels:
    """The models a stream is coded with: always an intra model; an inter model for P-frames."""

    intra: LoadedImageCodec
    inter: LoadedInterCodec | None

    def table(self) -> tuple[tuple[ModelRole, ModelIdentity], ...]:
        """The stream header's model table."""
        intra = ((ModelRole.INTRA, self.intra.identity),)
        return intra if self.inter is None else (*intra, (ModelRole.INTER, self.inter.identity))

    def passes(self) -> tuple[int, int, int]:
        """The stream header's coding passes: I-frame latents, P-frame motion and frame latents (0 without P-frames)."""
        motion, frame = self.inter.codec.passes if self.inter is not None else (0, 0)
        return self.intra.codec.num_passes, motion, frame


def save_shipped_inter_codec(codec: InterCodec, path: Path, metadata: dict[str, str]) -> None:
    """Write ``codec`` as a shipped weight file (entropy-model convolutions as int8, like image models)."""
    save_shipped_weights(codec.state_tensors(), path, {CONFIG_KEY: codec.model.config.to_json(), **metadata},
                         int8_names=codec.entropy_model_conv_weights())


def inter_codec_of_checkpoint(checkpoint: Path) -> InterCodec:
    """A P-frame training checkpoint (weights + config) as an exact codec, its tables built now."""
    model = InterModel(InterModelConfig.from_json(read_metadata(checkpoint)[CONFIG_KEY]))
    model.load_state_dict(load_state(checkpoint))
    return InterCodec(model)


def ship_inter_codec(codec: InterCodec, name: str, model_id: int, intra_model: str, models_dir: Path,
                     details: dict[str, object] | None = None, metadata: dict[str, str] | None = None) -> ManifestEntry:
    """Write ``codec`` as ``NAME.safetensors`` in the models folder ``models_dir`` and record it in its manifest
    (kind inter, naming the intra model it was trained with, its file size, and ``details``): what the export
    does for ``models/``, and what a comparison does for a scratch folder, so a candidate codes as shipped."""
    target = models_dir / f"{name}.safetensors"
    save_shipped_inter_codec(codec, target, metadata or {})
    entry = ManifestEntry(name, model_id, INTER_KIND, target.name, sha256_of(target),
                          {"intra_model": intra_model, **(details or {}), "file_bytes": target.stat().st_size})
    write_manifest_entry(entry, models_dir)
    return entry


def _load_inter_entry(entry: ManifestEntry, models_dir: Path | None) -> LoadedInterCodec:
    intra_model = _intra_model_of(entry)
    tensors, config_json = verified_weights(entry, models_dir)
    codec = InterCodec.from_state(InterModelConfig.from_json(config_json), tensors)
    return LoadedInterCodec(codec, ModelIdentity.from_sha256(entry.model_id, entry.sha256), entry.name, intra_model)


def _intra_model_of(entry: ManifestEntry) -> str:
    """The image model an inter model's manifest entry says it was trained with."""
    intra_model = entry.details.get("intra_model")
    if not isinstance(intra_model, str):
        raise ModelError(f"manifest entry {entry.name!r} names no intra model")
    return intra_model


def load_video_models(inter_name: str | None = None, models_dir: Path | None = None) -> VideoModels:
    """The models to encode with: the named (default: newest) inter model and the intra model it was
    trained with."""
    inter = _load_inter_entry(find_entry(name=inter_name, kind=INTER_KIND, models_dir=models_dir), models_dir)
    return VideoModels(load_image_codec(inter.intra_model, models_dir), inter)


def models_for_stream(header: VideoHeader, given: VideoModels | None = None, models_dir: Path | None = None) -> VideoModels:
    """The models a stream's table names: ``given`` ones where they match, else the shipped ones; a clear
    error when the weights differ or are missing."""
    if header.coder_id not in READABLE_CODER_IDS or (header.version >= 2 and header.coder_id != CODER_ID):
        raise BitstreamError(f"unknown entropy coder id {header.coder_id} (this build reads {READABLE_CODER_IDS})")
    intra = codec_for_stream(header.coder_id, header.intra_model, given.intra if given else None, models_dir)
    identity = header.model(ModelRole.INTER)
    if identity is None:
        return VideoModels(intra, None)
    if given is not None and given.inter is not None:
        if given.inter.identity != identity:
            raise BitstreamError(f"file needs inter model id {identity.model_id} with hash {identity.weights_hash.hex()}, "
                                 f"loaded {given.inter.name!r} is id {given.inter.identity.model_id}")
        return VideoModels(intra, given.inter)
    entry = find_entry(model_id=identity.model_id, kind=INTER_KIND, models_dir=models_dir)
    if ModelIdentity.from_sha256(entry.model_id, entry.sha256) != identity:
        raise BitstreamError(f"file was made with other weights for inter model id {identity.model_id} "
                             f"(hash {identity.weights_hash.hex()}, shipped {entry.sha256[:16]})")
    return VideoModels(intra, _load_inter_entry(entry, models_dir))


@dataclass(frozen=True)
class ModelChoice:
    """What a coding run uses: its models, the GOP they allow, and why P-frames are off if they are."""

    models: VideoModels
    gop: int  # the asked GOP, or 1 when there is no inter model to code P-frames with
    warning: str | None = None  # set when P-frames were asked for but every frame will be an I-frame


def choose_video_models(name: str | None, gop: int, models_dir: Path | None = None) -> ModelChoice:
    """The models to code a video with at GOP ``gop`` (1: all-intra).

    ``name`` is an inter model (its manifest entry names the intra model it goes with) or an image
    model (all-intra); by default the newest inter model, or, while none is shipped, the newest image
    model alone (all-intra, with a warning). All-intra runs load no inter weights: an inter model only
    contributes its intra model.
    """
    entries = read_manifest(models_dir)
    entry = find_entry(name=name, models_dir=models_dir) if name is not None else None
    if entry is not None and entry.kind == IMAGE_KIND:
        intra = load_image_codec(name, models_dir)
        note = f"{name!r} is an image model: every frame is an I-frame" if gop > 1 else None
        return ModelChoice(VideoModels(intra, None), 1, note)
    if entry is None and not any(e.kind == INTER_KIND for e in entries):
        note = "no inter model is shipped: every frame is an I-frame (all-intra)" if gop > 1 else None
        return ModelChoice(VideoModels(load_image_codec(models_dir=models_dir), None), 1, note)
    if gop > 1:
        return ModelChoice(load_video_models(name, models_dir=models_dir), gop)
    inter_entry = entry or find_entry(kind=INTER_KIND, models_dir=models_dir)
    return ModelChoice(VideoModels(load_image_codec(_intra_model_of(inter_entry), models_dir), None), 1)

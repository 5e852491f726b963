"""Image encoder and decoder objects: a shipped (or given) image codec + the .tng container.

This is the layer the CLI and evaluation call; it ties weights (zoo), network (codecs) and
bitstream together and checks that a file is decoded by the weights it was made with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tngvideo.bitstream import ImageHeader, ModelIdentity, float32_quality, pack_image, unpack_image
from tngvideo.codecs.image_codec import EncodedPicture, ImageCodec
from tngvideo.codecs.image_model import ImageModelConfig
from tngvideo.codecs.latent_codec import LatentPayload
from tngvideo.codecs.latent_refinement import refine_latents
from tngvideo.entropy.coder import CODER_ID, READABLE_CODER_IDS
from tngvideo.errors import BitstreamError, InputError
from tngvideo.plausibility import check_image
from tngvideo.rate_control import quality_for_budget
from tngvideo.zoo import CONFIG_KEY, ManifestEntry, find_entry, save_shipped_weights, verified_weights

IMAGE_KIND = "image"


@dataclass(frozen=True)
class LoadedImageCodec:
    """A ready codec and the identity it writes into (and demands from) bitstreams."""

    codec: ImageCodec
    identity: ModelIdentity
    name: str


def load_image_codec(name: str | None = None, models_dir: Path | None = None) -> LoadedImageCodec:
    """Load a shipped image model by name (default: the newest image model in the manifest)."""
    return _load_entry(find_entry(name=name, kind=IMAGE_KIND, models_dir=models_dir), models_dir)


def save_shipped_image_codec(codec: ImageCodec, path: Path, metadata: dict[str, str]) -> None:
    """Write ``codec`` as a shipped weight file (what :func:`load_image_codec` reads): its config in the
    metadata beside ``metadata``, and the entropy model's convolutions as int8."""
    save_shipped_weights(codec.state_tensors(), path, {CONFIG_KEY: codec.model.config.to_json(), **metadata},
                         int8_names=codec.model.entropy_model_conv_weights())


def _load_entry(entry: ManifestEntry, models_dir: Path | None) -> LoadedImageCodec:
    tensors, config_json = verified_weights(entry, models_dir)
    codec = ImageCodec.from_state(ImageModelConfig.from_json(config_json), tensors)
    return LoadedImageCodec(codec, ModelIdentity.from_sha256(entry.model_id, entry.sha256), entry.name)


@dataclass(frozen=True)
class EncodedImage:
    """A complete .tng file and the picture its decoder will produce."""

    data: bytes
    header: ImageHeader
    picture: EncodedPicture

    @property
    def reconstruction(self) -> np.ndarray:
        """The decoder's output, synthesised on first use (see :class:`EncodedPicture`)."""
        return self.picture.reconstruction


def encode_image(rgb: np.ndarray, quality: float, loaded: LoadedImageCodec, refine_steps: int = 0) -> EncodedImage:
    """Code an HxWx3 uint8 RGB picture into .tng bytes; ``refine_steps`` > 0 trades encode time for
    fewer bits (:mod:`tngvideo.codecs.latent_refinement`)."""
    _check_picture(rgb)
    quality = float32_quality(quality)  # the header stores float32: code with exactly what the decoder reads
    codec = loaded.codec
    analysed = refine_latents(codec, rgb, codec.analyse(rgb), quality, refine_steps)
    return _packed(loaded, rgb.shape, quality, codec.encode_analysed(analysed, quality))


def encode_image_within(
    rgb: np.ndarray, max_bytes: int, loaded: LoadedImageCodec, refine_steps: int = 0
) -> tuple[EncodedImage, bool]:
    """Code at the highest quality whose .tng file is at most ``max_bytes``.

    Returns (image, fits): ``fits`` is False when even quality 1 is larger (the image is quality 1).
    The quality is searched without refinement (a refinement per candidate would multiply its
    cost); the refined coding at that quality is kept when it still fits (or is the smaller one).
    """
    _check_picture(rgb)
    codec = loaded.codec
    empty = LatentPayload(b"", (b"",) * codec.num_passes)
    overhead = len(pack_image(ImageHeader(CODER_ID, loaded.identity, 1, 1, 1.0), empty))
    analysed = codec.analyse(rgb)
    quality, fits = quality_for_budget(codec, analysed, max_bytes - overhead)
    encoded = codec.encode_analysed(analysed, quality)
    if refine_steps > 0:
        refined_latents = refine_latents(codec, rgb, analysed, quality, refine_steps)
        refined = codec.encode_analysed(refined_latents, quality)
        if refined.payload.num_bytes <= max(max_bytes - overhead, encoded.payload.num_bytes):
            encoded = refined
    return _packed(loaded, rgb.shape, quality, encoded), fits


def _check_picture(rgb: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(f"expected an HxWx3 uint8 RGB picture, got {rgb.dtype} {rgb.shape}")


def _packed(loaded: LoadedImageCodec, shape: tuple[int, ...], quality: float, encoded: EncodedPicture) -> EncodedImage:
    header = ImageHeader(CODER_ID, loaded.identity, shape[1], shape[0], quality)
    return EncodedImage(pack_image(header, encoded.payload), header, encoded)


def decode_image(data: bytes, loaded: LoadedImageCodec | None = None, models_dir: Path | None = None) -> np.ndarray:
    """Decode .tng bytes. Without ``loaded``, the model named in the file is loaded from the manifest.

    The file is verified (structure, CRCs, size limits, model) and checked plausible for the model (its
    sections can hold what its header claims: :mod:`tngvideo.plausibility`) before anything is decoded."""
    header, payload = unpack_image(data)
    loaded = codec_for_stream(header.coder_id, header.model, loaded, models_dir)
    check_image(header, payload, loaded.codec)
    return loaded.codec.decode(payload, header.height, header.width, header.quality, header.coder_id,
                              header.reconstruction, header.padding_multiple)


def codec_for_stream(
    coder_id: int, identity: ModelIdentity, loaded: LoadedImageCodec | None, models_dir: Path | None
) -> LoadedImageCodec:
    """The codec a stream needs (its coder and exact weights): ``loaded`` if it is that one, else the
    shipped model with the stream's id; a clear error when the weights differ or are missing."""
    if coder_id not in READABLE_CODER_IDS:
        raise BitstreamError(f"unknown entropy coder id {coder_id} (this build reads {READABLE_CODER_IDS})")
    if loaded is None:
        entry = find_entry(model_id=identity.model_id, kind=IMAGE_KIND, models_dir=models_dir)
        if ModelIdentity.from_sha256(entry.model_id, entry.sha256) != identity:
            raise BitstreamError(
                f"file was made with other weights for model id {identity.model_id} "
                f"(hash {identity.weights_hash.hex()}, shipped {entry.sha256[:16]})"
            )
        return _load_entry(entry, models_dir)
    if loaded.identity != identity:
        raise BitstreamError(
            f"file needs model id {identity.model_id} with hash {identity.weights_hash.hex()}, "
            f"loaded {loaded.name!r} is id {loaded.identity.model_id} hash {loaded.identity.weights_hash.hex()}"
        )
    return loaded

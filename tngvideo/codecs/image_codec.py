"""The TNG image codec: RGB picture <-> entropy-coded latents, with a bit-exact decoder.

Encoding::

    rgb ─pad to 16─► g_a·gain ─► y ─► h_a ─► z ─round─► ẑ ──► [hyper section]
                                              │
                         integer h_s (fixed point, exact) ─► scale index k, mean μ (exact)
                                              │
                     y ─► round(y−μ) ─► symbols ──► [latent section(s)]
    recon = crop(g_s((symbols+μ)·inverse_gain))

The latents are coded by the model's :class:`~tngvideo.codecs.latent_codec.LatentCodec` (one pass, or two
with a checkerboard context; each pass is one latent section). A picture is padded to a multiple of 16 pixels,
one latent (.tng from format version 5, .tngv from 7; earlier versions padded to 64, the model's stride, and coded
the latents wholly in the padding too): the latent codec pads the latent grid to multiples of 4 for its hyperprior
alone. Decoding repeats the right-hand column
from the sections alone. Everything that feeds the entropy coder is integer (see
:mod:`tngvideo.entropy.fixed_point`); the transforms run under a :class:`~tngvideo.codecs.tiling.Reconstruction`
rule (the file's format version names it: overlapping tiles, each on one thread, in bfloat16 from
version 4), whose convolutions are the same for every thread count, so the decoder's pixels equal the
encoder's reconstruction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
from torch.nn import functional as F

from tngvideo.codecs.image_model import ImageModel, ImageModelConfig
from tngvideo.codecs.latent_codec import CodedLatents, LatentPayload, latent_grid, quality_level
from tngvideo.codecs.tiling import LATENT_PIXELS, TILES_BF16, Reconstruction, ScaledInput
from tngvideo.entropy.coder import CODER_ID, SectionReader, SymbolReader, SymbolWriter
from tngvideo.entropy.tables import HyperpriorTables
from tngvideo.errors import BitstreamError

ANALYSIS_PAD_FADE_PIXELS = 8.0  # held-out first frames, mean BD-rate: 8 px −1.75%, 4 px −1.63%, a flat colour +0.09% (Session 21)


@dataclass(frozen=True)
class AnalysedPicture:
    """A picture after the analysis transform (before the quality's gain): g_a(x) and the original size."""

    features: torch.Tensor
    height: int
    width: int


@dataclass(frozen=True, eq=False)
class EncodedPicture:
    """What the encoder produced for one picture, and the reconstruction the decoder will produce.

    The reconstruction is synthesised on first use: a still-picture encode never needs it, and the
    synthesis is as costly as the rest of the encoder."""

    symbols: SymbolWriter = field(repr=False, compare=False)
    synthesize: Callable[[], np.ndarray] = field(repr=False, compare=False)

    @cached_property
    def payload(self) -> LatentPayload:
        """The sections of a .tng file: one stream per section (a .tngv frame packs the symbols as one stream)."""
        return LatentPayload.from_sections(self.symbols.sections())

    @cached_property
    def reconstruction(self) -> np.ndarray:
        """HxWx3 uint8, identical to the decoder's output."""
        return self.synthesize()


class ImageCodec:
    """A trained :class:`ImageModel` whose latent codec is ready to code (its integer tables baked)."""

    def __init__(self, model: ImageModel, tables: HyperpriorTables | None = None):
        self.model = model.eval()
        self.tables = model.latent.prepare_coding(tables)
        self.num_levels = model.latent.gains.num_levels
        self.num_passes = model.latent.num_passes

    @classmethod
    def from_state(cls, config: ImageModelConfig, tensors: dict[str, torch.Tensor]) -> ImageCodec:
        """Build from stored tensors (network weights + ``coding.*`` tables)."""
        model = ImageModel(config)
        weights = {k: v for k, v in tensors.items() if not k.startswith("coding.")}
        model.load_state_dict(weights)
        return cls(model, HyperpriorTables.from_tensors(tensors))

    @classmethod
    def from_model(cls, model: ImageModel) -> ImageCodec:
        """Bake coding tables from a (trained or random) model."""
        return cls(model)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Everything a weight file must hold for this codec."""
        return {**{k: v.detach().contiguous() for k, v in self.model.state_dict().items()}, **self.tables.to_tensors()}

    def level(self, quality: float) -> torch.Tensor:
        """The network's (fractional) level for ``quality``; a clear error outside [1, num_levels]."""
        return quality_level(quality, self.num_levels)

    # --- coding -------------------------------------------------------------------------------

    def encode(self, rgb: np.ndarray, quality: float) -> EncodedPicture:
        """Code an HxWx3 uint8 picture at ``quality`` in [1, num_levels] (fractional allowed)."""
        return self.encode_analysed(self.analyse(rgb), quality)

    def analyse(self, rgb: np.ndarray, rule: Reconstruction = TILES_BF16, multiple: int = LATENT_PIXELS) -> AnalysedPicture:
        """The quality-independent first step of encoding (the analysis transform, most of the cost), the picture
        padded to a ``multiple`` of pixels (the format's: 16 now; 64 for .tng up to version 4, .tngv up to 6).

        Encoder-only, so any rule would do: tiles bound its memory and use every core."""
        height, width = rgb.shape[:2]
        with rule.inference():
            padded = pad_for_analysis(to_tensor(rgb), multiple)
            return AnalysedPicture(rule.run(self.model.g_a, [ScaledInput(padded, LATENT_PIXELS)], 1), height, width)

    def encode_analysed(self, picture: AnalysedPicture, quality: float,
                        reconstruction: Reconstruction = TILES_BF16) -> EncodedPicture:
        """Code an analysed picture at ``quality``: coding one picture at several qualities (rate
        control) analyses it once. Same bytes as :meth:`encode`. The reconstruction is the one a
        decoder following ``reconstruction`` produces (files are written with TILES_BF16; the other
        rules serve comparisons: ``scripts/compare_tiling.py``)."""
        level = self.level(quality)
        symbols, coded = self._code(picture, level)

        def synthesize() -> np.ndarray:
            return self._synthesize(coded, level, picture.height, picture.width, reconstruction)

        return EncodedPicture(symbols, synthesize)

    def payload_size(self, picture: AnalysedPicture, quality: float, one_stream: bool = False) -> int:
        """Entropy-coded bytes at ``quality`` without synthesising the reconstruction: one stream (a .tngv
        frame) or one per section (a .tng picture)."""
        symbols = self._code(picture, self.level(quality))[0]
        return len(symbols.stream()) if one_stream else sum(len(section) for section in symbols.sections())

    def _code(self, picture: AnalysedPicture, level: torch.Tensor) -> tuple[SymbolWriter, CodedLatents]:
        with torch.no_grad():  # integer entropy parameters: exact with any number of threads
            y, _ = self.model.latent.gained(picture.features, level)
            writer = SymbolWriter()
            return writer, self.model.latent.write(y, writer)

    def decode(self, payload: LatentPayload, height: int, width: int, quality: float, coder_id: int = CODER_ID,
               reconstruction: Reconstruction = TILES_BF16, multiple: int = LATENT_PIXELS) -> np.ndarray:
        """Reconstruct the HxWx3 uint8 picture; equals the encoder's ``reconstruction`` bit for bit.

        ``coder_id``, ``reconstruction`` and ``multiple`` are those of the file's format (older files clamped
        instead of escaping, synthesised the whole picture at once, and padded to 64 pixels)."""
        if len(payload.latents) != self.num_passes:
            raise BitstreamError(f"payload has {len(payload.latents)} latent sections, this model codes {self.num_passes}")
        reader = SectionReader([payload.hyper, *payload.latents], coder_id)
        picture = self.decode_from(reader, height, width, quality, reconstruction, multiple)
        reader.finish()
        return picture

    def decode_from(self, reader: SymbolReader, height: int, width: int, quality: float,
                    reconstruction: Reconstruction = TILES_BF16, multiple: int = LATENT_PIXELS) -> np.ndarray:
        """As :meth:`decode`, the symbols read from ``reader`` (a .tngv frame's stream, its picture padded to a
        ``multiple`` of pixels as the encoder's :meth:`analyse`); the caller finishes it."""
        level = self.level(quality)
        with torch.no_grad():
            coded = self.model.latent.read(reader, *latent_grid(height, width, multiple))
        return self._synthesize(coded, level, height, width, reconstruction)

    def _synthesize(self, coded: CodedLatents, level: torch.Tensor, height: int, width: int,
                    reconstruction: Reconstruction) -> np.ndarray:
        with reconstruction.inference():
            decoded = self.model.latent.dequantize(coded, level)
            x_hat = reconstruction.run(self.model.g_s, [ScaledInput(decoded, 1)], LATENT_PIXELS)
            return to_uint8(x_hat[:, :, :height, :width])


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> (1, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float -> HxWx3 uint8 (clamped, rounded): the pixels a decoder outputs."""
    return x[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def pad_to_multiple(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Pad (replicating the last row and column) to a multiple of ``stride``."""
    height, width = x.shape[2:]
    pad_h, pad_w = (-height) % stride, (-width) % stride
    return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x


def pad_for_analysis(x: torch.Tensor, stride: int) -> torch.Tensor:
    """``x`` (1, 3, H, W) padded to a multiple of ``stride`` for the analysis of an intra picture: the last row and
    column replicated, fading to the picture's mean colour over ~``ANALYSIS_PAD_FADE_PIXELS``.

    The padding is never shown, but its latents are coded, and replicated edges (streaks the codec never
    trained on) are costly: 27% of a 176×144 I-frame's bytes at quality 2, whose 11×9 latent blocks are coded as
    12×12. A flat colour is cheap but its step at the edge costs the edge pixels; the fade keeps them. Only the
    encoder pads this way (the decoder synthesises the padded size and crops), so every decoder reads the
    files. Measured on the first frames of the held-out training clips (docs/training.md, *Session 21*)."""
    padded = pad_to_multiple(x, stride)
    height, width = x.shape[2:]
    if padded.shape[2:] == x.shape[2:]:
        return padded
    mean = x.mean(dim=(2, 3), keepdim=True)
    beyond_rows = torch.arange(1, padded.shape[2] - height + 1, dtype=x.dtype)  # distance past the last row
    beyond_columns = torch.arange(1, padded.shape[3] - width + 1, dtype=x.dtype)
    column_distance = torch.cat((torch.zeros(width, dtype=x.dtype), beyond_columns))
    for strip, distance in ((padded[:, :, height:], torch.maximum(beyond_rows[:, None], column_distance[None])),
                            (padded[:, :, :height, width:], beyond_columns[None].expand(height, -1))):
        weight = torch.exp(-distance / ANALYSIS_PAD_FADE_PIXELS)
        strip.mul_(weight).add_(mean * (1 - weight))
    return padded

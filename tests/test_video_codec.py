"""The video codec end to end with tiny random-init models: the .tngv container, I- and P-frames,
the stateful coder, seeking, exactness, and the video commands."""

from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Callable
from fractions import Fraction
from itertools import islice, pairwise
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_model import tiny_inter_model, write_tiny_inter_model, write_tiny_models_dir

from tngvideo.bitstream import (
    VIDEO_FORMAT_VERSION,
    ChunkType,
    CodedFrame,
    FrameType,
    ModelIdentity,
    ModelRole,
    VideoHeader,
    frame_bytes,
    pack_video,
    unpack_video,
)
from tngvideo.cli import EXIT_BITSTREAM, EXIT_INPUT, EXIT_OUTPUT, EXIT_USAGE, main
from tngvideo.codecs import block_skip
from tngvideo.codecs.block_skip import with_skipped_blocks
from tngvideo.codecs.conditioning import Condition
from tngvideo.codecs.encoder_settings import EncoderSettings
from tngvideo.codecs.image_model import lambdas_of_levels
from tngvideo.codecs.inter_codec import EncodedInterFrame, InterCodec, Reference
from tngvideo.codecs.latent_codec import CodedLatents
from tngvideo.codecs.tiling import (
    LATENT_PIXELS,
    TILES,
    TILES_BF16,
    WHOLE_PICTURE,
    Reconstruction,
    ScaledInput,
    bfloat16_convolutions,
)
from tngvideo.entropy.coder import CODER_ID
from tngvideo.errors import BitstreamError, InputError
from tngvideo.evaluation.video_eval import code_clip, measured_summary
from tngvideo.io.frames import open_video
from tngvideo.io.writers import open_writer
from tngvideo.metrics import psnr
from tngvideo.tng_image import encode_image, load_image_codec
from tngvideo.tng_inter import VideoModels, load_video_models
from tngvideo.tng_video import encode_video, open_tngv
from tngvideo.video_coder import DEFAULT_INTER_QUALITY_OFFSET, GopPolicy, VideoEncoder

Frames = Callable[..., list[np.ndarray]]
DATA_DIR = Path(__file__).parent / "data"


def _png_folder(folder: Path, frames: list[np.ndarray]) -> Path:
    folder.mkdir()
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{index:03d}.png")
    return folder


def _moving(smooth_frames: Frames, height: int, width: int, count: int) -> list[np.ndarray]:
    """A smooth picture sliding right by 2 pixels a frame (so P-frames have motion to code)."""
    base = smooth_frames(height, width, count=1)[0]
    return [np.roll(base, 2 * t, axis=1) for t in range(count)]


@pytest.fixture()
def clip(tmp_path: Path, smooth_frames: Frames) -> Path:
    """Three odd-sized frames (47x33) as a PNG folder."""
    return _png_folder(tmp_path / "clip", smooth_frames(33, 47))


@pytest.fixture()
def moving_clip(tmp_path: Path, smooth_frames: Frames) -> Path:
    """Seven 64x48 frames of a moving picture as a PNG folder."""
    return _png_folder(tmp_path / "moving", _moving(smooth_frames, 48, 64, 7))


def _read_pngs(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))]


def _encode(source: Path, output: Path, models: VideoModels, gop: int, quality: float = 3.0,
            settings: EncoderSettings = EncoderSettings(), **options: int) -> list[np.ndarray]:
    """Encode with the library; the encoder's reconstructions, in order."""
    reconstructions: list[np.ndarray] = []
    encode_video(open_video(source), output, models, quality, GopPolicy(gop), settings=settings,
                 on_unit=lambda index, frame, unit: reconstructions.append(unit.reconstruction), **options)
    return reconstructions


def _frame_types(data: bytes) -> str:
    return "".join("I" if f.frame_type == FrameType.INTRA else "P" for f in unpack_video(data)[1])


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("tngvideo: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _warnings(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("tngvideo: warning:")]


def _motion_and_frame_sections(codec: InterCodec, encoded: EncodedInterFrame) -> tuple[list[bytes], list[bytes]]:
    """A P-frame's symbol batches, one stream each: the motion latents' (hyper section and passes), then the
    frame latents'."""
    sections, motion_batches = encoded.symbols.sections(), 1 + codec.passes[0]
    return sections[:motion_batches], sections[motion_batches:]


# --- P-frames: round trip, determinism, threads, seeking, sizes -----------------------------------


def test_p_frame_stream_decodes_to_every_reconstruction_and_encodes_deterministically(
    inter_models: Path, tmp_path: Path, moving_clip: Path
) -> None:
    models = load_video_models()
    reconstructions = _encode(moving_clip, tmp_path / "a.tngv", models, gop=4)
    data = (tmp_path / "a.tngv").read_bytes()
    header, frames = unpack_video(data)
    assert _frame_types(data) == "IPPPIPP"
    assert dict(header.models) == {ModelRole.INTRA: models.intra.identity, ModelRole.INTER: models.inter.identity}
    assert all(f.is_stream and f.num_bytes > 0 and len(f.passes) == (f.frame_type == FrameType.INTER) + 1 for f in frames)
    decoded = list(open_tngv(data).frames())  # models loaded from the stream's table
    assert len(decoded) == 7
    for got, want in zip(decoded, reconstructions, strict=True):
        assert got.shape == (48, 64, 3)
        np.testing.assert_array_equal(got, want)
    _encode(moving_clip, tmp_path / "b.tngv", load_video_models(), gop=4)
    assert (tmp_path / "b.tngv").read_bytes() == data


def test_encoding_with_one_thread_and_decoding_with_two_gives_identical_frames(
    inter_models: Path, tmp_path: Path, moving_clip: Path
) -> None:
    models = load_video_models()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        reconstructions = _encode(moving_clip, tmp_path / "a.tngv", models, gop=4)
        torch.set_num_threads(2)
        decoded = list(open_tngv((tmp_path / "a.tngv").read_bytes(), models).frames())
    finally:
        torch.set_num_threads(threads)
    for got, want in zip(decoded, reconstructions, strict=True):
        np.testing.assert_array_equal(got, want)


def test_p_frames_of_a_multi_tile_picture_decode_with_1_2_and_4_threads_exactly_as_encoded(
    inter_models: Path, tmp_path: Path, smooth_frames: Frames
) -> None:
    wide = _png_folder(tmp_path / "wide", _moving(smooth_frames, 48, 400, 3))  # 4x28 latents: two tiles
    assert len(TILES.tiles(4, 28)) == 2
    models = load_video_models()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        reconstructions = _encode(wide, tmp_path / "a.tngv", models, gop=4)
        decoded = []
        for count in (1, 2, 4):
            torch.set_num_threads(count)
            decoded.append(list(open_tngv((tmp_path / "a.tngv").read_bytes(), models).frames()))
    finally:
        torch.set_num_threads(threads)
    assert _frame_types((tmp_path / "a.tngv").read_bytes()) == "IPP"
    for frames in decoded:
        for got, want in zip(frames, reconstructions, strict=True):
            np.testing.assert_array_equal(got, want)


def test_refined_p_frames_decode_exactly_differ_from_plain_ones_and_encode_deterministically(
    inter_models: Path, tmp_path: Path, moving_clip: Path
) -> None:
    models = load_video_models()
    assert models.inter is not None
    first, second = list(open_video(moving_clip).frames())[:2]
    reference = Reference(models.intra.codec.encode(first, 3.0).reconstruction)
    plain, refined = (models.inter.codec.encode(reference, second, 3.0, EncoderSettings(refine_steps=steps)) for steps in (0, 10))
    (plain_motion, plain_frame), (refined_motion, refined_frame) = (_motion_and_frame_sections(models.inter.codec, e)
                                                                 for e in (plain, refined))
    assert refined_motion == plain_motion and refined_frame != plain_frame
    reconstructions = _encode(moving_clip, tmp_path / "a.tngv", models, gop=4, settings=EncoderSettings(refine_steps=2))
    data = (tmp_path / "a.tngv").read_bytes()
    assert _frame_types(data) == "IPPPIPP"
    for got, want in zip(open_tngv(data).frames(), reconstructions, strict=True):
        np.testing.assert_array_equal(got, want)
    _encode(moving_clip, tmp_path / "b.tngv", load_video_models(), gop=4, settings=EncoderSettings(refine_steps=2))
    assert (tmp_path / "b.tngv").read_bytes() == data


def test_p_frames_with_skipped_blocks_decode_exactly_and_encode_deterministically(
    inter_models: Path, tmp_path: Path, moving_clip: Path
) -> None:
    models = load_video_models()
    settings = EncoderSettings(skip_blocks=True)
    reconstructions = _encode(moving_clip, tmp_path / "a.tngv", models, gop=4, settings=settings)
    data = (tmp_path / "a.tngv").read_bytes()
    assert _frame_types(data) == "IPPPIPP"
    for got, want in zip(open_tngv(data).frames(), reconstructions, strict=True):
        np.testing.assert_array_equal(got, want)
    _encode(moving_clip, tmp_path / "b.tngv", load_video_models(), gop=4, settings=settings)
    assert (tmp_path / "b.tngv").read_bytes() == data


def test_block_skipping_keeps_the_skip_latents_exactly_where_their_estimated_cost_is_lower(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A skipped block's distortion is taken as its prediction's (what the skip latents decode to, about), its
    rate as the skip latents' estimated bits; a coded block's from its own latents and their synthesis."""
    model = tiny_inter_model().eval()
    monkeypatch.setattr(block_skip, "FUTURE_WEIGHT", 0.001)  # a random model decodes badly: let the rates decide too
    torch.manual_seed(3)
    x, prediction, level = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64), torch.tensor([4.0])
    weight = block_skip.FUTURE_WEIGHT * float(lambdas_of_levels(level, model.config.frame.level_lambdas)[0]) * 255**2

    def block_errors(x_hat: torch.Tensor) -> np.ndarray:  # per 16×16 block, the shown 56×60 pixels only
        error = ((x_hat - x) ** 2).mean(dim=1)[0, :56, :60].numpy()
        padded = np.zeros((64, 64), dtype=np.float64)
        padded[:56, :60] = error
        return padded.reshape(4, 16, 4, 16).sum(axis=(1, 3))

    def bits(latents: torch.Tensor) -> np.ndarray:
        return -torch.log2(model.frame_latent.from_gained(latents, inverse_gain).y_likelihoods).sum(dim=1)[0].numpy()

    with TILES.inference():
        y, inverse_gain = model.frame_latent.gained(model.frame_features(x, prediction), level)
        skip_features = TILES.run(model.frame_features, [ScaledInput(prediction, LATENT_PIXELS)] * 2, 1)
        skip, _ = model.frame_latent.gained(skip_features, level)
        own = model.frame_latent.from_gained(y, inverse_gain)
        own_decoded = TILES.run(model.frame_synthesis, [ScaledInput(own.decoded, 1), ScaledInput(prediction, LATENT_PIXELS)],
                                LATENT_PIXELS).clamp(0, 1)
        own_cost = bits(y) + weight * block_errors(own_decoded)
        skip_cost = bits(skip) + weight * block_errors(prediction)
        chosen = with_skipped_blocks(model, y, inverse_gain, Condition(prediction, None), x, level, 56, 60, TILES)
    skipped = torch.from_numpy(skip_cost < own_cost)[None]
    assert 0 < int(skipped.sum()) < skipped.numel()  # both kinds of block in this test
    torch.testing.assert_close(chosen, torch.where(skipped[:, None], skip, y), rtol=0, atol=0)


def test_skip_distortion_weight_grows_with_the_frames_that_predict_from_a_p_frame() -> None:
    """The last P-frame of a GOP weighs its distortion by its own λ; earlier ones by more, tending to FUTURE_WEIGHT."""
    weights = [block_skip.distortion_weight(GopPolicy(32).frames_after(index)) for index in range(1, 32)]
    assert weights[-1] == pytest.approx(1.0)
    assert all(a > b for a, b in pairwise(weights))
    assert weights[0] < block_skip.FUTURE_WEIGHT and weights[0] == pytest.approx(block_skip.FUTURE_WEIGHT, rel=1e-2)
    assert block_skip.distortion_weight(None) == block_skip.FUTURE_WEIGHT
    assert [GopPolicy(4).frames_after(index) for index in range(9)] == [3, 2, 1, 0, 3, 2, 1, 0, 3]


def test_decoding_from_a_later_gop_gives_exactly_its_frames(inter_models: Path, tmp_path: Path, moving_clip: Path) -> None:
    assert main(["encode", str(moving_clip), str(tmp_path / "a.tngv"), "--gop", "4", "--quality", "3"]) == 0
    assert main(["decode", str(tmp_path / "a.tngv"), str(tmp_path / "all") + "/"]) == 0
    assert main(["decode", str(tmp_path / "a.tngv"), str(tmp_path / "later") + "/", "--start-gop", "1"]) == 0
    everything, later = _read_pngs(tmp_path / "all"), _read_pngs(tmp_path / "later")
    assert len(everything) == 7 and len(later) == 3
    for got, want in zip(later, everything[4:], strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("height", "width", "gop", "types"),
    [(48, 64, 32, "IPP"), (29, 37, 3, "IPP")],  # the odd size with a P-frame after a P-frame (propagation)
    ids=["shorter-than-one-gop", "odd-size"],
)
def test_short_clips_and_odd_sizes_round_trip(
    inter_models: Path, tmp_path: Path, smooth_frames: Frames, height: int, width: int, gop: int, types: str
) -> None:
    source = _png_folder(tmp_path / "clip", _moving(smooth_frames, height, width, 3))
    reconstructions = _encode(source, tmp_path / "a.tngv", load_video_models(), gop=gop)
    data = (tmp_path / "a.tngv").read_bytes()
    assert _frame_types(data) == types
    decoded = list(open_tngv(data).frames())
    for got, want in zip(decoded, reconstructions, strict=True):
        assert got.shape == (height, width, 3)
        np.testing.assert_array_equal(got, want)


def test_a_nudged_reference_still_parses_the_same_symbols(
    inter_models: Path, smooth_frames: Frames, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No entropy-coding parameter of a P-frame depends on a float: decoding it from a reference moved
    by 1e-6 reads exactly the same motion and frame symbols (the pixels may differ, the parse may not)."""
    models = load_video_models()
    assert models.inter is not None
    codec = models.inter.codec
    encoder = VideoEncoder(models, 3.0, GopPolicy(4))
    first, second = (encoder.encode(frame)[0] for frame in _moving(smooth_frames, 48, 64, 2))
    assert second.frame_type == FrameType.INTER and second.frame.is_stream
    parsed: list[CodedLatents] = []
    for latent in (codec.model.motion.latent, codec.model.frame_latent):
        read = latent.read

        def recording(*args: object, read: Callable[..., CodedLatents] = read) -> CodedLatents:
            parsed.append(read(*args))
            return parsed[-1]

        monkeypatch.setattr(latent, "read", recording)

    exact = Reference(first.reconstruction)
    nudged = Reference(first.reconstruction)
    nudged.tensor = nudged.tensor + 1e-6
    assert not torch.equal(nudged.tensor, exact.tensor)
    picture = codec.decode(exact, second.frame.reader(CODER_ID), second.quality).picture
    np.testing.assert_array_equal(picture, second.reconstruction)
    nudged_picture = codec.decode(nudged, second.frame.reader(CODER_ID), second.quality).picture  # may differ
    assert nudged_picture.shape == picture.shape
    (motion, frame), (nudged_motion, nudged_frame) = parsed[:2], parsed[2:]
    for original, moved in ((motion, nudged_motion), (frame, nudged_frame)):
        np.testing.assert_array_equal(moved.symbols, original.symbols)
        assert torch.equal(moved.means, original.means)
    assert np.any(motion.symbols != 0) and np.any(frame.symbols != 0)  # there was something to parse
    # the same symbols straight from the stream, no reference at all
    padded = nudged.tensor.shape[2] // LATENT_PIXELS, nudged.tensor.shape[3] // LATENT_PIXELS
    reader = second.frame.reader(CODER_ID)
    codec.model.motion.latent.read(reader, *padded)
    np.testing.assert_array_equal(codec.model.frame_latent.read(reader, *padded).symbols, frame.symbols)
    reader.finish()


def test_p_frames_pass_their_features_to_the_next_and_decoding_uses_them(
    models: Path, smooth_frames: Frames
) -> None:
    """With propagation, a P-frame's reference holds the features its synthesis made, and the next P-frame's
    pixels depend on them: decoding it from the reference's pixels alone gives another picture."""
    write_tiny_inter_model(models, context="checkerboard", propagated_channels=4)
    video_models = load_video_models()
    assert video_models.inter is not None
    codec = video_models.inter.codec
    encoder = VideoEncoder(video_models, 3.0, GopPolicy(8))
    units = [encoder.encode(frame)[0] for frame in _moving(smooth_frames, 48, 64, 3)]
    assert [unit.frame_type for unit in units] == [FrameType.INTRA, FrameType.INTER, FrameType.INTER]
    first = codec.decode(Reference(units[0].reconstruction), units[1].frame.reader(CODER_ID), units[1].quality)
    assert first.propagated is not None and first.propagated.shape[1] == 4
    assert encoder.buffer.reference is not None and encoder.buffer.reference.propagated is not None
    second = codec.decode(first, units[2].frame.reader(CODER_ID), units[2].quality)
    np.testing.assert_array_equal(second.picture, units[2].reconstruction)
    assert second.propagated is not None  # the encoder's features after frame 2 equal the decoder's
    assert torch.equal(encoder.buffer.reference.propagated, second.propagated)
    without = codec.decode(Reference(first.picture), units[2].frame.reader(CODER_ID), units[2].quality)
    assert not np.array_equal(without.picture, second.picture)


@pytest.mark.slow  # loads the shipped image model
def test_a_version_1_file_decodes_by_its_own_rule() -> None:
    """tests/data/sample_v1_q3_3frames.tngv: all-intra, tng-image-v11, quality 3, about 27 dB. Version 1 synthesised
    the whole picture at once, in float32 with every thread: its pixels are that rule's on this machine, and may
    differ in the last bit on another CPU type (docs/bitstream.md; a hash taken on one machine failed on another),
    so the check is the rule, exactly, and the picture's quality."""
    video = open_tngv((DATA_DIR / "sample_v1_q3_3frames.tngv").read_bytes())
    header = video.header
    assert header.version == 1 and header.reconstruction == WHOLE_PICTURE and header.padding_multiple == 64
    decoded = list(video.frames())
    originals = list(islice(open_video(DATA_DIR / "sample_foreman_qcif.mp4").frames(), 3))
    assert len(decoded) == 3
    codec = video.models.intra.codec
    for coded, got, original in zip(video.coded_frames, decoded, originals, strict=True):
        want = codec.decode_from(coded.reader(header.coder_id), header.height, header.width, coded.quality, WHOLE_PICTURE,
                                 multiple=64)  # version 1 padded to 64 pixels
        np.testing.assert_array_equal(got, want)
        assert psnr(original, got) > 26.5


@pytest.mark.parametrize(("version", "rule"), [(2, WHOLE_PICTURE), (3, TILES), (4, TILES_BF16)])
def test_older_streams_reconstruct_by_their_versions_rule(
    inter_models: Path, tmp_path: Path, smooth_frames: Frames, version: int, rule: Reconstruction
) -> None:
    """Versions 2 to 4 share one layout (a chunk and a stream per section), versions 5 and 6 pack each frame into
    one unit and one stream; a
    version-2 stream's I- and P-frames decode with the whole-picture rule, a version-3 one's in float32 tiles,
    a version-4 one's in the bfloat16 tiles of what this build writes.
    (The real version-2 sample, made with tng-inter-v1, left tests/data when that model was retired.)"""
    models = load_video_models()
    assert models.inter is not None
    frames = _moving(smooth_frames, 128, 640, 3)  # two tiles
    encoders = VideoEncoder(models, 3.0, GopPolicy(4)), VideoEncoder(models, 3.0, GopPolicy(4), version=4)
    units, old_units = ([unit for frame in frames for unit in encoder.encode(frame)] for encoder in encoders)
    written = [unit.reconstruction for unit in units]
    assert all(np.array_equal(a.reconstruction, b) for a, b in zip(old_units, written, strict=True))
    header = VideoHeader(CODER_ID, models.table(), 640, 128, Fraction(25), passes=models.passes())
    assert header.version == VIDEO_FORMAT_VERSION == 7
    current = pack_video(header, [unit.frame for unit in units])
    old_frames = [unit.frame for unit in old_units]
    data = pack_video(dataclasses.replace(header, version=version, passes=(0, 0, 0)), old_frames)
    sections = sum(len(frame.sections) for frame in old_frames)
    assert sections >= 10 and len(data) - len(current) >= 9 * (sections - len(units))  # a chunk per section, and more
    video = open_tngv(data, models)
    assert video.header.version == version and video.header.reconstruction == rule
    decoded = list(video.frames())
    assert unpack_video(data)[1] == old_frames and unpack_video(current)[1] == [unit.frame for unit in units]
    intra = models.intra.codec.decode_from(old_frames[0].reader(CODER_ID), 128, 640, units[0].quality, rule)
    inter = models.inter.codec.decode(Reference(intra), old_frames[1].reader(CODER_ID), units[1].quality,
                                      reconstruction=rule).picture
    np.testing.assert_array_equal(decoded[0], intra)
    np.testing.assert_array_equal(decoded[1], inter)
    if rule is TILES_BF16:
        assert all(np.array_equal(a, b) for a, b in zip(decoded, written, strict=True))
    elif bfloat16_convolutions():  # else version 4's convolutions run in float32 too
        assert any(not np.array_equal(a, b) for a, b in zip(decoded, written, strict=True))  # the rules differ


def test_version_5_streams_still_decode_and_version_6_frames_are_smaller(
    inter_models: Path, smooth_frames: Frames
) -> None:
    """Version 5 (a FRAME chunk per frame, with a float32 quality and the passes) and version 6 (a compact unit, the
    passes in the header) hold the same symbols: the same pictures, and version 6 spends at least 6 bytes less a
    frame (9 bytes of framing instead of 16, and the stream's trailing zero bytes left out)."""
    models = load_video_models()
    frames = _moving(smooth_frames, 64, 128, 5)
    encoders = VideoEncoder(models, 3.0, GopPolicy(4)), VideoEncoder(models, 3.0, GopPolicy(4), version=5)
    units, old_units = ([unit for frame in frames for unit in encoder.encode(frame)] for encoder in encoders)
    assert [unit.frame for unit in units] == [unit.frame for unit in old_units]  # quality 3 is stored exactly by both
    header = VideoHeader(CODER_ID, models.table(), 128, 64, Fraction(25), passes=models.passes())
    current = pack_video(header, [unit.frame for unit in units])
    old = pack_video(dataclasses.replace(header, version=5, passes=(0, 0, 0)), [unit.frame for unit in old_units])
    assert len(old) - len(current) >= 6 * len(units) - 3  # the version-6 header is 3 bytes longer
    assert all(len(new.data) <= len(previous.data) - 6 for new, previous in zip(units, old_units, strict=True))
    for data in (current, old):
        video = open_tngv(data, models)
        assert all(np.array_equal(a, unit.reconstruction) for a, unit in zip(video.frames(), units, strict=True))
    assert open_tngv(old, models).header.version == 5


def test_version_7_pads_frames_to_16_pixels_and_version_6_streams_still_decode(
    inter_models: Path, smooth_frames: Frames
) -> None:
    """A 40×72 frame is padded to 48×80 in version 7 (3×5 latents, one per 16×16 pixels; the hyper-latents cover
    them padded to 4×8) and to 64×128 in version 6 (4×8 latents, those wholly in the padding coded too), so its
    version-7 frames are smaller; each version decodes to its own encoder's pictures."""
    models = load_video_models()
    frames = _moving(smooth_frames, 40, 72, 4)
    encoders = VideoEncoder(models, 3.0, GopPolicy(4)), VideoEncoder(models, 3.0, GopPolicy(4), version=6)
    units, old_units = ([unit for frame in frames for unit in encoder.encode(frame)] for encoder in encoders)
    assert [unit.frame_type for unit in units] == [FrameType.INTRA] + [FrameType.INTER] * 3
    assert all(len(new.data) < len(old.data) for new, old in zip(units, old_units, strict=True))
    header = VideoHeader(CODER_ID, models.table(), 72, 40, Fraction(25), passes=models.passes())
    for version, written in ((7, units), (6, old_units)):
        data = pack_video(dataclasses.replace(header, version=version), [unit.frame for unit in written])
        video = open_tngv(data, models)
        assert video.header.version == version
        assert all(np.array_equal(a, unit.reconstruction) for a, unit in zip(video.frames(), written, strict=True))


def test_version_6_stores_qualities_in_1024ths(inter_models: Path, smooth_frames: Frames) -> None:
    """A compact unit stores the quality as 1/1024ths of a level: the encoder codes with that value, which the
    decoder reads back exactly."""
    models = load_video_models()
    (unit,) = VideoEncoder(models, 3.3, GopPolicy(4)).encode(_moving(smooth_frames, 64, 128, 1)[0])
    assert unit.quality == round(3.3 * 1024) / 1024 != 3.3
    header = VideoHeader(CODER_ID, models.table(), 128, 64, Fraction(25), passes=models.passes())
    assert unpack_video(pack_video(header, [unit.frame]))[1][0].quality == unit.quality


def test_the_evaluation_stops_when_the_decoder_disagrees_with_the_encoder(
    inter_models: Path, moving_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tngvideo import video_coder

    decode = video_coder.VideoDecoder.decode

    def off_by_one(self: video_coder.VideoDecoder, frame: CodedFrame | None) -> list[np.ndarray]:
        pictures = decode(self, frame)
        if self.buffer.frames == 2:
            pictures[0] = pictures[0].copy()
            pictures[0][0, 0, 0] ^= 1
        return pictures

    code_clip(open_video(moving_clip), load_video_models(), GopPolicy(4), [3.0], "tngvideo", max_frames=3)  # agrees
    monkeypatch.setattr(video_coder.VideoDecoder, "decode", off_by_one)
    with pytest.raises(RuntimeError, match="decoded frame 1 differs"):
        code_clip(open_video(moving_clip), load_video_models(), GopPolicy(4), [3.0], "tngvideo", max_frames=3)


# --- the video commands ---------------------------------------------------------------------------


def test_encode_reports_frame_types_and_byte_shares_and_info_lists_every_frame(
    inter_models: Path, tmp_path: Path, moving_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["encode", str(moving_clip), str(tmp_path / "a.tngv"), "--gop", "4", "--frames", "5", "--start", "1"]
    assert main(command) == 0
    out, err = capsys.readouterr()
    assert "5 frames (2 I, 3 P) 64x48" in out and "GOP 4" in out and "% / P " in out and "warning" not in err
    reconstructions = _encode(moving_clip, tmp_path / "b.tngv", load_video_models(), gop=4, quality=6.0,
                              max_frames=5, start=1)
    assert (tmp_path / "a.tngv").read_bytes() == (tmp_path / "b.tngv").read_bytes()
    assert main(["info", str(tmp_path / "a.tngv")]) == 0
    out = capsys.readouterr().out
    assert "5 frames (2 I, 3 P)" in out and "intra id 7" in out and "inter id 20" in out
    rows = [line.split() for line in out.splitlines()[4:]]
    _, frames = unpack_video((tmp_path / "a.tngv").read_bytes())
    assert [row[:2] for row in rows] == [[str(i), t] for i, t in enumerate("IPPPI")]
    assert [int(row[2]) for row in rows] == [len(frame_bytes(f)) for f in frames]
    assert [float(row[3]) for row in rows] == [6.0 - (t == "P") * DEFAULT_INTER_QUALITY_OFFSET for t in "IPPPI"]
    assert main(["decode", str(tmp_path / "a.tngv"), str(tmp_path / "out") + "/"]) == 0
    for got, want in zip(_read_pngs(tmp_path / "out"), reconstructions, strict=True):
        np.testing.assert_array_equal(got, want)


def test_p_frames_code_at_the_i_frames_quality_minus_the_offset(
    inter_models: Path, tmp_path: Path, moving_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["encode", str(moving_clip), str(tmp_path / "a.tngv"), "--gop", "4", "--frames", "5", "--quality", "6"]
    assert main([*command, "--p-offset", "1.5"]) == 0
    _, frames = unpack_video((tmp_path / "a.tngv").read_bytes())
    assert [f.quality for f in frames] == [6.0, 4.5, 4.5, 4.5, 6.0]
    assert main([*command[:-1], "1.5", "--p-offset", "3", "--overwrite"]) == 0  # never below quality 1
    assert {f.quality for f in unpack_video((tmp_path / "a.tngv").read_bytes())[1]} == {1.5, 1.0}
    capsys.readouterr()
    assert main([*command, "--p-offset", "-1", "--overwrite"]) == EXIT_USAGE
    assert "--p-offset must be in [0, 9)" in _error_line(capsys)


def test_gop_1_is_all_intra_and_needs_no_inter_model(
    models: Path, tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["encode", str(clip), str(tmp_path / "a.tngv"), "--gop", "1"]) == 0
    assert "3 frames (3 I, 0 P)" in capsys.readouterr().out
    assert _warnings(capsys) == []
    header, _ = unpack_video((tmp_path / "a.tngv").read_bytes())
    assert [role for role, _ in header.models] == [ModelRole.INTRA]


def test_gop_1_with_an_inter_model_shipped_codes_with_its_intra_model_alone(
    inter_models: Path, tmp_path: Path, moving_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tiny_models_dir(inter_models, seed=1, model_id=8, name="newer")  # the newest image model, not the inter one's
    assert main(["encode", str(moving_clip), str(tmp_path / "a.tngv"), "--gop", "1", "--frames", "2"]) == 0
    assert "2 frames (2 I, 0 P)" in capsys.readouterr().out
    header, _ = unpack_video((tmp_path / "a.tngv").read_bytes())
    assert [(role, identity.model_id) for role, identity in header.models] == [(ModelRole.INTRA, 7)]


@pytest.mark.parametrize("gop", [[], ["--gop", "8"]], ids=["default-gop", "explicit-gop"])
def test_without_an_inter_model_encode_codes_all_intra_with_one_warning(
    models: Path, tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str], gop: list[str]
) -> None:
    assert main(["encode", str(clip), str(tmp_path / "a.tngv"), *gop]) == 0
    out, err = capsys.readouterr()
    warnings = [line for line in err.splitlines() if line.startswith("tngvideo: warning:")]
    assert len(warnings) == 1 and "no inter model" in warnings[0]
    assert "3 frames (3 I, 0 P)" in out


def test_a_gop_the_stream_lacks_is_a_one_line_error_and_writes_nothing(
    inter_models: Path, tmp_path: Path, moving_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["encode", str(moving_clip), str(tmp_path / "a.tngv"), "--gop", "4"]) == 0
    capsys.readouterr()
    assert main(["decode", str(tmp_path / "a.tngv"), str(tmp_path / "o.y4m"), "--start-gop", "2"]) == EXIT_USAGE
    assert "--start-gop 2: the stream has 2 GOPs" in _error_line(capsys)
    assert not (tmp_path / "o.y4m").exists()
    assert main(["encode", str(moving_clip), str(tmp_path / "b.tngv"), "--gop", "0"]) == EXIT_USAGE
    assert "--gop" in _error_line(capsys)


def test_negative_encoder_steps_are_input_errors_in_the_library_and_usage_errors_on_the_command_line(
    tmp_path: Path, moving_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(InputError, match="latent refinement must be 0 or more steps, got -1"):
        EncoderSettings(refine_steps=-1)
    with pytest.raises(InputError, match="motion search must be 0 or more steps, got -2"):
        EncoderSettings(motion_search_steps=-2)
    assert main(["encode", str(moving_clip), str(tmp_path / "a.tngv"), "--refine", "-1"]) == EXIT_USAGE
    assert "--refine must be 0 or more steps, got -1" in _error_line(capsys)
    assert main(["eval", str(moving_clip), "--refine", "-1", "--out", str(tmp_path / "e")]) == EXIT_USAGE
    assert "--refine must be 0 or more steps, got -1" in _error_line(capsys)
    assert not (tmp_path / "a.tngv").exists() and not (tmp_path / "e").exists()


def test_eval_runs_the_real_codec_with_p_frames_and_all_intra_beside_the_anchors(
    inter_models: Path, tmp_path: Path, moving_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "e"
    command = ["eval", str(moving_clip), "--frames", "5", "--gop", "4", "--quality", "2", "5", "--out", str(out_dir)]
    assert main(command) == 0
    out = capsys.readouterr().out
    report = json.loads((out_dir / "rd.json").read_text())
    assert set(report["curves"]) == {
        "tngvideo", "tngvideo-intra", "x264-veryfast-yuv420p-zerolatency", "x264-medium-yuv420p-psnr",
        "x265-medium-yuv420p-psnr",
    }
    assert report["reference"] == "x264-veryfast-yuv420p-zerolatency"
    assert "inter model 'tiny-inter'" in report["settings"]["tngvideo"]
    assert "tune=zerolatency" in report["settings"]["x264-veryfast-yuv420p-zerolatency"]
    results = {(r["codec"], r["setting"]): r for r in json.loads((out_dir / "frames.json").read_text())}
    assert "".join(f["pict_type"] for f in results["tngvideo", 5.0]["records"]) == "IPPPI"
    assert "".join(f["pict_type"] for f in results["tngvideo-intra", 5.0]["records"]) == "IIIII"
    x264 = results["x264-veryfast-yuv420p-zerolatency", 23.0]["records"]
    assert [f["keyframe"] for f in x264] == [True, False, False, False, True]
    # the table is of the middle quality measured (5): its bytes are the stream's units
    _encode(moving_clip, tmp_path / "q5.tngv", load_video_models(), gop=4, quality=5.0, max_frames=5)
    _, frames = unpack_video((tmp_path / "q5.tngv").read_bytes())
    assert [f["bits"] for f in results["tngvideo", 5.0]["records"]] == [8 * len(frame_bytes(f)) for f in frames]
    assert "tngvideo at quality 5, per frame:" in out and "2 I, 3 P" in out
    assert "BD-rate of tngvideo against each anchor" in out and "tngvideo-intra" in out
    # what a manifest entry records of the report (scripts/export_inter_model.py, scripts/update_measured.py)
    summary = measured_summary(out_dir / "rd.json")
    assert [(p["quality"], p["bpp"]) for p in summary["points"]] == [
        (p["setting"], round(p["bpp"], 4)) for p in report["curves"]["tngvideo"]["points"]]
    assert set(summary["bd_rate_percent_vs"]) == set(report["curves"]) - {"tngvideo"}


def test_eval_reuses_an_earlier_evals_intra_and_anchor_curves_only_where_nothing_they_depend_on_changed(
    models: Path, tmp_path: Path, moving_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tiny_inter_model(models)
    common = ["eval", str(moving_clip), "--gop", "4", "--quality", "3", "5"]
    assert main([*common, "--frames", "3", "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert main([*common, "--frames", "3", "--baselines", str(tmp_path / "a"), "--out", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    first, again = (json.loads((tmp_path / name / "rd.json").read_text()) for name in "ab")
    assert again["curves"] == first["curves"] and again["source_digest"] == first["source_digest"] != ""
    reused = {name for name, text in again["settings"].items() if "[reused from " in text}
    assert reused == set(first["curves"]) - {"tngvideo"}  # the P-frame curve is measured again, the others are not
    assert "tngvideo-intra: reused from" in err and "tngvideo, quality 5:" in err
    assert "tngvideo-intra, quality 5:" not in err and "tngvideo-intra (frame 0, checked), quality 5:" in err
    # chained: a report of reused curves serves as baselines again
    assert main([*common, "--frames", "3", "--baselines", str(tmp_path / "b"), "--out", str(tmp_path / "c")]) == 0
    assert json.loads((tmp_path / "c" / "rd.json").read_text())["curves"] == first["curves"]
    capsys.readouterr()
    # other qualities: all-intra is measured again, the anchors still reused
    assert main(["eval", str(moving_clip), "--gop", "4", "--quality", "5", "--frames", "3",
                 "--baselines", str(tmp_path / "a"), "--out", str(tmp_path / "d")]) == 0
    settings = json.loads((tmp_path / "d" / "rd.json").read_text())["settings"]
    assert "[reused from " not in settings["tngvideo-intra"] and "[reused from " in settings["x265-medium-yuv420p-psnr"]
    # other frames, another machine, other intra code, no reports: refused before any coding
    refused = [
        (["--frames", "2", "--baselines", str(tmp_path / "a")], EXIT_USAGE, "measured on other frames"),
        (["--frames", "3", "--baselines", str(moving_clip)], EXIT_INPUT, "no tngvideo eval reports to reuse"),
    ]
    for name, edit in (("cpu", lambda report: report["environment"].update(cpu="another CPU")),
                       ("old", lambda report: report.pop("source_digest"))):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "frames.json").write_text((tmp_path / "a" / "frames.json").read_text())
        report = json.loads((tmp_path / "a" / "rd.json").read_text())
        edit(report)
        (folder / "rd.json").write_text(json.dumps(report))
    refused += [(["--frames", "3", "--baselines", str(tmp_path / "cpu")], EXIT_USAGE, "'another CPU' there"),
                (["--frames", "3", "--baselines", str(tmp_path / "old")], EXIT_USAGE, "did not record")]
    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "rd.json").write_text((tmp_path / "a" / "rd.json").read_text())
    results = json.loads((tmp_path / "a" / "frames.json").read_text())
    next(r for r in results if r["codec"] == "tngvideo-intra" and r["setting"] == 5.0)["records"][0]["bits"] += 8
    (changed / "frames.json").write_text(json.dumps(results))
    refused.append((["--frames", "3", "--baselines", str(changed)], EXIT_USAGE, "coded frame 0 as"))
    for options, code, message in refused:
        out = tmp_path / f"refused-{len(message)}"
        assert main([*common, *options, "--out", str(out)]) == code
        assert message in _error_line(capsys)
        assert not (out / "rd.json").exists()


def _eval_bits(report: Path) -> list[int]:
    """The bits of each tngvideo unit at quality 5 in an eval report folder."""
    results = {(r["codec"], r["setting"]): r for r in json.loads((report / "frames.json").read_text())}
    return [f["bits"] for f in results["tngvideo", 5.0]["records"]]


def _units(clip: Path, path: Path, settings: EncoderSettings) -> list[bytes]:
    """Each unit when the library codes the clip's first 3 frames to ``path`` as eval's tests ask (GOP 4, quality 5)."""
    _encode(clip, path, load_video_models(), gop=4, quality=5.0, max_frames=3, settings=settings)
    return [frame_bytes(f) for f in unpack_video(path.read_bytes())[1]]


def _unit_bits(clip: Path, path: Path, settings: EncoderSettings) -> list[int]:
    """The bits of each of :func:`_units`."""
    return [8 * len(unit) for unit in _units(clip, path, settings)]


def test_eval_codes_with_the_motion_search_asked_for(inter_models: Path, tmp_path: Path, moving_clip: Path) -> None:
    command = ["eval", str(moving_clip), "--frames", "3", "--gop", "4", "--quality", "5", "--motion-search", "0",
               "--out", str(tmp_path / "e")]
    assert main(command) == 0

    def units(steps: int) -> list[bytes]:
        return _units(moving_clip, tmp_path / f"s{steps}.tngv", EncoderSettings(motion_search_steps=steps))

    assert _eval_bits(tmp_path / "e") == [8 * len(unit) for unit in units(0)] and units(0) != units(8)
    assert "motion search 0 steps" in json.loads((tmp_path / "e" / "rd.json").read_text())["settings"]["tngvideo"]


def test_encode_and_eval_skip_blocks_when_asked_and_not_by_default(
    inter_models: Path, tmp_path: Path, moving_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a random model decodes badly: let the rates decide, so that blocks are skipped (which the flags must change)
    monkeypatch.setattr(block_skip, "distortion_weight", lambda frames_after: 0.001)
    options = ["--frames", "3", "--gop", "4", "--quality", "5"]
    for flag, name in (([], "default"), (["--skip-blocks"], "on")):
        assert main(["encode", str(moving_clip), str(tmp_path / f"cli-{name}.tngv"), *options, *flag]) == 0
        assert main(["eval", str(moving_clip), *options, *flag, "--out", str(tmp_path / name)]) == 0

    def unit_bits(skip: bool) -> list[int]:
        return _unit_bits(moving_clip, tmp_path / f"library-{skip}.tngv", EncoderSettings(skip_blocks=skip))

    assert _eval_bits(tmp_path / "default") == unit_bits(False) != unit_bits(True) == _eval_bits(tmp_path / "on")
    assert (tmp_path / "cli-default.tngv").read_bytes() == (tmp_path / "library-False.tngv").read_bytes()
    assert (tmp_path / "cli-on.tngv").read_bytes() == (tmp_path / "library-True.tngv").read_bytes()
    settings = {name: json.loads((tmp_path / name / "rd.json").read_text())["settings"]["tngvideo"]
                for name in ("default", "on")}
    assert "skipped blocks" in settings["on"] and "skipped blocks" not in settings["default"]


def test_eval_without_an_inter_model_measures_all_intra_and_says_so(
    models: Path, tmp_path: Path, moving_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # (x265 corrupts its heap on frames narrower than 64 pixels from the second frame on: eval clips here are 64 wide)
    assert main(["eval", str(moving_clip), "--frames", "2", "--quality", "3", "--out", str(tmp_path / "e")]) == 0
    out, err = capsys.readouterr()
    assert "no inter model" in err
    curves = json.loads((tmp_path / "e" / "rd.json").read_text())["curves"]
    assert "tngvideo-intra" in curves and "tngvideo" not in curves
    assert "tngvideo-intra at quality 3, per frame:" in out


# --- all-intra streams ----------------------------------------------------------------------------


def test_all_intra_round_trip_decodes_exactly_the_image_codecs_reconstructions(
    models: Path, tmp_path: Path, clip: Path
) -> None:
    assert main(["encode", str(clip), str(tmp_path / "a.tngv"), "--quality", "3"]) == 0
    assert main(["decode", str(tmp_path / "a.tngv"), str(tmp_path / "out") + "/"]) == 0
    decoded = _read_pngs(tmp_path / "out")
    loaded = load_image_codec()
    expected = [encode_image(f, 3.0, loaded).reconstruction for f in open_video(clip).frames()]
    assert len(decoded) == 3
    for got, want in zip(decoded, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert not list(tmp_path.glob("*.part"))


def test_refined_video_frames_decode_exactly_and_differ_from_plain_ones(models: Path, tmp_path: Path, clip: Path) -> None:
    assert main(["encode", str(clip), str(tmp_path / "plain.tngv"), "--quality", "3"]) == 0
    assert main(["encode", str(clip), str(tmp_path / "a.tngv"), "--quality", "3", "--refine", "10"]) == 0
    assert (tmp_path / "a.tngv").read_bytes() != (tmp_path / "plain.tngv").read_bytes()
    assert main(["decode", str(tmp_path / "a.tngv"), str(tmp_path / "out") + "/"]) == 0
    decoded = _read_pngs(tmp_path / "out")
    loaded = load_image_codec()
    expected = [encode_image(f, 3.0, loaded, refine_steps=10).reconstruction for f in open_video(clip).frames()]
    assert len(decoded) == 3
    for got, want in zip(decoded, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_eval_measures_the_refined_coding_when_asked(models: Path, tmp_path: Path, clip: Path) -> None:
    command = ["eval", str(clip), "--frames", "1", "--quality", "4", "6", "--refine", "3", "--out", str(tmp_path / "e")]
    assert main(command) == 0
    results = json.loads((tmp_path / "e" / "frames.json").read_text())
    measured = {r["setting"]: r["records"][0]["bits"] for r in results if r["codec"] == "tngvideo-intra"}
    loaded = load_image_codec()
    frame = next(open_video(clip).frames())

    def unit_bits(quality: float, steps: int) -> int:
        stream = encode_image(frame, quality, loaded, steps).picture.symbols.stream()
        return 8 * len(frame_bytes(CodedFrame(FrameType.INTRA, quality, (loaded.codec.num_passes,), (stream,))))

    assert measured == {q: unit_bits(q, 3) for q in (4.0, 6.0)} != {q: unit_bits(q, 0) for q in (4.0, 6.0)}
    assert "refinement 3 steps" in json.loads((tmp_path / "e" / "rd.json").read_text())["settings"]["tngvideo-intra"]


def test_frame_rate_and_size_survive_the_round_trip(models: Path, tmp_path: Path, smooth_frames: Frames) -> None:
    source = tmp_path / "in.y4m"
    with open_writer(source, 48, 32, Fraction(30000, 1001), chroma="444") as writer:
        for frame in smooth_frames(32, 48, count=2):
            writer.write(frame)
    assert main(["encode", str(source), str(tmp_path / "a.tngv"), "--frames", "1"]) == 0
    header, frames = unpack_video((tmp_path / "a.tngv").read_bytes())
    assert (header.width, header.height, header.fps, len(frames)) == (48, 32, Fraction(30000, 1001), 1)
    assert main(["decode", str(tmp_path / "a.tngv"), str(tmp_path / "out.y4m")]) == 0
    info = open_video(tmp_path / "out.y4m").info
    assert (info.width, info.height, info.fps) == (48, 32, Fraction(30000, 1001))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:-7], "truncated"),
        (lambda data: data[:60] + bytes([data[60] ^ 0x10]) + data[61:], "corrupt"),
        (lambda data: data + b"\0", "unexpected bytes"),
        (lambda data: b"RIFF" + data[4:], "bad magic"),
    ],
)
def test_damaged_files_are_one_line_errors_and_create_no_output(
    inter_models: Path, tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str],
    damage: Callable[[bytes], bytes], message: str,
) -> None:
    assert main(["encode", str(clip), str(tmp_path / "a.tngv")]) == 0
    (tmp_path / "bad.tngv").write_bytes(damage((tmp_path / "a.tngv").read_bytes()))
    capsys.readouterr()
    assert main(["decode", str(tmp_path / "bad.tngv"), str(tmp_path / "out.mp4")]) == EXIT_BITSTREAM
    assert message in _error_line(capsys)
    assert not (tmp_path / "out.mp4").exists()


def test_a_source_that_breaks_midway_leaves_no_output(
    models: Path, tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (clip / "001.png").write_bytes(b"not a png")
    assert main(["encode", str(clip), str(tmp_path / "a.tngv")]) == EXIT_INPUT
    assert "001.png" in _error_line(capsys)
    assert not list(tmp_path.glob("a.tngv*"))


def test_outputs_are_not_overwritten_unless_asked(
    models: Path, tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["encode", str(clip), str(tmp_path / "a.tngv")]) == 0
    assert main(["encode", str(clip), str(tmp_path / "a.tngv")]) == EXIT_OUTPUT
    assert "--overwrite" in _error_line(capsys)
    assert main(["encode", str(clip), str(tmp_path / "a.tngv"), "--overwrite", "--quality", "1"]) == 0
    (tmp_path / "out.mp4").write_bytes(b"keep me")
    assert main(["decode", str(tmp_path / "a.tngv"), str(tmp_path / "out.mp4")]) == EXIT_OUTPUT
    assert (tmp_path / "out.mp4").read_bytes() == b"keep me"


def test_a_stream_for_other_weights_is_refused(models: Path, tmp_path: Path, clip: Path) -> None:
    assert main(["encode", str(clip), str(tmp_path / "a.tngv")]) == 0
    header, frames = unpack_video((tmp_path / "a.tngv").read_bytes())
    other_weights = ModelIdentity(header.intra_model.model_id, bytes(8))
    other = dataclasses.replace(header, models=((ModelRole.INTRA, other_weights),))
    with pytest.raises(BitstreamError, match="other weights"):
        open_tngv(pack_video(other, frames))


def test_info_describes_a_video_stream(models: Path, tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["encode", str(clip), str(tmp_path / "a.tngv")]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "a.tngv")]) == 0
    out = capsys.readouterr().out
    assert f"TNG video (format version {VIDEO_FORMAT_VERSION}), 47x33, 25.000 fps" in out and "3 frames (3 I, 0 P)" in out
    assert "models: intra id 7" in out and "I-frames" in out


def _stream(frame_count: int, stream: bytes = b"\1\2\3\4\5\6\7\10") -> bytes:
    header = VideoHeader(2, ((ModelRole.INTRA, ModelIdentity(5, bytes(range(8)))),), 16, 16, Fraction(25),
                         passes=(2, 0, 0))
    frame = CodedFrame(FrameType.INTRA, 2.5, (2,), (stream,))
    return pack_video(header, [frame] * frame_count)


def _header_size(data: bytes) -> int:
    """Bytes of a version-6 header with one model: fixed part, one table entry, the passes, the CRC."""
    assert data[4] == VIDEO_FORMAT_VERSION and data[22] == 1
    return 23 + 11 + 3 + 4


def test_compact_units_leave_out_the_streams_trailing_zero_bytes_and_check_the_rest() -> None:
    """A stream's last word ends in zero bytes (its ANS state is about log-uniform); the unit leaves them out and
    the reader puts them back, so the frame reads back equal. A unit that keeps them, or whose length is not
    minimally encoded, is refused: one file per stream."""
    stream = b"\1\2\3\4\5\0\0\0"
    data = _stream(1, stream)
    start = _header_size(data)
    unit = data[start : start + 1 + 1 + 2 + 5 + 4]
    assert unit[:4] == bytes([ChunkType.INTRA_FRAME, 7]) + (int(2.5 * 1024)).to_bytes(2, "little")
    assert unit[4:9] == stream[:5]
    assert unpack_video(data)[1][0].sections == (stream,)

    def rewritten(body: bytes) -> bytes:
        unit = bytes([ChunkType.INTRA_FRAME]) + body
        return data[:start] + unit + zlib.crc32(unit).to_bytes(4, "little") + data[start + 13 :]

    with pytest.raises(BitstreamError, match="trailing zero"):
        unpack_video(rewritten(bytes([8]) + unit[2:9] + b"\0"))
    with pytest.raises(BitstreamError, match="minimally"):
        unpack_video(rewritten(bytes([0x87, 0]) + unit[2:9]))
    with pytest.raises(BitstreamError, match="checksum"):
        unpack_video(data[:start + 5] + bytes([data[start + 5] ^ 1]) + data[start + 6 :])


def test_container_round_trip_and_its_structural_checks() -> None:
    header, frames = unpack_video(_stream(2))
    assert header.fps == 25 and header.intra_model.model_id == 5 and len(frames) == 2
    assert frames[1] == CodedFrame(FrameType.INTRA, 2.5, (2,), (b"\1\2\3\4\5\6\7\10",))
    with pytest.raises(BitstreamError, match="no frames"):
        unpack_video(_stream(0))
    two = _stream(2)
    end = len(two) - 21  # the END chunk: 5-byte head, 4-byte count, 8-byte index offset, 4-byte CRC
    with pytest.raises(BitstreamError, match="truncated"):
        unpack_video(two[:end])


def test_pictures_and_videos_point_to_each_others_decoder(
    models: Path, tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["encode", str(clip), str(tmp_path / "a.tngv")]) == 0
    assert main(["image", "encode", str(clip / "000.png"), str(tmp_path / "a.tng")]) == 0
    capsys.readouterr()
    assert main(["decode", str(tmp_path / "a.tng"), str(tmp_path / "o.mp4")]) == EXIT_USAGE
    assert "image decode" in _error_line(capsys)
    assert main(["image", "decode", str(tmp_path / "a.tngv"), str(tmp_path / "o.png")]) == EXIT_USAGE
    assert "use 'tngvideo decode'" in _error_line(capsys)

"""Behaviour of the training loop on a tiny model and a tiny fake data folder: schedule, resume, growth."""

from __future__ import annotations

import dataclasses
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_model import TINY_CONFIG, tiny_model

from tngvideo.codecs.image_model import ImageModel, lambdas_of_levels
from tngvideo.training.data import (
    VALIDATION_PICTURES,
    HeldOutPicture,
    TrainingDataConfig,
    load_training_pictures,
    load_validation_pictures,
)
from tngvideo.training.image_task import ImageTraining, TrainConfig, rate_loss, rd_loss, run_image_training
from tngvideo.training.learning_curve import RunSegment, lineage_curve, split_segment_words
from tngvideo.training.levels import sample_levels
from tngvideo.training.loop import Schedule, TrainingLoop
from tngvideo.training.model_growth import initialise_from
from tngvideo.training.rd_probe import RDProbe, kodak_probe, split_into_tiles
from tngvideo.zoo import load_state, read_metadata, save_weights


def test_learning_rate_warms_up_then_decays_to_the_final_rate() -> None:
    schedule = Schedule(steps=1000, warmup_steps=100, learning_rate=1e-3, final_learning_rate=1e-5)
    assert schedule.learning_rate_at(0) == pytest.approx(1e-5)
    assert schedule.learning_rate_at(99) == pytest.approx(1e-3)
    assert schedule.learning_rate_at(100) == pytest.approx(1e-3)
    assert schedule.learning_rate_at(550) == pytest.approx((1e-3 + 1e-5) / 2)
    assert schedule.learning_rate_at(1000) == pytest.approx(1e-5)


def test_levels_are_uniform_by_default_and_skewed_to_high_rates_below_exponent_one() -> None:
    uniform = sample_levels(np.random.default_rng(0), 20000, 10, 1.0)
    skewed = sample_levels(np.random.default_rng(0), 20000, 10, 0.5)
    assert uniform.min() >= 0 and max(uniform.max(), skewed.max()) < 9
    assert uniform.mean().item() == pytest.approx(4.5, abs=0.1)
    assert skewed.mean().item() == pytest.approx(6.0, abs=0.1)  # E[9·sqrt(u)] = 9·2/3
    assert (skewed < 3).float().mean().item() == pytest.approx(1 / 9, abs=0.01)  # P(u < 1/9)
    with pytest.raises(ValueError, match="exponent"):
        TrainConfig(level_exponent=0)


def test_a_context_model_grows_from_hyperprior_weights_but_nothing_else_may_be_missing() -> None:
    plain = tiny_model().state_dict()
    grown = tiny_model(context="checkerboard")
    assert initialise_from(grown, plain) == ["checkerboard"]
    assert torch.equal(grown.g_a[0].weight, plain["g_a.0.weight"])
    with pytest.raises(ValueError, match="missing"):
        initialise_from(tiny_model(), {k: v for k, v in plain.items() if not k.startswith("latent.h_s.")})
    with pytest.raises(ValueError, match="unexpected"):
        initialise_from(tiny_model(), {**plain, "extra.weight": torch.zeros(1)})


@pytest.mark.parametrize(
    ("flag", "transform", "block", "shape"),
    [("synthesis_residual_blocks", "g_s", 2, (1, TINY_CONFIG.latent_channels, 4, 5)),  # index 2: "1r", at 1/8
     ("analysis_residual_blocks", "g_a", 4, (1, 3, 64, 80)),  # index 4: "3r", at 1/4
     ("synthesis_half_resolution_block", "g_s", 6, (1, TINY_CONFIG.latent_channels, 4, 5))],  # index 6: "5r", at 1/2
)
def test_residual_blocks_grow_onto_plain_weights_as_a_no_op(flag: str, transform: str, block: int, shape: tuple[int, ...]) -> None:
    plain = tiny_model()
    grown = ImageModel(dataclasses.replace(TINY_CONFIG, **{flag: True}))
    assert initialise_from(grown, plain.state_dict()) == [transform]
    x = torch.randn(shape)
    grown_transform, plain_transform = getattr(grown, transform), getattr(plain, transform)
    with torch.no_grad():
        assert torch.equal(grown_transform(x), plain_transform(x))
        grown_transform[block].second.weight.normal_()  # a grown block, once trained
        assert not torch.equal(grown_transform(x), plain_transform(x))
    with pytest.raises(ValueError, match="unexpected"):
        initialise_from(tiny_model(), grown.state_dict())


def test_a_model_grows_quality_levels_from_weights_trained_on_a_shorter_ladder() -> None:
    short = dataclasses.replace(TINY_CONFIG, level_lambdas=(0.001, 0.004, 0.016))
    torch.manual_seed(1)
    source = ImageModel(short)
    with torch.no_grad():
        source.latent.gains.log_gain.normal_()
    grown = ImageModel(dataclasses.replace(TINY_CONFIG, level_lambdas=(0.00025, 0.001, 0.002, 0.004, 0.016)))
    assert initialise_from(grown, source.state_dict(), short) == []
    old, new = source.latent.gains.log_gain, grown.latent.gains.log_gain
    assert torch.equal(new[1], old[0]) and torch.equal(new[3], old[1]) and torch.equal(new[4], old[2])
    torch.testing.assert_close(new[2], (old[0] + old[1]) / 2)  # halfway in log lambda
    torch.testing.assert_close(new[0], old[0] - (old[1] - old[0]))  # one ladder step below, extrapolated
    torch.testing.assert_close(grown.latent.gains.log_inverse_gain[1], source.latent.gains.log_inverse_gain[0])
    assert torch.equal(grown.g_a[0].weight, source.g_a[0].weight)


def test_wider_latents_grow_onto_trained_weights_as_the_same_codec_that_training_can_move() -> None:
    narrow = tiny_model(context="checkerboard")
    wide_config = dataclasses.replace(narrow.config, latent_channels=TINY_CONFIG.latent_channels + 4)
    torch.manual_seed(5)
    wide = ImageModel(wide_config)
    m = TINY_CONFIG.latent_channels
    assert initialise_from(wide, narrow.state_dict(), narrow.config) == []
    for name in ("log_gain", "log_inverse_gain"):  # each new channel starts at its level's mean gain
        old, new = getattr(narrow.latent.gains, name), getattr(wide.latent.gains, name)
        torch.testing.assert_close(new[:, m:], old.mean(dim=1, keepdim=True).expand(-1, 4))
        torch.testing.assert_close(new[:, :m], old)
    narrow.eval()
    wide.eval()
    x, level = torch.rand(1, 3, 64, 64), torch.tensor([3.0])
    with torch.no_grad():
        narrow_out, wide_out = narrow(x, level), wide(x, level)
        wide_y = wide.latents(x, level)[0]
        wide_y_hat, _, _ = wide.latent.quantize(wide_y)
    for latents in (wide_y, wide_y_hat):  # the new channels are silent: they code as 0
        assert torch.equal(latents[:, m:], torch.zeros_like(latents[:, m:]))
    torch.testing.assert_close(wide_out.x_hat, narrow_out.x_hat)
    torch.testing.assert_close(wide_out.y_likelihoods[:, :m], narrow_out.y_likelihoods)
    torch.testing.assert_close(wide_out.z_likelihoods, narrow_out.z_likelihoods)
    assert wide_out.bits_per_pixel().item() == pytest.approx(narrow_out.bits_per_pixel().item(), rel=1e-3)
    distortion = torch.mean((wide(x, level).x_hat - x) ** 2)  # eval mode: the rate's noise gradient stays out
    distortion.backward()
    gradient = wide.g_a[-1].weight.grad
    assert gradient is not None and gradient[m:].abs().sum() > 0  # the distortion can wake the new channels up


def test_weights_of_other_widths_are_refused_with_a_clear_error() -> None:
    narrow = tiny_model()
    wide = ImageModel(dataclasses.replace(narrow.config, latent_channels=TINY_CONFIG.latent_channels + 4))
    with pytest.raises(ValueError, match="latent_channels may only grow"):
        initialise_from(narrow, wide.state_dict(), wide.config)
    other_hidden = ImageModel(dataclasses.replace(narrow.config, hidden_channels=TINY_CONFIG.hidden_channels + 4))
    with pytest.raises(ValueError, match="hidden_channels"):
        initialise_from(other_hidden, narrow.state_dict(), narrow.config)


def test_level_of_a_lambda_inverts_the_ladder_interpolation() -> None:
    config = dataclasses.replace(TINY_CONFIG, level_lambdas=(0.001, 0.004, 0.016))
    assert config.level_of(0.004) == pytest.approx(1.0)
    assert config.level_of(0.002) == pytest.approx(0.5)
    lambdas = lambdas_of_levels(torch.tensor([config.level_of(0.01)]), config.level_lambdas)
    assert lambdas.item() == pytest.approx(0.01)
    with pytest.raises(ValueError, match="outside"):
        config.level_of(0.5)


@pytest.fixture
def data_root(tmp_path: Path, smooth_frames) -> Path:
    folder = tmp_path / "data" / "images" / "photos"
    folder.mkdir(parents=True)
    for index, frame in enumerate(smooth_frames(64, 80, count=3)):
        Image.fromarray(frame).save(folder / f"{index}.png")
    return tmp_path / "data"


def test_training_takes_every_nth_clip_frame_or_photographs_only(data_root: Path, smooth_frames) -> None:
    clip = data_root / "video" / "train" / "clip"
    clip.mkdir(parents=True)
    for index, frame in enumerate(smooth_frames(48, 64, count=5)):
        Image.fromarray(frame).save(clip / f"{index:03d}.png")
    photos = ("images/photos",)
    every_second = load_training_pictures(data_root, TrainingDataConfig(image_dirs=photos, video_frame_step=2))
    assert [p.shape[:2] for p in every_second] == [(64, 80)] * 3 + [(48, 64)] * 3  # clip frames 0, 2, 4
    assert len(load_training_pictures(data_root, TrainingDataConfig(image_dirs=photos, video_frame_step=0))) == 3
    with pytest.raises(ValueError, match="frame step"):
        TrainingDataConfig(video_frame_step=-1)


def test_validation_pictures_are_held_out_of_training_and_cropped(data_root: Path) -> None:
    photos = ("images/photos",)
    held_out = (HeldOutPicture("images/photos/1.png"), HeldOutPicture("images/photos/2.png", crop=(32, 48)))
    config = TrainingDataConfig(image_dirs=photos, video_frame_step=0, validation_pictures=held_out)
    training = load_training_pictures(data_root, config)
    validation = load_validation_pictures(data_root, config)
    whole = load_training_pictures(data_root, dataclasses.replace(config, validation_pictures=()))
    assert len(whole) == 3 and len(training) == 1 and np.array_equal(training[0], whole[0])
    assert np.array_equal(validation[0], whole[1])
    assert np.array_equal(validation[1], whole[2][16:48, 16:64])  # the centre 48x32 of 80x64
    with pytest.raises(Exception, match="3.png"):  # a missing picture is an error, not a smaller validation set
        load_validation_pictures(data_root, dataclasses.replace(config, validation_pictures=(HeldOutPicture("images/photos/3.png"),)))


def test_the_default_validation_set_is_a_fixed_list_from_the_training_folders() -> None:
    paths = [picture.path for picture in VALIDATION_PICTURES]
    assert len(set(paths)) == len(paths) == 17
    assert sum(path.startswith("images/cid22/") for path in paths) == 16
    assert [p.crop for p in VALIDATION_PICTURES if p.path.startswith("images/clic2025/")] == [(512, 768)]
    assert all(path.rsplit("/", 1)[0] in TrainingDataConfig().image_dirs for path in paths)


def _tiny_training(steps: int, **changes: object) -> TrainConfig:
    data = TrainingDataConfig(image_dirs=("images/photos",), video_dir="video/none",
                              validation_pictures=(HeldOutPicture("images/photos/2.png"),))
    schedule = Schedule(steps=steps, learning_rate=5e-4, warmup_steps=1, checkpoint_every=2)
    return TrainConfig(model=TINY_CONFIG, data=data, schedule=schedule, batch_size=2, crop_size=64,
                       **changes)  # type: ignore[arg-type]


def _log(run: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_training_checkpoints_and_resumes_where_it_stopped(tmp_path: Path, data_root: Path) -> None:
    run = tmp_path / "run"
    run_image_training(_tiny_training(3), run, data_root)
    first = load_state(run / "last.safetensors")
    assert read_metadata(run / "last.safetensors")["step"] == "3"
    run_image_training(_tiny_training(5), run, data_root)
    assert read_metadata(run / "last.safetensors")["step"] == "5"
    log = _log(run)
    assert [r["event"] for r in log] == ["start", "eval", "resume", "eval"]
    assert log[0]["pictures"] == 2 and log[0]["validation_pictures"] == 1  # photo 2 is held out
    assert log[-1]["pictures"] == 1 and "bd_rate_vs_webp_percent" in log[-1]  # validated on the held-out photo
    resumed = load_state(run / "last.safetensors")
    assert not torch.equal(first["g_a.0.weight"], resumed["g_a.0.weight"])


def test_a_run_of_no_steps_scores_and_writes_its_starting_weights(tmp_path: Path, data_root: Path) -> None:
    start = tmp_path / "start"
    run_image_training(_tiny_training(2), start, data_root)
    run = tmp_path / "run"
    run_image_training(_tiny_training(0, init_weights=str(start / "last.safetensors")), run, data_root)
    assert [r["event"] for r in _log(run)] == ["start", "eval"]
    assert _log(run)[0]["weights"] == str(start / "last.safetensors")
    assert _log(run)[-1]["step"] == 0
    assert read_metadata(run / "last.safetensors")["step"] == "0"
    written, started = load_state(run / "last.safetensors"), load_state(start / "last.safetensors")
    assert all(torch.equal(written[name], started[name]) for name in started)


def _anchors_of_half_and_double_rate() -> dict[str, tuple[list[float], list[float]]]:
    """Made-up anchor curves, wide enough to overlap any model: WebP needs half JPEG's rate."""
    bpps, psnrs = [0.01 * 2**i for i in range(12)], [5.0 + 5 * i for i in range(12)]  # 0.01-20 bpp, 5-60 dB
    return {"jpeg": (bpps, psnrs), "webp": ([bpp / 2 for bpp in bpps], psnrs)}


def test_the_best_checkpoint_is_chosen_by_validation_bd_rate_against_webp(tmp_path: Path, data_root: Path) -> None:
    config = _tiny_training(2)
    config = dataclasses.replace(config, schedule=dataclasses.replace(config.schedule, eval_every=1))
    validation = load_validation_pictures(data_root, config.data)
    task = ImageTraining(config, load_training_pictures(data_root, config.data), validation)
    task.probe = RDProbe(validation, _anchors_of_half_and_double_rate())  # so that every BD-rate is finite
    run = tmp_path / "run"
    TrainingLoop(task, config.schedule, run, config.to_json()).run()
    evals = [r for r in _log(run) if r["event"] == "eval"]
    assert [r["step"] for r in evals] == [1, 2]
    assert all(r["score"] == r["bd_rate_vs_webp_percent"] for r in evals)
    best = min(evals, key=lambda r: float(r["score"]))  # type: ignore[arg-type]
    metadata = read_metadata(run / "best.safetensors")
    assert metadata["step"] == str(best["step"])
    assert json.loads(metadata["validation"])["score"] == best["score"]


def test_without_validation_pictures_training_runs_but_keeps_no_best_checkpoint(tmp_path: Path, data_root: Path) -> None:
    config = _tiny_training(2)
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, validation_pictures=()))
    run_image_training(config, tmp_path / "run", data_root)
    assert next(r for r in _log(tmp_path / "run") if r["event"] == "eval")["pictures"] == 0
    assert (tmp_path / "run" / "last.safetensors").exists() and not (tmp_path / "run" / "best.safetensors").exists()


def test_fine_tuning_a_context_model_from_hyperprior_weights(tmp_path: Path, data_root: Path) -> None:
    plain = tmp_path / "plain.safetensors"
    save_weights(tiny_model(), TINY_CONFIG, plain)
    config = _tiny_training(2, init_weights=str(plain))
    config = dataclasses.replace(config, model=dataclasses.replace(TINY_CONFIG, context="checkerboard"))
    run_image_training(config, tmp_path / "run", data_root)
    log = _log(tmp_path / "run")
    assert log[0] == {**log[0], "event": "start", "new_modules": ["checkerboard"], "source_latent_channels": TINY_CONFIG.latent_channels}
    assert any(k.startswith("latent.checkerboard.") for k in load_state(tmp_path / "run" / "last.safetensors"))


def test_the_prior_phase_trains_the_entropy_model_on_the_rate_alone(tmp_path: Path, data_root: Path) -> None:
    start = tmp_path / "start.safetensors"
    save_weights(tiny_model(context="checkerboard"), dataclasses.replace(TINY_CONFIG, context="checkerboard"), start)
    config = _tiny_training(2, init_weights=str(start), phase="prior")
    config = dataclasses.replace(config, model=dataclasses.replace(TINY_CONFIG, context="checkerboard"))
    run_image_training(config, tmp_path / "run", data_root)
    before, after = load_state(start), load_state(tmp_path / "run" / "last.safetensors")
    changed = {name.removeprefix("latent.").split(".")[0] for name in before if not torch.equal(before[name], after[name])}
    assert changed == {"h_a", "h_s", "z_prior", "checkerboard"}  # transforms and gains untouched


def test_rate_loss_is_the_rate_term_of_the_rd_loss() -> None:
    model = tiny_model(context="checkerboard").eval()  # eval: rounded latents, no noise
    x, levels = torch.rand(2, 3, 64, 64), torch.tensor([0.0, 1.5])
    _, rd_stats = rd_loss(model, x, levels)
    _, rate_stats = rate_loss(model, x, levels)
    assert rate_stats["bpp"] == pytest.approx(rd_stats["bpp"], rel=1e-6)
    with pytest.raises(ValueError, match="phase"):
        TrainConfig(phase="decoder")  # type: ignore[arg-type]


def _write_log(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_lineage_curve_concatenates_runs_and_counts_only_training_time(tmp_path: Path) -> None:
    first = _write_log(tmp_path / "a.jsonl", [
        {"time": 0, "event": "start"},
        {"time": 100, "event": "train", "step": 100},
        {"time": 200, "event": "eval", "step": 200, "bd_rate_vs_jpeg_percent": float("nan")},
        {"time": 300, "event": "train", "step": 300},
        {"time": 5100, "event": "resume", "step": 300},  # the pause before this is not training
        {"time": 5200, "event": "train", "step": 400},
        {"time": 5300, "event": "eval", "step": 500, "bd_rate_vs_jpeg_percent": 40.0},
        {"time": 5400, "event": "eval", "step": 600, "bd_rate_vs_jpeg_percent": 30.0},  # after the cut
    ])
    second = _write_log(tmp_path / "b.jsonl", [  # the log format before session 33
        {"time": 0, "event": "init"},
        {"time": 10, "event": "data"},
        {"time": 370, "event": "train", "step": 100},
        {"time": 730, "event": "eval", "step": 200, "bd_rate_vs_jpeg_percent": 20.0},
    ])
    curve = lineage_curve([RunSegment(first, 0, 500), RunSegment(second, 500)])
    assert [(p["step"], p["hours"], p["bd_rate_vs_jpeg_percent"]) for p in curve] == [
        (200, round(200 / 3600, 3), None),
        (500, round(500 / 3600, 3), 40.0),
        (700, round(1220 / 3600, 3), 20.0),
    ]
    continued = lineage_curve([RunSegment(second, 700)], earlier=curve[:2])
    assert [(p["step"], p["hours"]) for p in continued] == [
        (200, round(200 / 3600, 3)), (500, round(500 / 3600, 3)), (900, round(round(500 / 3600, 3) + 720 / 3600, 3))
    ]


def test_a_curve_scripts_segment_is_names_then_step_numbers() -> None:
    assert split_segment_words(["runs/a/log.jsonl", "500"], names=1, steps=range(1, 3)) == (["runs/a/log.jsonl"], [500])
    assert split_segment_words(["mg-a", "log", "500"], names=2, steps=range(2)) == (["mg-a", "log"], [500])
    assert split_segment_words(["mg-a", "log"], names=2, steps=range(2)) == (["mg-a", "log"], [])
    for words in (["log"], ["log", "five"], ["log", "1", "2", "3"], ["log", "-1"]):
        with pytest.raises(ValueError, match="step numbers"):
            split_segment_words(words, names=1, steps=range(1, 3))


def test_the_probe_codes_pictures_whole_or_as_independent_tiles(smooth_frames) -> None:
    config = dataclasses.replace(TINY_CONFIG, level_lambdas=(0.001, 0.01, 0.1))
    torch.manual_seed(0)
    model = ImageModel(config)
    probe = RDProbe(smooth_frames(64, 128, count=2), anchor_curves={})
    whole = probe.measure(model)
    one_tile = probe.measure(model, tile=64)  # 128 wide, 64 high: two tiles per picture
    assert whole["psnr"] != one_tile["psnr"] and whole["bpp"] != one_tile["bpp"]
    tiles = split_into_tiles(probe.images[0], 64)
    assert tiles.shape == (2, 3, 64, 64)
    assert torch.equal(torch.cat(list(tiles), dim=2), probe.images[0][0])
    with pytest.raises(ValueError, match="tiles"):
        probe.measure(model, tile=48)


def test_the_probe_measures_jpeg_and_webp_on_its_own_pictures_by_their_real_file_sizes(smooth_frames) -> None:
    picture = smooth_frames(64, 80, count=1)[0]
    probe = RDProbe([picture])
    centre = picture[:, 8:72]  # probed as its centre cut to the network's stride
    assert torch.equal(probe.images[0][0], torch.from_numpy(np.ascontiguousarray(centre)).permute(2, 0, 1) / 255.0)
    for name, options in (("jpeg", {"quality": 50, "subsampling": "4:2:0"}), ("webp", {"quality": 50, "method": 6})):
        file = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(centre)).save(file, name.upper(), **options)
        bpps, psnrs = probe.anchor_curves[name]
        assert len(bpps) == len(psnrs) == 12 and bpps == sorted(bpps)
        assert 8 * file.tell() / centre[..., 0].size in bpps
    result = probe.measure(ImageModel(dataclasses.replace(TINY_CONFIG, level_lambdas=(0.001, 0.01, 0.1))))
    assert result["pictures"] == 1 and {"bd_rate_vs_jpeg_percent", "bd_rate_vs_webp_percent"} <= result.keys()
    assert RDProbe([]).measure(tiny_model()) == {"pictures": 0}


def test_the_kodak_probe_gives_bd_rates_against_the_reference_jpeg_and_webp(tmp_path: Path, smooth_frames) -> None:
    kodak = tmp_path / "kodak"
    kodak.mkdir()
    Image.fromarray(smooth_frames(64, 64, count=1)[0]).save(kodak / "kodim01.png")
    curves = {name: [{"bpp": b, "psnr": q} for b, q in zip(*curve, strict=True)]
              for name, curve in _anchors_of_half_and_double_rate().items()}
    reference = tmp_path / "anchors.json"
    reference.write_text(json.dumps({"curves": curves}))
    torch.manual_seed(0)
    result = kodak_probe(kodak, reference).measure(ImageModel(dataclasses.replace(TINY_CONFIG, level_lambdas=(0.001, 0.01, 0.1))))
    vs_jpeg, vs_webp = result["bd_rate_vs_jpeg_percent"], result["bd_rate_vs_webp_percent"]
    assert isinstance(vs_jpeg, float) and isinstance(vs_webp, float)
    assert 1 + vs_webp / 100 == pytest.approx(2 * (1 + vs_jpeg / 100), rel=1e-6)
    top = result["top_level"]  # beyond the probed lambdas: the level where the anchors are hardest to beat
    assert isinstance(top, dict) and (top["level"], top["lambda"]) == (2.0, 0.1)
    assert top["psnr_gap_vs_jpeg_db"] - top["psnr_gap_vs_webp_db"] == pytest.approx(5.0)  # 5 dB per rate doubling


def test_the_probe_reports_the_transforms_ceiling_that_finer_quantization_approaches(smooth_frames) -> None:
    torch.manual_seed(0)
    model = ImageModel(dataclasses.replace(TINY_CONFIG, level_lambdas=(0.001, 0.01, 0.1)))
    probe = RDProbe(smooth_frames(64, 64, count=1), anchor_curves={})

    def measured_with_quantization_step_scaled_by(factor: float) -> dict[str, object]:
        with torch.no_grad():  # same transforms: the gain before rounding and its inverse after
            model.latent.gains.log_gain -= math.log(factor)
            model.latent.gains.log_inverse_gain += math.log(factor)
        return probe.measure(model)

    coarse = measured_with_quantization_step_scaled_by(1000.0)
    fine = measured_with_quantization_step_scaled_by(1e-6)  # 1000x finer than the original
    assert fine["unquantized_psnr"] == pytest.approx(coarse["unquantized_psnr"], abs=0.01)
    assert abs(fine["psnr"][-1] - fine["unquantized_psnr"]) < 0.05 < abs(coarse["psnr"][-1] - coarse["unquantized_psnr"])

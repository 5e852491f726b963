"""The P-frame network's parts and its training pieces: flow, warping, synthetic pairs, training clips,
the shared training loop, and the warm start from an image model."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from tiny_model import TINY_CONFIG, TINY_INTER_CONFIG, tiny_inter_model, tiny_model
from torch import nn

from tngvideo.codecs import block_skip
from tngvideo.codecs.block_skip import with_skipped_blocks
from tngvideo.codecs.conditioning import Condition
from tngvideo.codecs.flow import FlowConfig, FlowEstimator, WarpInterpolation, warp
from tngvideo.codecs.image_model import ImageModel, lambdas_of_levels
from tngvideo.codecs.inter_model import InterForward, InterModel, InterModelConfig
from tngvideo.codecs.motion_search import search_motion
from tngvideo.codecs.tiling import TILES
from tngvideo.training.inter_task import InterTraining, InterTrainingConfig
from tngvideo.training.loop import Schedule, TrainingLoop
from tngvideo.training.synthetic_flow import synthetic_pairs
from tngvideo.training.video_data import Segment, SequenceCrops, scene_cuts


def _texture(size: int, seed: int = 0) -> torch.Tensor:
    """A smooth random texture (1, 3, size, size) in [0, 1]: block matching has something to match."""
    noise = torch.from_numpy(np.random.default_rng(seed).uniform(0, 1, (1, 3, size // 4, size // 4))).float()
    return torch.nn.functional.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_warp_by_zero_flow_is_the_identity_and_by_whole_pixels_a_shift(interpolation: WarpInterpolation) -> None:
    image = _texture(32)
    assert torch.allclose(warp(image, torch.zeros(1, 2, 32, 32), interpolation), image, atol=1e-6)
    flow = torch.zeros(1, 2, 32, 32)
    flow[:, 0] = 3.0  # current(p) = reference(p + (3, 0))
    shifted = warp(image, flow, interpolation)
    assert torch.allclose(shifted[..., :-3], image[..., 3:], atol=1e-5)


def test_bicubic_warping_keeps_more_of_the_detail_than_bilinear() -> None:
    """Half a pixel there and back: bilinear sampling averages neighbours twice (a low-pass filter a GOP's P-frames
    apply again and again), bicubic sampling returns closer to the picture."""
    image = _texture(64)
    errors = {}
    for interpolation in ("bilinear", "bicubic"):
        there = warp(image, torch.full((1, 2, 64, 64), 0.5), interpolation)
        back = warp(there, torch.full((1, 2, 64, 64), -0.5), interpolation)
        errors[interpolation] = float(((back - image)[..., 4:-4, 4:-4] ** 2).mean())
    assert errors["bicubic"] < 0.5 * errors["bilinear"]


def test_untrained_flow_estimator_finds_a_translation_by_block_matching() -> None:
    reference = _texture(128)
    current = torch.roll(reference, shifts=(2, -5), dims=(2, 3))  # current(p) = reference(p + (5, -2))
    with torch.no_grad():
        flow = FlowEstimator(FlowConfig())(reference, current)
    inner = flow[0, :, 24:-24, 24:-24]
    assert inner.shape[-1] > 0
    assert abs(float(inner[0].median()) - 5.0) < 0.5 and abs(float(inner[1].median()) + 2.0) < 0.5


def test_synthetic_pairs_warp_exactly_outside_the_pasted_patch() -> None:
    rng = np.random.default_rng(0)
    references = torch.cat([_texture(64, seed) for seed in range(2)])
    patches = torch.cat([_texture(16, seed + 5) for seed in range(2)])
    reference, current, flow, valid = synthetic_pairs(rng, references, patches, photometric=False)
    # The flow explains every valid pixel of the current frame, the moved patch's included.
    torch.testing.assert_close(warp(reference, flow) * valid, current * valid, atol=1e-5, rtol=0)
    assert float(valid.mean()) > 0.5


def test_scene_cuts_find_a_change_of_scene_and_ignore_motion() -> None:
    first, second = (_texture(192, seed).squeeze(0).permute(1, 2, 0).numpy() * 255 for seed in (1, 2))
    scene_a = [np.roll(first, t, axis=1) for t in range(6)]
    scene_b = [np.roll(second * 0.3, t, axis=0) for t in range(6)]  # darker: other colours too
    assert scene_cuts(np.stack(scene_a + scene_b).astype(np.uint8)) == [6]


def test_sequence_crops_draw_consecutive_frames_of_one_segment() -> None:
    frames = np.stack([np.full((40, 50, 3), 10 * t, dtype=np.uint8) for t in range(6)])
    crops = SequenceCrops([Segment("ramp", frames)], length=3, crop_size=32, seed=0).batch(4)
    assert crops.shape == (4, 3, 3, 32, 32)
    steps = (crops[:, 1:] - crops[:, :-1]).mean(dim=(2, 3, 4)) * 255
    assert torch.allclose(steps.abs(), torch.full_like(steps, 10.0), atol=1e-3)  # forwards or reversed, one step apart


def test_per_clip_crops_weigh_every_clip_alike() -> None:
    """A large clip would take most of a proportional draw; per clip, each clip gives the same number."""
    def clip(name: str, value: int, side: int) -> Segment:
        return Segment(name, np.full((4, side, side, 3), value, dtype=np.uint8))

    segments = [clip("large", 200, 256), clip("small", 100, 40), clip("short", 50, 256)]
    segments[2] = Segment("short", segments[2].frames[:2])  # too short for 3 frames: no crops of it
    crops = SequenceCrops(segments, length=3, crop_size=32, seed=0).per_clip(2)
    values = sorted(round(float(crop[0, 0, 0, 0]) * 255) for crop in crops)
    assert values == [100, 100, 200, 200]


def test_validation_takes_its_sequences_per_clip_when_asked() -> None:
    rng = np.random.default_rng(0)
    clips = [Segment(name, rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)) for name in ("a", "b", "c")]
    model = InterModel(dataclasses.replace(TINY_INTER_CONFIG, frame=TINY_CONFIG))
    config = InterTrainingConfig(model=model.config, stage="joint", batch_size=1, crop_size=64, validation_crop=64,
                                 validation_length=2, validation_sequences=1, validation_per_clip=2)
    assert InterTraining(config, model, tiny_model(), clips, clips, seed=0).validation.shape[0] == 6
    with pytest.raises(ValueError, match="per clip"):
        dataclasses.replace(config, validation_per_clip=-1)


def _inter_model_from_tiny_image(seed: int) -> tuple[ImageModel, InterModel]:
    """A tiny image model and a P-frame model whose frame coder starts from it."""
    image = tiny_model(seed).eval()
    inter = InterModel(dataclasses.replace(TINY_INTER_CONFIG, frame=TINY_CONFIG))
    inter.initialise_from_image(image.state_dict())
    return image, inter


def test_inter_model_initialised_from_an_image_model_codes_like_it() -> None:
    image, inter = _inter_model_from_tiny_image(3)
    inter.eval()
    x, reference = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    level = torch.tensor([2.0, 5.5])
    with torch.no_grad():
        expected = image(x, level)
        out = inter(reference, x, level)
    assert torch.equal(out.x_hat, expected.x_hat)
    assert torch.equal(out.frame.y_likelihoods, expected.y_likelihoods)


class _QuadraticTask:
    """A task whose loss falls as one parameter approaches 3 (and validates to its distance)."""

    def __init__(self) -> None:
        self.model: nn.Module = nn.Linear(1, 1, bias=False)

    def trainable_parameters(self) -> Iterable[nn.Parameter]:
        return self.model.parameters()

    def loss(self, rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        weight = next(iter(self.model.parameters()))
        loss = ((weight - 3.0) ** 2).sum()
        return loss, {"loss": loss.item()}

    def validate(self) -> dict[str, object]:
        return {"score": abs(float(next(iter(self.model.parameters())).detach()) - 3.0)}

    def save(self, path: Path, metadata: dict[str, str]) -> None:
        save_file(self.model.state_dict(), str(path), metadata)

    def load(self, path: Path) -> None:
        self.model.load_state_dict(load_file(str(path)))


def test_training_loop_resumes_where_it_stopped_and_keeps_the_best(tmp_path: Path) -> None:
    schedule = Schedule(steps=200, learning_rate=0.05, warmup_steps=10, eval_every=100, checkpoint_every=100)
    first = TrainingLoop(_QuadraticTask(), Schedule(**{**schedule.__dict__, "steps": 100}), tmp_path, "{}")
    first.run()
    resumed_task = _QuadraticTask()
    resumed = TrainingLoop(resumed_task, schedule, tmp_path, "{}")
    assert resumed.resumable
    resumed.resume()
    assert resumed.step == 100
    resumed.run()
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    evals = [r for r in log if r["event"] == "eval"]
    assert [r["step"] for r in evals] == [100, 200]
    assert evals[-1]["score"] < evals[0]["score"] < 3.0
    assert (tmp_path / "best.safetensors").exists()


def test_the_residual_warm_start_codes_the_residual_and_adds_the_prediction_back() -> None:
    image, inter = _inter_model_from_tiny_image(4)
    inter.start_as_residual_coder()
    x, prediction = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        first = inter.frame_analysis.transform[0]
        seen = first(x) + inter.frame_analysis.prediction_input(prediction)
        inner = (..., slice(1, -1), slice(1, -1))  # the first layer's zero padding differs at the border
        assert torch.allclose(seen[inner], image.g_a[0](x - prediction + 0.5)[inner], atol=1e-5)
        latents = torch.randn(1, TINY_CONFIG.latent_channels, 4, 4)
        expected = image.g_s(latents) + prediction - 0.5
        assert torch.allclose(inter.frame_synthesis(latents, prediction), expected, atol=1e-5)


def test_a_later_stage_takes_flow_and_motion_from_an_earlier_one_and_nothing_else() -> None:
    earlier, later = InterModel(TINY_INTER_CONFIG), InterModel(TINY_INTER_CONFIG)
    with torch.no_grad():
        for parameter in earlier.parameters():
            parameter.normal_()
    frame_before = {k: v.clone() for k, v in later.frame_analysis.state_dict().items()}
    later.load_motion(earlier.state_dict())
    for name in ("flow", "motion"):
        for (key, mine), theirs in zip(getattr(later, name).state_dict().items(),
                                       getattr(earlier, name).state_dict().values(), strict=True):
            assert torch.equal(mine, theirs), key
    assert all(torch.equal(v, frame_before[k]) for k, v in later.frame_analysis.state_dict().items())


def test_bfloat16_training_keeps_the_motion_path_and_the_likelihoods_in_float32() -> None:
    """Autocast (``--bf16``) speeds up the frame transforms; flow, warp and entropy model must stay exact float32."""
    torch.manual_seed(0)
    model = InterModel(TINY_INTER_CONFIG)
    reference, x = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    level = torch.tensor([2.0, 5.0])
    with torch.no_grad():
        plain = model.motion_prediction(reference, x, level)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model.motion_prediction(reference, x, level)
            frame = model(reference, x, level)
            features = model.frame_features(x, mixed.prediction)
            model.motion_prediction(reference.bfloat16(), x, level)  # a bfloat16 reference (the I-frame's) is taken too
    assert mixed.prediction.dtype == mixed.flow.dtype == torch.float32
    assert torch.equal(mixed.prediction, plain.prediction) and torch.equal(mixed.flow, plain.flow)
    assert frame.frame.y_likelihoods.dtype == frame.motion.y_likelihoods.dtype == torch.float32
    assert features.dtype == torch.bfloat16  # the frame transforms did run in bfloat16,
    assert frame.x_hat.dtype == torch.float32  # but for their output layers (layers.Float32ConvTranspose2d)


def _trained(config: InterModelConfig) -> InterModel:
    """A P-frame model of ``config`` whose weights are off their initial values (as trained ones are): what growing
    an optional part onto trained weights starts from."""
    model = InterModel(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    return model


def test_a_motion_context_and_a_prediction_pyramid_added_to_trained_weights_code_as_they_did() -> None:
    torch.manual_seed(5)
    trained = _trained(dataclasses.replace(TINY_INTER_CONFIG, prediction_pyramid_channels=0))
    grown = InterModel(dataclasses.replace(TINY_INTER_CONFIG, motion_context="checkerboard",
                                           prediction_pyramid_channels=4))
    grown.load_grown(trained.state_dict())
    trained.eval()
    grown.eval()
    reference, x, level = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64), torch.tensor([3.0])
    with torch.no_grad():
        before, after = trained(reference, x, level), grown(reference, x, level)
    assert torch.equal(after.x_hat, before.x_hat)
    assert torch.equal(after.motion.y_likelihoods, before.motion.y_likelihoods)
    assert len(grown.new_modules()) == len(trained.new_modules()) + 4  # the pyramids and their inputs train as new
    with pytest.raises(ValueError, match="unexpected"):
        trained.load_grown(grown.state_dict())  # weights with a context this model lacks


def test_propagated_features_added_to_trained_weights_code_as_they_did_and_train_through_the_next_frame() -> None:
    torch.manual_seed(7)
    trained = _trained(TINY_INTER_CONFIG)
    grown = InterModel(dataclasses.replace(TINY_INTER_CONFIG, propagated_channels=4))
    grown.load_grown(trained.state_dict())
    reference, x, level = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64), torch.tensor([3.0])
    trained.eval()
    grown.eval()
    with torch.no_grad():
        first, grown_first = trained(reference, x, level), grown(reference, x, level)
        second = trained(first.x_hat, x, level)
        grown_second = grown(grown_first.x_hat, x, level, propagated=grown_first.propagated)
    assert grown_first.propagated is not None and grown_first.propagated.shape == (1, 4, 32, 32)
    assert torch.equal(grown_first.x_hat, first.x_hat) and torch.equal(grown_second.x_hat, second.x_hat)
    assert len(grown.new_modules()) == len(trained.new_modules()) + 1  # the feature output (the inputs: in the pyramids)
    # Once the context's inputs have moved off zero, the next frame's loss trains the features that fed it.
    grown.train()
    with torch.no_grad():
        for conditional in (grown.frame_analysis, grown.frame_synthesis):
            assert conditional.pyramid is not None and conditional.pyramid.context_input is not None
            conditional.pyramid.context_input.weight.normal_(0.0, 0.1)
    first_out = grown(reference, x, level)
    second_out = grown(first_out.x_hat.detach(), x, level, propagated=first_out.propagated)
    second_out.bits_per_pixel().sum().add(((second_out.x_hat - x) ** 2).mean()).backward()
    output = grown.frame_synthesis.propagated_output
    assert output is not None and output.weight.grad is not None and float(output.weight.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="pyramid"):
        InterModel(dataclasses.replace(TINY_INTER_CONFIG, prediction_pyramid_channels=0, propagated_channels=4))


def test_rolling_training_passes_propagated_features_on_and_pairs_are_refused() -> None:
    rng = np.random.default_rng(0)
    segment = Segment("noise", rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8))
    model = InterModel(dataclasses.replace(TINY_INTER_CONFIG, frame=TINY_CONFIG, propagated_channels=4))
    with torch.no_grad():  # as after some training: the pyramids' and the context's inputs off zero
        for conditional in (model.frame_analysis, model.frame_synthesis):
            assert conditional.pyramid is not None and conditional.pyramid.context_input is not None
            assert conditional.pyramid_inputs is not None
            conditional.pyramid.context_input.weight.normal_(0.0, 0.1)
            for parameter in conditional.pyramid_inputs.parameters():
                parameter.normal_(0.0, 0.1)
    config = InterTrainingConfig(model=model.config, stage="joint", sequence_length=3, batch_size=1, crop_size=64,
                                 validation_crop=64, validation_length=3, validation_sequences=1)
    task = InterTraining(config, model, tiny_model(), [segment], [segment], seed=0)
    loss, _ = task.loss(np.random.default_rng(1))
    loss.backward()
    output = model.frame_synthesis.propagated_output
    assert output is not None and output.weight.grad is not None and float(output.weight.grad.abs().sum()) > 0
    assert all(np.isfinite(task.validate()["bpp"]))  # validation runs its sequences with the features passed on
    with pytest.raises(ValueError, match="3 frames"):
        dataclasses.replace(config, sequence_length=2)


def test_the_hyper_latent_densities_and_the_motion_gains_train_at_their_own_rates() -> None:
    rng = np.random.default_rng(0)
    segment = Segment("noise", rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8))
    image = tiny_model()
    model = InterModel(dataclasses.replace(TINY_INTER_CONFIG, frame=TINY_CONFIG))
    config = InterTrainingConfig(model=model.config, stage="joint", crop_size=64, validation_crop=64,
                                 validation_length=2, validation_sequences=1, density_lr_scale=10.0,
                                 motion_gain_lr_scale=30.0)
    task = InterTraining(config, model, image, [segment], [segment], seed=0)
    scales = {id(p): group["lr_scale"] for group in task.trainable_parameters() for p in group["params"]}
    assert all(scales[id(p)] == 10.0 for p in model.motion.latent.z_prior.parameters())
    assert all(scales[id(p)] == 30.0 for p in model.motion.latent.gains.parameters())
    assert all(scales[id(p)] == config.borrowed_lr_scale for p in model.frame_latent.gains.parameters())
    assert all(scales[id(p)] == 10.0 for p in model.frame_latent.z_prior.parameters())
    assert all(scales[id(p)] == 1.0 for p in model.motion.latent.h_a.parameters())
    assert all(scales[id(p)] == config.borrowed_lr_scale for p in model.frame_latent.h_a.parameters())
    assert len(scales) == sum(1 for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("transform", ["frame_analysis", "frame_synthesis"])
def test_every_input_of_the_prediction_pyramid_reaches_the_transforms_output(transform: str) -> None:
    torch.manual_seed(6)
    model = InterModel(TINY_INTER_CONFIG).eval()
    conditional = getattr(model, transform)
    prediction = torch.rand(1, 3, 64, 64)
    inputs = torch.rand(1, 3, 64, 64) if transform == "frame_analysis" else torch.randn(1, 12, 4, 4)
    with torch.no_grad():
        plain = conditional(inputs, prediction)
        for adapter in conditional.pyramid_inputs:
            adapter.weight.normal_(0.0, 0.1)
            changed = conditional(inputs, prediction)
            assert not torch.equal(changed, plain)
            adapter.weight.zero_()


def test_the_prior_stage_trains_the_entropy_models_alone_on_the_rate() -> None:
    rng = np.random.default_rng(1)
    segment = Segment("noise", rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8))
    model = tiny_inter_model()  # latents that cost bits (a fresh model's are near zero)
    config = InterTrainingConfig(model=model.config, stage="prior", crop_size=64, validation_crop=64,
                                 validation_length=2, validation_sequences=1, batch_size=2)
    task = InterTraining(config, model, tiny_model(), [segment], [segment], seed=0)
    trained = {id(p) for group in task.trainable_parameters() for p in group["params"]}
    assert trained == {id(p) for p in model.entropy_parameters()}
    loss, stats = task.loss(rng)
    loss.backward()
    assert loss.item() == pytest.approx(stats["bpp"]) and stats["bpp"] > stats["motion_bpp"] > 0
    assert all(p.grad is None for p in model.parameters() if id(p) not in trained)
    for codec in (model.motion.latent, model.frame_latent):
        for module in (codec.h_a, codec.h_s, codec.z_prior):
            assert sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None) > 0
    with pytest.raises(ValueError, match="pairs"):
        dataclasses.replace(config, sequence_length=3)


def test_the_forward_with_the_motion_search_codes_the_searched_vectors() -> None:
    """What validation scores: the forward codes the searched block vectors (a lower motion cost than the flow
    network's on a shift it has not learned)."""
    model = tiny_inter_model()
    reference = _texture(64)
    x = torch.roll(reference, shifts=3, dims=3).contiguous()  # current(p) = reference(p - (3, 0))
    level = torch.tensor([5.0])
    lam = float(lambdas_of_levels(level, model.config.frame.level_lambdas)[0])

    def motion_cost(out: InterForward) -> torch.Tensor:
        return out.motion_bits_per_pixel().sum() + lam * 255**2 * ((out.prediction - x)[..., 8:-8] ** 2).mean()

    plain = model(reference, x, level)
    searched = model(reference, x, level, refine=lambda f: search_motion(model, reference, x, f, level, 20, 64, 64))
    assert not torch.equal(searched.prediction, plain.prediction)
    assert motion_cost(searched).item() < motion_cost(plain).item()


def test_validation_with_search_steps_scores_the_searched_vectors() -> None:
    """``validation_search_steps`` puts the encoder's motion search into every P-frame of validation."""
    rng = np.random.default_rng(0)
    segment = Segment("noise", rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8))
    model = tiny_inter_model()
    config = InterTrainingConfig(model=model.config, stage="joint", crop_size=64, validation_crop=64,
                                 validation_length=3, validation_sequences=1)
    plain, searched = (InterTraining(dataclasses.replace(config, validation_search_steps=steps), model, tiny_model(),
                                     [segment], [segment], seed=0).validate() for steps in (0, 3))
    assert np.isfinite(searched["motion_bpp"]) and searched["motion_bpp"] != plain["motion_bpp"]


def test_the_training_forwards_skip_decisions_are_the_encoders_and_train_both_latent_sets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``choose_skipped_blocks`` keeps the skip latents where the encoder's decision (``with_skipped_blocks``) does,
    decides as in eval mode also while training, and passes gradients to the analysis through both latent sets."""
    # a random model decodes badly: let the rates decide too
    monkeypatch.setattr(block_skip, "distortion_weight", lambda frames_after: 0.001)
    model = tiny_inter_model()
    torch.manual_seed(3)
    x, prediction, level = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64), torch.tensor([4.0])
    weight = block_skip.decision_weight(level, [5], model.config.frame.level_lambdas)
    y, inverse_gain = model.frame_latent.gained(model.frame_features(x, prediction), level)
    skip, _ = model.frame_latent.gained(model.frame_features(prediction, prediction), level)
    with torch.no_grad():
        model.eval()
        encoders = with_skipped_blocks(model, y.detach(), inverse_gain.detach(), Condition(prediction, None), x, level,
                                       64, 64, TILES, frames_after=5)
        model.train()
    chosen = block_skip.choose_skipped_blocks(model, x, level, weight, y, inverse_gain, prediction, None)
    assert model.frame_latent.training
    skipped = (chosen == skip).all(dim=1)
    assert 0 < int(skipped.sum()) < skipped.numel()  # both kinds of block in this test
    # the same blocks (the encoder's tiled analysis of the skip latents differs from this one in the last bits)
    torch.testing.assert_close(skipped, ~(encoders == y.detach()).all(dim=1), rtol=0, atol=0)
    chosen.square().sum().backward()
    first_layer = model.frame_analysis.transform[0].weight.grad
    assert first_layer is not None and first_layer.abs().sum() > 0


def test_validation_with_skip_blocks_scores_the_latents_the_encoder_would_code() -> None:
    """``skip_blocks`` puts the skip decisions into training and validation forwards; without it, nothing changes."""
    rng = np.random.default_rng(0)
    segment = Segment("noise", rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8))
    model = tiny_inter_model()
    config = InterTrainingConfig(model=model.config, stage="joint", crop_size=64, validation_crop=64,
                                 validation_length=3, validation_sequences=1, batch_size=2)
    plain, skipping = (InterTraining(dataclasses.replace(config, skip_blocks=skip), model, tiny_model(), [segment],
                                     [segment], seed=0) for skip in (False, True))
    assert skipping.validate()["bpp"] != plain.validate()["bpp"]
    loss, stats = skipping.loss(np.random.default_rng(1))
    loss.backward()
    assert np.isfinite(stats["bpp"]) and model.frame_analysis.prediction_input.weight.grad is not None


def test_p_frames_train_and_validate_below_their_i_frames_level() -> None:
    rng = np.random.default_rng(0)
    segment = Segment("noise", rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8))
    model = InterModel(dataclasses.replace(TINY_INTER_CONFIG, frame=TINY_CONFIG))
    config = InterTrainingConfig(model=model.config, stage="joint", sequence_length=3, batch_size=4, crop_size=64,
                                 validation_crop=64, validation_length=2, validation_sequences=1,
                                 inter_offset_max=2.0, validation_inter_offset=2.0)
    task = InterTraining(config, model, tiny_model(), [segment], [segment], seed=0)
    seen: dict[str, list[torch.Tensor]] = {"intra": [], "inter": []}
    intra_forward, inter_forward = task.intra.forward, model.forward

    def intra_spy(x: torch.Tensor, levels: torch.Tensor) -> object:
        seen["intra"].append(levels.clone())
        return intra_forward(x, levels)

    def inter_spy(reference: torch.Tensor, x: torch.Tensor, levels: torch.Tensor, **kwargs: object) -> object:
        seen["inter"].append(levels.clone())
        return inter_forward(reference, x, levels, **kwargs)

    task.intra.forward, model.forward = intra_spy, inter_spy  # type: ignore[method-assign]
    task.loss(np.random.default_rng(1))
    (intra,), (first, second) = seen["intra"], seen["inter"]
    offsets = intra - first
    assert torch.equal(first, second)  # every P-frame of a sample at one level, as the encoder codes them
    assert bool(((offsets >= 0) & (offsets <= 2.0)).all()) and float(offsets.max()) > 0
    assert bool((first >= 0).all())
    report = task.validate()
    assert report["inter_levels"] == [0.0, 1.0, 3.0, 5.0]
    levels_coded = [float(levels[0]) for levels in seen["inter"][2:]]
    assert levels_coded == [0.0, 1.0, 3.0, 5.0]
    with pytest.raises(ValueError, match="0 or more"):
        dataclasses.replace(config, inter_offset_max=-1.0)

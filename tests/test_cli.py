"""The ``tngvideo`` command, run in-process: results, and one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from tiny_model import tiny_codec, write_tiny_models_dir

from tngvideo import zoo
from tngvideo.cli import EXIT_BITSTREAM, EXIT_INPUT, EXIT_MODEL, EXIT_OUTPUT, main
from tngvideo.errors import ModelError
from tngvideo.evaluation.rd import RDCurve, RDPoint, RDReport, load_report, save_report
from tngvideo.tng_image import decode_image
from tngvideo.zoo import retire_model


def _png(path: Path, mode: str = "RGB", size: tuple[int, int] = (47, 33)) -> Path:
    rng = np.random.default_rng(0)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    array = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(array.squeeze(-1) if channels == 1 else array, mode).save(path)
    return path


def _assert_one_line_error(capsys: pytest.CaptureFixture[str], code: int, fragment: str, expected: int) -> None:
    """One ``tngvideo: error:`` line holding ``fragment``, no traceback, and the error's exit code ``expected``."""
    err = capsys.readouterr().err
    assert code == expected
    lines = [line for line in err.splitlines() if line.startswith("tngvideo: error:")]
    assert len(lines) == 1, err
    assert fragment in lines[0]
    assert "Traceback" not in err


def test_image_round_trip_through_the_cli(models: Path, tmp_path: Path) -> None:
    source = _png(tmp_path / "in.png")
    assert main(["image", "encode", str(source), str(tmp_path / "a.tng"), "--quality", "3"]) == 0
    assert main(["image", "decode", str(tmp_path / "a.tng"), str(tmp_path / "out.png")]) == 0
    decoded = np.asarray(Image.open(tmp_path / "out.png"))
    assert decoded.shape == (33, 47, 3)
    assert np.array_equal(decoded, decode_image((tmp_path / "a.tng").read_bytes()))


@pytest.mark.parametrize(("mode", "word"), [("L", "gray"), ("RGBA", "alpha")])
def test_grayscale_and_alpha_pictures_are_converted_with_a_warning(
    models: Path, tmp_path: Path, mode: str, word: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _png(tmp_path / "in.png", mode)
    assert main(["image", "encode", str(source), str(tmp_path / "a.tng")]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and word in warnings[0]


def test_missing_input_is_a_one_line_error(models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["image", "encode", str(tmp_path / "nope.png"), str(tmp_path / "a.tng")])
    _assert_one_line_error(capsys, code, "no such file", EXIT_INPUT)


def test_non_media_input_is_a_one_line_error(models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a video\n")
    _assert_one_line_error(capsys, main(["info", str(text)]), "notes.txt", EXIT_INPUT)
    _assert_one_line_error(capsys, main(["image", "encode", str(text), str(tmp_path / "a.tng")]), "notes.txt", EXIT_INPUT)


def test_unwritable_output_is_a_one_line_error(models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _png(tmp_path / "in.png")
    code = main(["image", "encode", str(source), str(tmp_path / "missing" / "a.tng")])
    _assert_one_line_error(capsys, code, "does not exist", EXIT_OUTPUT)


def test_refuses_to_overwrite_unless_asked(models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _png(tmp_path / "in.png")
    target = tmp_path / "a.tng"
    target.write_bytes(b"keep me")
    _assert_one_line_error(capsys, main(["image", "encode", str(source), str(target)]), "already exists", EXIT_OUTPUT)
    assert target.read_bytes() == b"keep me"
    assert main(["image", "encode", str(source), str(target), "--overwrite"]) == 0
    assert target.read_bytes() != b"keep me"


def test_corrupt_file_is_a_one_line_error(models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _png(tmp_path / "in.png")
    main(["image", "encode", str(source), str(tmp_path / "a.tng")])
    data = (tmp_path / "a.tng").read_bytes()
    (tmp_path / "short.tng").write_bytes(data[: len(data) // 2])
    _assert_one_line_error(capsys, main(["image", "decode", str(tmp_path / "short.tng"), str(tmp_path / "o.png")]), "truncated", EXIT_BITSTREAM)
    flipped = bytearray(data)
    flipped[-6] ^= 0x10
    (tmp_path / "flip.tng").write_bytes(bytes(flipped))
    _assert_one_line_error(capsys, main(["image", "decode", str(tmp_path / "flip.tng"), str(tmp_path / "o.png")]), "corrupt", EXIT_BITSTREAM)
    assert not (tmp_path / "o.png").exists()


def test_missing_or_altered_weights_are_one_line_errors(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _png(tmp_path / "in.png")
    weights = models / "tiny.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    _assert_one_line_error(capsys, main(["image", "encode", str(source), str(tmp_path / "a.tng")]), "sha256", EXIT_MODEL)
    weights.unlink()
    _assert_one_line_error(capsys, main(["image", "encode", str(source), str(tmp_path / "a.tng")]), "missing", EXIT_MODEL)


def test_a_weight_file_over_the_size_limit_is_refused_not_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "models"
    write_tiny_models_dir(folder)  # under the limit
    kept = (folder / "tiny.safetensors").read_bytes()
    monkeypatch.setattr(zoo, "MAX_SHIPPED_FILE_BYTES", len(kept) // 2)
    with pytest.raises(ModelError, match="MB a shipped weight file may take"):
        write_tiny_models_dir(tmp_path / "other")
    assert list((tmp_path / "other").iterdir()) == []
    with pytest.raises(ModelError, match="MB a shipped weight file may take"):
        write_tiny_models_dir(folder, seed=1)  # over an existing file: that file stays as it was
    assert (folder / "tiny.safetensors").read_bytes() == kept


def test_shipped_files_store_the_entropy_models_convolutions_as_int8_and_load_them_as_float(tmp_path: Path) -> None:
    write_tiny_models_dir(tmp_path)
    path = tmp_path / "tiny.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        dtypes = {name: handle.get_slice(name).get_dtype() for name in handle.keys()}  # noqa: SIM118 (safe_open is no dict)
    int8_names = tiny_codec().model.entropy_model_conv_weights()
    assert int8_names and all(dtypes[name] == "I8" and dtypes[name + zoo.INT8_SCALE_SUFFIX] == "F32" for name in int8_names)
    assert dtypes["g_s.0.weight"] == "F16"
    loaded = zoo.load_state(path)
    original = tiny_codec().state_tensors()
    assert loaded.keys() == original.keys()
    for name in int8_names:
        step = original[name].abs().amax(dim=tuple(range(1, original[name].dim())), keepdim=True) / 127
        assert loaded[name].dtype == torch.float32
        assert bool(((loaded[name] - original[name]).abs() <= step / 2 + 1e-9).all())
        assert not torch.equal(loaded[name], original[name])  # rounded to 255 levels per slice


def test_file_made_with_other_weights_is_rejected(models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _png(tmp_path / "in.png")
    main(["image", "encode", str(source), str(tmp_path / "a.tng")])
    write_tiny_models_dir(models, seed=1)  # same name and id, retrained weights
    code = main(["image", "decode", str(tmp_path / "a.tng"), str(tmp_path / "o.png")])
    _assert_one_line_error(capsys, code, "other weights", EXIT_BITSTREAM)


def test_a_still_picture_encodes_as_a_one_frame_video(models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    picture = _png(tmp_path / "frame.png")
    assert main(["encode", str(picture), str(tmp_path / "o.tngv")]) == 0
    assert "1 frames (1 I, 0 P) 47x33" in capsys.readouterr().out


def test_info_describes_a_tng_file(models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _png(tmp_path / "in.png")
    main(["image", "encode", str(source), str(tmp_path / "a.tng"), "--quality", "2.5"])
    capsys.readouterr()
    assert main(["info", str(tmp_path / "a.tng")]) == 0
    out = capsys.readouterr().out
    assert "47x33" in out and "quality 2.5" in out and "model id 7" in out


def test_eval_measures_the_named_model_and_refuses_an_unknown_one(
    models: Path, tmp_path: Path, sample_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tiny_models_dir(models, seed=1, model_id=8, name="newer")  # the default from now on
    command = ["eval", str(sample_clip), "--frames", "1", "--quality", "2", "--model", "tiny", "--out", str(tmp_path / "e")]
    assert main(command) == 0
    assert "image model 'tiny'" in json.loads((tmp_path / "e" / "rd.json").read_text())["settings"]["tngvideo-intra"]
    code = main(["eval", str(sample_clip), "--frames", "1", "--model", "nonesuch", "--out", str(tmp_path / "f")])
    _assert_one_line_error(capsys, code, "nonesuch", EXIT_MODEL)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    code = main(["eval", str(broken), "--model", "tiny", "--out", str(tmp_path / "g")])
    _assert_one_line_error(capsys, code, "broken.mp4", EXIT_INPUT)
    assert not (tmp_path / "g").exists()


def test_the_default_model_is_the_newest_and_older_files_still_decode(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _png(tmp_path / "in.png")
    assert main(["image", "encode", str(source), str(tmp_path / "old.tng")]) == 0
    write_tiny_models_dir(models, seed=1, model_id=6, name="older")  # a lower id: listed first in the manifest
    write_tiny_models_dir(models, seed=2, model_id=9, name="newest")
    assert main(["image", "encode", str(source), str(tmp_path / "new.tng")]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "new.tng")]) == 0 and "model id 9" in capsys.readouterr().out
    assert main(["image", "decode", str(tmp_path / "old.tng"), str(tmp_path / "old.png")]) == 0


def test_a_file_of_a_retired_model_names_the_commit_that_still_decodes_it(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _png(tmp_path / "in.png")
    assert main(["image", "encode", str(source), str(tmp_path / "old.tng")]) == 0
    write_tiny_models_dir(models, seed=1, model_id=8, name="newer")
    retire_model("tiny", "abc1234", models)
    assert not (models / "tiny.safetensors").exists()
    code = main(["image", "decode", str(tmp_path / "old.tng"), str(tmp_path / "old.png")])
    _assert_one_line_error(capsys, code, "no longer shipped; tngvideo at commit abc1234", EXIT_MODEL)
    with pytest.raises(ModelError, match="already taken"):  # a retired id is never reused
        write_tiny_models_dir(models, seed=2, model_id=7, name="reuse")
    assert main(["image", "encode", str(source), str(tmp_path / "new.tng")]) == 0  # the shipped one still works


def test_image_eval_compares_with_the_shared_kodak_anchors_only_on_all_of_kodak(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data"
    (root / "reference").mkdir(parents=True)
    points = [{"bpp": b, "psnr": 20 + 10 * b, "msssim": 0.9} for b in (0.5, 1.0, 2.0, 4.0)]
    (root / "reference" / "kodak_anchors.json").write_text(json.dumps({"curves": {"jpeg": points}}))
    for folder in ("kodak", "other"):
        (root / folder).mkdir()
        for index in range(2):
            _png(root / folder / f"p{index}.png")
    monkeypatch.setenv("TNGVIDEO_DATA", str(root))

    def curves(*args: str) -> set[str]:
        out = tmp_path / "out" / "-".join(args).replace("/", "_")
        assert main(["image", "eval", *args, "--qualities", "1", "4", "--out", str(out)]) == 0
        return set(json.loads((out / "rd.json").read_text())["curves"])

    assert curves(str(root / "kodak")) == {"jpeg", "tngvideo"}
    assert curves(str(root / "kodak"), "--limit", "1") == {"tngvideo"}
    assert curves(str(root / "other")) == {"tngvideo"}


def test_image_eval_refuses_an_anchor_report_measured_on_other_pictures(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir()
    for index in range(2):
        _png(folder / f"p{index}.png")
    points = tuple(RDPoint(b, 20 + 10 * b, 0.9, setting=q) for q, b in enumerate((0.5, 1.0, 2.0, 4.0)))
    anchors = RDReport("anchors", "jpeg", {"jpeg": RDCurve("jpeg", points)}, pictures=("p1.png", "p0.png"))
    save_report(anchors, tmp_path / "anchors.json")
    common = ["image", "eval", str(folder), "--qualities", "1", "4", "--anchors", str(tmp_path / "anchors.json")]

    assert main([*common, "--out", str(tmp_path / "all")]) == 0
    saved = load_report(tmp_path / "all" / "rd.json")
    assert set(saved.curves) == {"jpeg", "tngvideo"} and saved.pictures == ("p0.png", "p1.png")
    code = main([*common, "--limit", "1", "--out", str(tmp_path / "one")])
    _assert_one_line_error(capsys, code, "other pictures", EXIT_INPUT)

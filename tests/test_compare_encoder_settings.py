"""scripts/compare_encoder_settings.py --combine: reports coded apart (one process per setting) give the BD-rates
one process would have reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from script_module import load_script

from tngvideo.bitstream import VIDEO_FORMAT_VERSION
from tngvideo.codecs.encoder_settings import EncoderSettings
from tngvideo.evaluation.rd import RDCurve, RDPoint, bd_table
from tngvideo.video_coder import DEFAULT_INTER_QUALITY_OFFSET

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_encoder_settings.py"


def _points(bpp: list[float], psnr: list[float]) -> list[dict[str, float]]:
    return [{"bpp": b, "psnr": p, "msssim": 0.95, "setting": float(q)} for q, b, p in zip((2, 4, 6, 8), bpp, psnr,
                                                                                         strict=True)]


def _report(path: Path, name: str, points: list[dict[str, float]], frames: int = 16) -> Path:
    report = {"model": None, "frames": frames, "qualities": [2.0, 4.0, 6.0, 8.0],
              "clips": {"clip_a": {"bd_rate_psnr_percent": {name: 0.0}, "curves": {name: points}}}}
    path.write_text(json.dumps(report))
    return path


def _combine(tmp_path: Path, *reports: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SCRIPT), "--combine", *map(str, reports), "--out", str(tmp_path / "both.json")]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)


def test_combined_reports_rate_every_setting_against_the_first_reports(tmp_path: Path) -> None:
    base = _points([0.05, 0.1, 0.2, 0.4], [30.0, 33.0, 36.0, 39.0])
    other = _points([0.045, 0.092, 0.19, 0.39], [30.0, 33.1, 36.0, 39.0])
    done = _combine(tmp_path, _report(tmp_path / "a.json", "base", base), _report(tmp_path / "b.json", "other", other))
    assert done.returncode == 0, done.stderr
    combined = json.loads((tmp_path / "both.json").read_text())
    curves = {name: RDCurve(name, tuple(RDPoint(**p) for p in points)) for name, points in (("base", base),
                                                                                             ("other", other))}
    expected = bd_table(curves, "base")["other"].psnr
    assert expected < -3.0
    assert combined["clips"]["clip_a"]["bd_rate_psnr_percent"] == {"base": 0.0, "other": round(expected, 2)}
    assert combined["mean_bd_rate_psnr_percent"]["other"] == pytest.approx(expected, abs=0.01)


def test_a_setting_in_two_reports_keeps_both_curves(tmp_path: Path) -> None:
    base = _points([0.05, 0.1, 0.2, 0.4], [30.0, 33.0, 36.0, 39.0])
    again = _points([0.045, 0.092, 0.19, 0.39], [30.0, 33.1, 36.0, 39.0])
    done = _combine(tmp_path, _report(tmp_path / "a.json", "base", base), _report(tmp_path / "b.json", "base", again))
    assert done.returncode == 0, done.stderr
    rates = json.loads((tmp_path / "both.json").read_text())["clips"]["clip_a"]["bd_rate_psnr_percent"]
    assert rates["base"] == 0.0 and rates["base (b)"] < -3.0


def test_reports_of_other_frame_counts_are_not_combined(tmp_path: Path) -> None:
    points = _points([0.05, 0.1, 0.2, 0.4], [30.0, 33.0, 36.0, 39.0])
    done = _combine(tmp_path, _report(tmp_path / "a.json", "base", points),
                    _report(tmp_path / "b.json", "other", points, frames=32))
    assert done.returncode != 0 and "other frames" in done.stderr
    assert not (tmp_path / "both.json").exists()


@pytest.mark.parametrize(("argv", "labels", "expected"), [
    (["--motion-candidates", "0", "1"], ["motion-candidates 0", "motion-candidates 1"],
     [EncoderSettings(motion_candidates=0), EncoderSettings(motion_candidates=1)]),
    (["--skip-blocks", "1"], ["skip-blocks 1"], [EncoderSettings(skip_blocks=True)]),
    (["--motion-weight", "0.5"], ["motion-weight 0.5"], [EncoderSettings(motion_weight=0.5)]),
    (["--refine", "10"], ["refine 10"], [EncoderSettings(refine_steps=10)]),
    (["--motion-search", "8"], ["motion-search 8"], [EncoderSettings(motion_search_steps=8)]),
])
def test_a_varied_option_sets_its_own_field_only(tmp_path: Path, argv: list[str], labels: list[str],
                                                 expected: list[EncoderSettings]) -> None:
    module = load_script("compare_encoder_settings")
    args = module.build_parser().parse_args([*argv, "--out", "report.json"])
    settings = module.settings_to_compare(args, shipped=None, scratch=tmp_path)
    assert list(settings) == labels
    assert [setting.effort for setting in settings.values()] == expected
    assert all(setting.policy == module.DEFAULT_POLICY and setting.version == VIDEO_FORMAT_VERSION
               for setting in settings.values())


def test_quality_offsets_and_format_versions_leave_the_effort_at_its_defaults(tmp_path: Path) -> None:
    module = load_script("compare_encoder_settings")
    offsets = module.settings_to_compare(module.build_parser().parse_args(["--p-offset", "0", "1.5", "--out", "r"]),
                                         shipped=None, scratch=tmp_path)
    assert [(name, s.policy.inter_quality_offset) for name, s in offsets.items()] == [("p-offset 0", 0.0),
                                                                                     ("p-offset 1.5", 1.5)]
    versions = module.settings_to_compare(module.build_parser().parse_args(["--format-version", "6", "--out", "r"]),
                                          shipped=None, scratch=tmp_path)
    assert [(name, s.version, s.effort) for name, s in versions.items()] == [("format 6", 6, EncoderSettings())]


def test_checkpoints_are_coded_at_every_value_of_a_varied_option_and_the_shipped_model_at_the_defaults(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_script("compare_encoder_settings")
    monkeypatch.setattr(module, "checkpoint_models", lambda path, shipped, scratch, model_id: f"models of {path}")
    shipped = SimpleNamespace(inter=SimpleNamespace(name="tng-inter-vN"))
    args = module.build_parser().parse_args(["--weights", "runs/a/best.safetensors", "--p-offset", "0", "1",
                                             "--out", "r"])
    settings = module.settings_to_compare(args, shipped=shipped, scratch=tmp_path)
    assert [(name, s.models, s.policy.inter_quality_offset) for name, s in settings.items()] == [
        ("tng-inter-vN", shipped, DEFAULT_INTER_QUALITY_OFFSET), ("a-best p-offset 0", "models of runs/a/best.safetensors", 0.0),
        ("a-best p-offset 1", "models of runs/a/best.safetensors", 1.0)]
    monkeypatch.setattr("sys.argv", ["compare_encoder_settings.py", "--out", "r"])
    with pytest.raises(SystemExit) as nothing_to_compare:
        module.main()
    assert nothing_to_compare.value.code == 2


def test_reports_of_one_clip_each_join_per_clip_and_clips_lacking_a_setting_are_left_out(tmp_path: Path) -> None:
    base = _points([0.05, 0.1, 0.2, 0.4], [30.0, 33.0, 36.0, 39.0])
    better = _points([0.045, 0.092, 0.19, 0.39], [30.0, 33.1, 36.0, 39.0])

    def report(name: str, clips: dict[str, tuple[str, list[dict[str, float]]]]) -> Path:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"model": None, "frames": 16, "qualities": [2.0, 4.0, 6.0, 8.0], "clips": {
            clip: {"bd_rate_psnr_percent": {setting: 0.0}, "curves": {setting: points}}
            for clip, (setting, points) in clips.items()}}))
        return path

    # Every clip is rated against the reports' first setting (here "new": its report comes first), whichever
    # report coded it for that clip.
    done = _combine(tmp_path, report("new_b", {"clip_b": ("new", better)}),
                    report("base_a", {"clip_a": ("base", base)}), report("base_b", {"clip_b": ("base", base)}),
                    report("new_a", {"clip_a": ("new", base)}), report("base_c", {"clip_c": ("base", base)}))
    assert done.returncode == 0, done.stderr
    combined = json.loads((tmp_path / "both.json").read_text())
    assert set(combined["clips"]) == {"clip_a", "clip_b"} and "left out clip_c" in done.stdout
    rates = {clip: entry["bd_rate_psnr_percent"] for clip, entry in combined["clips"].items()}
    assert rates["clip_a"] == {"new": 0.0, "base": 0.0}
    assert rates["clip_b"]["new"] == 0.0 and rates["clip_b"]["base"] > 3.0

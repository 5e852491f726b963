"""scripts/video_learning_curve.py: stages chain their CPU-hours, and a stage can end at the checkpoint a model
shipped from, so the curve's last point is the shipped weights' (the manifest test holds it to the model's hours)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "video_learning_curve.py"


def _log(path: Path, evals: dict[int, float]) -> Path:
    """A run log with a start record, train records and an eval record (score, CPU-hours) every 250 steps."""
    lines = [{"time": 0.0, "event": "start"}]
    for step, cpu_hours in evals.items():
        lines.append({"time": float(step), "event": "train", "step": step, "loss": 1.0})
        lines.append({"time": float(step), "event": "eval", "step": step, "cpu_hours": cpu_hours,
                      "bd_rate_vs_all_intra_percent": -60.0 - step / 1000})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_stages_chain_hours_and_a_last_step_cuts_a_stage(tmp_path: Path) -> None:
    first = _log(tmp_path / "a.jsonl", {250: 0.25, 500: 0.5})
    second = _log(tmp_path / "b.jsonl", {250: 0.3, 500: 0.6, 750: 0.9, 1000: 1.2})
    subprocess.run([sys.executable, str(SCRIPT), "--stage", "a", str(first), "--stage", "b", str(second), "750",
                    "--out", str(tmp_path / "curve")], check=True, capture_output=True)
    written = json.loads((tmp_path / "curve.json").read_text())
    assert [(p["stage"], p["step"], p["cpu_hours"]) for p in written["curve"]] == [
        ("a", 250, 0.25), ("a", 500, 0.5), ("b", 250, 0.8), ("b", 500, 1.1), ("b", 750, 1.4)]
    assert written["stages"][1] == {"stage": "b", "log": str(second), "last_step": 750}
    assert "last_step" not in written["stages"][0]

    subprocess.run([sys.executable, str(SCRIPT), "--after", str(tmp_path / "curve.json"), "--stage", "c",
                    str(first), "--out", str(tmp_path / "continued")], check=True, capture_output=True)
    continued = json.loads((tmp_path / "continued.json").read_text())
    assert [p["cpu_hours"] for p in continued["curve"][-2:]] == [1.65, 1.9]


def test_a_stage_is_a_name_a_log_and_an_optional_step(tmp_path: Path) -> None:
    for stage in (["only-a-name"], ["name", "log", "not-a-step"]):
        result = subprocess.run([sys.executable, str(SCRIPT), "--stage", *stage, "--out", str(tmp_path / "c")],
                                check=False, capture_output=True, text=True)
        assert result.returncode == 2 and "NAME LOG [LAST_STEP]" in result.stderr

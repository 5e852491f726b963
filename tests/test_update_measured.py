"""scripts/update_measured.py --add: a clip measured again replaces its old report in place; a new clip joins."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "update_measured.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("update_measured", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_added_replaces_reports_of_the_same_title_and_appends_new_ones() -> None:
    recorded = [{"title": "a, GOP 32", "report": "old/a"}, {"title": "b, GOP 32", "report": "old/b"}]
    new = [{"title": "c, GOP 32", "report": "new/c"}, {"title": "a, GOP 32", "report": "new/a"}]
    assert [r["report"] for r in _script().added(recorded, new)] == ["new/a", "old/b", "new/c"]

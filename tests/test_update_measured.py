"""scripts/update_measured.py --add: a clip measured again replaces its old report in place; a new clip joins."""

from __future__ import annotations

from script_module import load_script


def test_added_replaces_reports_of_the_same_title_and_appends_new_ones() -> None:
    recorded = [{"title": "a, GOP 32", "report": "old/a"}, {"title": "b, GOP 32", "report": "old/b"}]
    new = [{"title": "c, GOP 32", "report": "new/c"}, {"title": "a, GOP 32", "report": "new/a"}]
    assert [r["report"] for r in load_script("update_measured").added(recorded, new)] == ["new/a", "old/b", "new/c"]

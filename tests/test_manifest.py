"""The shipped manifest stays lean: one entry per shipped model, curves by path, lineage as stages."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tiny_model import tiny_codec

from tngvideo.tng_image import save_shipped_image_codec
from tngvideo.zoo import MANIFEST_NAME, load_state, read_manifest, read_metadata

REPO = Path(__file__).parents[1]
MODELS = REPO / "models"


def test_the_manifest_stays_small_and_every_shipped_entry_carries_its_record() -> None:
    assert (MODELS / MANIFEST_NAME).stat().st_size <= 30_000
    for entry in read_manifest(MODELS):
        if entry.kind == "inter":
            continue  # checked below
        details, training = entry.details, entry.details["training"]
        assert len(entry.sha256) == 64 and details["config"] and details["kodak"]["points"], entry.name
        assert training["data"] and training["steps"] > 0, entry.name
        curve = json.loads((REPO / training["learning_curve"]).read_text())  # referenced by path, not copied
        assert any(point["step"] == training["steps"] for point in curve["curve"]), entry.name
        for stage in training["lineage"]:
            assert {"run", "steps", "command"} <= stage.keys(), entry.name
        parent_steps = training["parent"]["steps"] if training.get("parent") else 0
        assert parent_steps + sum(stage["steps"] for stage in training["lineage"]) == training["steps"], entry.name


def test_every_shipped_inter_model_names_a_shipped_intra_model_and_its_training() -> None:
    entries = read_manifest(MODELS)
    image_models = {entry.name for entry in entries if entry.kind == "image"}
    for entry in (e for e in entries if e.kind == "inter"):
        details, training = entry.details, entry.details["training"]
        assert len(entry.sha256) == 64 and details["config"] and details["intra_model"] in image_models, entry.name
        assert training["data"] and training["stages"] and training["cpu_hours"] > 0, entry.name
        for stage in training["stages"]:  # a stage of no steps edits the weights it starts from (--steps 0)
            assert {"run", "steps", "command"} <= stage.keys() and stage["steps"] >= 0, entry.name
        assert sum(stage["steps"] for stage in training["stages"]) > 0, entry.name
        curve = json.loads((REPO / training["learning_curve"]).read_text())["curve"]
        assert curve[-1]["cpu_hours"] == training["cpu_hours"], entry.name
        assert details["measured"], entry.name


def test_retired_models_keep_their_ids_reserved_and_name_a_commit() -> None:
    document = json.loads((MODELS / MANIFEST_NAME).read_text())
    shipped = {item["model_id"] for item in document["models"]}
    retired = [item["model_id"] for item in document["retired"]]
    assert len(set(retired)) == len(retired) and not shipped & set(retired)
    assert all(item["last_shipped_commit"] for item in document["retired"])


def test_exporting_the_same_weights_twice_writes_the_same_bytes(tmp_path: Path) -> None:
    """The manifest's sha256 must be reproducible from a checkpoint: safetensors alone writes its metadata
    map in a random order, so two exports of one model used to differ in their bytes."""
    codec = tiny_codec()
    metadata = {f"key{i}": f"value{i}" for i in range(12)}
    first, second = tmp_path / "first.safetensors", tmp_path / "second.safetensors"
    save_shipped_image_codec(codec, first, metadata)
    save_shipped_image_codec(codec, second, dict(reversed(metadata.items())))
    assert first.read_bytes() == second.read_bytes()
    assert read_metadata(first)["key7"] == "value7"
    assert all(torch.equal(v, load_state(second)[k]) for k, v in load_state(first).items())

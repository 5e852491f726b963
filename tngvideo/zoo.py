"""Weight files and their manifest: the only place weights are read or written.

A weight file is a safetensors file whose metadata carries the model's config as JSON, so the
architecture is never inferred from tensor shapes. ``models/manifest.json`` names each shipped
model, its file and full sha256; the hash is verified before any tensor is loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from tngvideo.config_json import JsonConfig
from tngvideo.errors import ModelError
from tngvideo.io.atomic import write_bytes_atomic
from tngvideo.paths import models_dir as default_models_dir

MANIFEST_NAME = "manifest.json"
CONFIG_KEY = "config"
MAX_SHIPPED_FILE_BYTES = 20_000_000  # the repository's limit for one weight file (history keeps every version)
INT8_SCALE_SUFFIX = ".int8_scale"  # beside an int8 tensor NAME: NAME + this holds its float32 scales


@dataclass(frozen=True)
class ManifestEntry:
    """One shipped model: stable id (written into bitstreams), file, hash, config and provenance."""

    name: str
    model_id: int
    kind: str
    file: str
    sha256: str
    details: dict[str, Any]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_weights(model: nn.Module, config: JsonConfig, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write ``model``'s state as safetensors with its config's JSON in the metadata."""
    tensors = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    write_bytes_atomic(path, _safetensors_bytes(tensors, {CONFIG_KEY: config.to_json(), **(metadata or {})}), overwrite=True)


def _safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """A safetensors file whose bytes depend only on its contents: safetensors writes its metadata map in a
    random order (a Rust HashMap), so the header is rewritten with the metadata's keys sorted (readers parse
    it as JSON; tensor offsets are unchanged). Exporting the same weights twice then gives the same sha256."""
    data = safetensors_bytes(tensors, metadata=metadata)
    header_size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_size])
    header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format aligns the tensor data to 8 bytes
    return len(text).to_bytes(8, "little") + text + data[8 + header_size :]


def save_shipped_weights(
    tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str], int8_names: Collection[str] = ()
) -> None:
    """Write weights for shipping: float tensors as float16 (half the size; the rounding is far below
    what training resolves), the ``int8_names`` ones as int8 with one scale per slice along the first
    axis (a quarter of the size, for tensors whose precision matters little), integer tables unchanged.
    The codec uses exactly these rounded values: every reader goes through :func:`load_state`."""
    stored: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        if name in int8_names:
            stored[name], stored[name + INT8_SCALE_SUFFIX] = _int8_with_scales(tensor)
        else:
            stored[name] = tensor.half() if tensor.is_floating_point() else tensor
    data = _safetensors_bytes({k: v.contiguous() for k, v in stored.items()}, metadata)
    if len(data) > MAX_SHIPPED_FILE_BYTES:  # the size, header and metadata included, is known before writing
        limit = MAX_SHIPPED_FILE_BYTES / 1e6
        raise ModelError(f"{path.name}: {len(data) / 1e6:.2f} MB, over the {limit:g} MB a shipped weight file may take")
    write_bytes_atomic(path, data, overwrite=True)


def _int8_with_scales(tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 values and float32 scales (one per slice of the first axis, shaped to broadcast)."""
    largest = tensor.detach().float().abs().amax(dim=tuple(range(1, tensor.dim())), keepdim=True)
    scales = torch.where(largest > 0, largest / 127, torch.ones_like(largest))
    return torch.round(tensor.detach().float() / scales).clamp(-127, 127).to(torch.int8), scales


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weight file (no hash check: for training checkpoints too), int8 ones restored to
    float32 as ``values * scales``: one IEEE multiplication, so every machine gets the same weights."""
    try:
        stored = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise ModelError(f"{path}: cannot read weights ({exc})") from exc
    tensors = {}
    for name, tensor in stored.items():
        if name.endswith(INT8_SCALE_SUFFIX):
            continue
        scales = stored.get(name + INT8_SCALE_SUFFIX)
        tensors[name] = tensor if scales is None else tensor.float() * scales.float()
    return tensors


def read_metadata(path: Path) -> dict[str, str]:
    """The safetensors metadata (config JSON and provenance) of a weight file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except (OSError, SafetensorError) as exc:
        raise ModelError(f"{path}: cannot read weights ({exc})") from exc


@dataclass(frozen=True)
class RetiredModel:
    """A model no longer shipped: its id stays reserved, and files that name it get a pointer to the
    last commit that ships it instead of a bare "unknown model"."""

    name: str
    model_id: int
    kind: str
    sha256: str
    last_shipped_commit: str


def _read_manifest_file(models_dir: Path | None) -> tuple[list[ManifestEntry], list[RetiredModel]]:
    """Shipped and retired models of ``manifest.json``, from one read (both empty when nothing is shipped yet)."""
    path = (models_dir or default_models_dir()) / MANIFEST_NAME
    if not path.exists():
        return [], []
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: unreadable manifest ({exc})") from exc
    entries = [
        ManifestEntry(
            name=item["name"],
            model_id=int(item["model_id"]),
            kind=item["kind"],
            file=item["file"],
            sha256=item["sha256"],
            details={k: v for k, v in item.items() if k not in {"name", "model_id", "kind", "file", "sha256"}},
        )
        for item in raw["models"]
    ]
    retired = [RetiredModel(**{**item, "model_id": int(item["model_id"])}) for item in raw.get("retired", [])]
    return entries, retired


def read_manifest(models_dir: Path | None = None) -> list[ManifestEntry]:
    """All shipped entries of ``models/manifest.json`` (empty list when nothing is shipped yet)."""
    return _read_manifest_file(models_dir)[0]


def _write_manifest(path: Path, entries: list[ManifestEntry], retired: list[RetiredModel]) -> None:
    items = [
        {"name": e.name, "model_id": e.model_id, "kind": e.kind, "file": e.file, "sha256": e.sha256, **e.details}
        for e in sorted(entries, key=lambda e: e.model_id)
    ]
    document: dict[str, Any] = {"models": items}
    if retired:
        document["retired"] = [dataclasses.asdict(r) for r in sorted(retired, key=lambda r: r.model_id)]
    path.write_text(json.dumps(document, indent=2) + "\n")


def find_entry(
    *, name: str | None = None, model_id: int | None = None, kind: str | None = None, models_dir: Path | None = None
) -> ManifestEntry:
    """The manifest entry with this name or id; with neither, the default of a kind: its newest (highest id)."""
    entries, retired_models = _read_manifest_file(models_dir)
    matches = [
        entry
        for entry in entries
        if (name is None or entry.name == name) and (model_id is None or entry.model_id == model_id)
        and (kind is None or entry.kind == kind)
    ]
    if matches:
        return max(matches, key=lambda entry: entry.model_id)
    asked_for_one = name is not None or model_id is not None  # a kind's default never points at a retired model
    for retired in retired_models if asked_for_one else []:
        if (name is None or retired.name == name) and (model_id is None or retired.model_id == model_id):
            raise ModelError(
                f"model {retired.name!r} (id {retired.model_id}) is no longer shipped; "
                f"tngvideo at commit {retired.last_shipped_commit} still has it"
            )
    wanted = name or (f"id {model_id}" if model_id is not None else kind)
    raise ModelError(f"no shipped model {wanted!r} in {(models_dir or default_models_dir()) / MANIFEST_NAME}")


def verified_weights(entry: ManifestEntry, models_dir: Path | None = None) -> tuple[dict[str, torch.Tensor], str]:
    """Tensors and config JSON of a shipped model, after checking the file's sha256 against the manifest."""
    path = (models_dir or default_models_dir()) / entry.file
    if not path.exists():
        raise ModelError(f"weights file {path} is missing (model {entry.name!r})")
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise ModelError(f"weights file {path} does not match its manifest sha256 (model {entry.name!r})")
    metadata = read_metadata(path)
    if CONFIG_KEY not in metadata:
        raise ModelError(f"weights file {path} carries no config")
    tensors = {k: (v.float() if v.is_floating_point() else v) for k, v in load_state(path).items()}
    return tensors, metadata[CONFIG_KEY]


def write_manifest_entry(entry: ManifestEntry, models_dir: Path | None = None) -> None:
    """Add or replace (by name) one entry of ``manifest.json``; model ids must stay unique, retired ones too."""
    path = (models_dir or default_models_dir()) / MANIFEST_NAME
    entries, retired = _read_manifest_file(path.parent)
    others = [e for e in entries if e.name != entry.name]
    if entry.model_id in {e.model_id for e in others} | {r.model_id for r in retired}:
        raise ModelError(f"model id {entry.model_id} is already taken in {path}")
    _write_manifest(path, [*others, entry], retired)


def retire_model(name: str, last_shipped_commit: str, models_dir: Path | None = None) -> RetiredModel:
    """Stop shipping a model (the weights budget is 40 MB): delete its file, keep its id reserved and
    a pointer to ``last_shipped_commit`` for files made with it."""
    folder = models_dir or default_models_dir()
    entries, retired_models = _read_manifest_file(folder)
    entry = next((e for e in entries if e.name == name), None)
    if entry is None:
        raise ModelError(f"no shipped model {name!r} in {folder / MANIFEST_NAME}")
    retired = RetiredModel(entry.name, entry.model_id, entry.kind, entry.sha256, last_shipped_commit)
    _write_manifest(folder / MANIFEST_NAME, [e for e in entries if e is not entry], [*retired_models, retired])
    (folder / entry.file).unlink(missing_ok=True)
    return retired

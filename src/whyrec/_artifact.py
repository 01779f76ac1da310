"""The one artifact format every saved model uses: a directory with a manifest and checksummed files.

A model directory holds ``whyrec.json`` (the manifest) and the files it lists, each with its
sha256: tensors in safetensors (never pickle) and metadata in JSON. The directory is written to a
staging directory beside the target and renamed into place, so readers see the old model or the
new one, never half of either.

Manifest (format version 2)::

    {"format": "whyrec.model", "format_version": 2, "whyrec_version": "...",
     "family": "recommender" | "ctr" | "group", "model": "RecoNet",
     "params": {...}, "state": {...}, "info": {...},
     "files": {"model.safetensors": "<sha256>", ...}, "environment": {...}}

Directories written by whyrec 0.1 (format version 1 for recommenders and CTR models) are read
through :func:`_upgrade_v1`; an attribution network saved by 0.1 (no version, no checksums) and any
version from the future get a :class:`~whyrec.errors.ModelFormatError` that names the version.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from whyrec._io import atomic_directory, sha256_file, write_json_atomic
from whyrec._version import __version__
from whyrec.errors import ModelFormatError

FORMAT = "whyrec.model"
FORMAT_VERSION = 2
MANIFEST = "whyrec.json"
TENSORS = "model.safetensors"
FAMILIES = ("recommender", "ctr", "group")
# Runtime options that whyrec 0.1 kept among the hyper-parameters; version 1 manifests drop them.
_V1_RUNTIME_PARAMS = ("progress", "device", "checkpoint_dir")
_TUPLE = "__tuple__"


@dataclass
class Artifact:
    """What a model directory holds: its manifest, tensor files and JSON documents."""

    manifest: dict[str, Any]
    tensors: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # file name -> tensors
    documents: dict[str, Any] = field(default_factory=dict)  # file name -> JSON value

    @property
    def params(self) -> dict[str, Any]:
        """The saved hyper-parameters, with tuples restored."""
        return decode_params(self.manifest["params"])

    @property
    def state(self) -> dict[str, Any]:
        return dict(self.manifest.get("state") or {})


def write_artifact(
    path: str | os.PathLike,
    *,
    family: str,
    model: str,
    params: Mapping[str, Any],
    state: Mapping[str, Any] | None = None,
    info: Mapping[str, Any] | None = None,
    tensors: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    documents: Mapping[str, Any] | None = None,
) -> Path:
    """Write a model directory atomically; returns its path.

    `tensors` maps a ``.safetensors`` file name to its tensors and `documents` a ``.json`` file
    name to its content. A directory that exists and is not a whyrec model is never overwritten.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}")
    path = Path(path)
    if path.exists() and not (path / MANIFEST).exists() and (not path.is_dir() or any(path.iterdir())):
        raise ModelFormatError(f"{path} exists and is not a whyrec model directory; refusing to overwrite")
    with atomic_directory(path) as staging:
        files: dict[str, str] = {}
        for name, content in (tensors or {}).items():
            save_file({k: np.ascontiguousarray(v) for k, v in content.items()}, staging / name)
            files[name] = sha256_file(staging / name)
        for name, document in (documents or {}).items():
            write_json_atomic(staging / name, document)
            files[name] = sha256_file(staging / name)
        write_json_atomic(
            staging / MANIFEST,
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "whyrec_version": __version__,
                "family": family,
                "model": model,
                "params": encode_params(params),
                "state": dict(state or {}),
                "info": dict(info or {}),
                "files": files,
                "environment": {"python": platform.python_version(), "numpy": np.__version__},
            },
        )
    return path


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a model directory, validated and upgraded to the current version."""
    path = Path(path)
    if not path.is_dir():
        raise ModelFormatError(f"model directory not found: {path}")
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        raise ModelFormatError(f"{path} is not a whyrec model directory (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{manifest_path} is corrupt: {exc}") from None
    if not isinstance(manifest, dict):
        raise ModelFormatError(f"{manifest_path} is not a whyrec model manifest")
    if manifest.get("format") == "whyrec.group_model":
        raise ModelFormatError(
            f"{path} holds an attribution network in the unversioned format of whyrec 0.1, which has no "
            f"checksums; this whyrec ({__version__}) reads model format version {FORMAT_VERSION}: retrain it"
        )
    if manifest.get("format") not in (FORMAT, "whyrec.ctr_model"):
        raise ModelFormatError(f"{manifest_path} is not a whyrec model manifest")
    version = manifest.get("format_version")
    if version == 1:
        manifest = _upgrade_v1(manifest)
    elif version != FORMAT_VERSION:
        raise ModelFormatError(
            f"{path} was written in model format version {version!r}; this whyrec "
            f"({__version__}) reads versions 1 and {FORMAT_VERSION}"
        )
    for key in ("family", "model", "params", "files"):
        if key not in manifest:
            raise ModelFormatError(f"{manifest_path} lacks the '{key}' entry")
    return manifest


def read_artifact(path: str | os.PathLike, *, required: tuple[str, ...] = ()) -> Artifact:
    """Read and verify every file a manifest lists (checksums first, then contents)."""
    path = Path(path)
    manifest = read_manifest(path)
    missing = [name for name in required if name not in manifest["files"]]
    if missing:
        raise ModelFormatError(f"{path} lacks {', '.join(missing)}")
    artifact = Artifact(manifest)
    for name, expected in manifest["files"].items():
        file = path / name
        if not file.exists():
            raise ModelFormatError(f"{path} is missing {name}")
        if sha256_file(file) != expected:
            raise ModelFormatError(f"{file} is corrupt: its checksum does not match the manifest")
        if name.endswith(".safetensors"):
            try:
                artifact.tensors[name] = load_file(file)
            except (SafetensorError, OSError, ValueError) as exc:
                raise ModelFormatError(f"{file} is not a readable safetensors file: {exc}") from None
        else:
            try:
                artifact.documents[name] = json.loads(file.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ModelFormatError(f"{file} is corrupt: {exc}") from None
    return artifact


def encode_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Hyper-parameters as JSON, tuples marked so that :func:`decode_params` restores them."""
    return {k: _encode(v) for k, v in params.items()}


def decode_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _decode(v) for k, v in params.items()}


def _encode(value: Any) -> Any:
    if isinstance(value, tuple):
        return {_TUPLE: [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_TUPLE}:
            return tuple(_decode(v) for v in value[_TUPLE])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _upgrade_v1(manifest: dict[str, Any]) -> dict[str, Any]:
    """A whyrec 0.1 manifest in the current shape (the files on disk are read as they are)."""
    old = dict(manifest)
    params = {k: v for k, v in old.get("params", {}).items() if k not in _V1_RUNTIME_PARAMS}
    if old.get("format") == "whyrec.ctr_model":
        params["hidden"] = {_TUPLE: list(params.get("hidden", []))}
        state = {"history": old.get("history", []), "best_epoch": old.get("best_epoch")}
        family = "ctr"
    else:
        state = dict(old.get("extra") or {})
        if "hidden" in params:
            params["hidden"] = {_TUPLE: list(params["hidden"])}
        family = "recommender"
    run = (old.get("info") or {}).get("run")
    if run and run.get("params"):
        run["params"] = {k: v for k, v in run["params"].items() if k not in _V1_RUNTIME_PARAMS}
    return {
        **old,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "upgraded_from": 1,
        "family": family,
        "params": params,
        "state": state,
    }

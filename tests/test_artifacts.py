"""The one artifact format: every family saves the same way; old, future and corrupt directories."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli
from whyrec._artifact import FORMAT_VERSION, MANIFEST, read_manifest
from whyrec.data.ctr import split_rows
from whyrec.data.synthetic_ctr import synthetic_ctr
from whyrec.errors import ModelFormatError
from whyrec.models import CTRModel, Recommender, RecoNet, load_model, load_split


def _manifest(path):
    return json.loads((path / MANIFEST).read_text())


def _write_manifest(path, manifest):
    (path / MANIFEST).write_text(json.dumps(manifest))


def test_every_file_is_listed_with_its_checksum(small_model, small_split, tmp_path):
    path = small_model.save(tmp_path / "m", split=small_split, info={"data": "synthetic"})
    manifest = _manifest(path)
    assert manifest["format_version"] == FORMAT_VERSION and manifest["family"] == "recommender"
    assert set(manifest["files"]) == {"model.safetensors", "feature_space.json", "split.safetensors"}
    assert sorted(p.name for p in path.iterdir()) == sorted([*manifest["files"], MANIFEST])
    assert manifest["params"]["hidden"] == {"__tuple__": []}  # tuples survive the JSON round trip
    assert manifest["state"]["best_epoch"] == small_model.best_epoch_


def _as_version_1(path, extra_params):
    """Rewrite a saved recommender's manifest the way whyrec 0.1 wrote it (same files on disk)."""
    manifest = _manifest(path)
    old = {
        "format": "whyrec.model",
        "format_version": 1,
        "whyrec_version": "0.1.0",
        "model": manifest["model"],
        "params": {
            **{k: list(v["__tuple__"]) if isinstance(v, dict) else v for k, v in manifest["params"].items()},
            **extra_params,
        },
        "extra": manifest["state"],
        "split": manifest["info"].get("split"),
        "info": {k: v for k, v in manifest["info"].items() if k != "split"},
        "files": manifest["files"],
    }
    _write_manifest(path, old)


def test_a_version_1_recommender_directory_still_loads(small_model, small_split, tmp_path):
    path = small_model.save(tmp_path / "old", split=small_split)
    _as_version_1(path, {"progress": True, "device": "cpu", "checkpoint_dir": None})
    loaded = load_model(path)
    assert isinstance(loaded, RecoNet) and loaded.get_params() == small_model.get_params()
    assert loaded.manifest_["upgraded_from"] == 1
    np.testing.assert_array_equal(loaded.score_users(np.arange(20)), small_model.score_users(np.arange(20)))
    assert loaded.history_ == small_model.history_
    assert np.array_equal(load_split(path).cold_users, small_split.cold_users)


def test_a_version_1_ctr_directory_still_loads(tmp_path):
    parts = split_rows(synthetic_ctr(n_rows=800, seed=1).frame, seed=0, min_count=1)
    model = CTRModel("fm", dim=4, epochs=1, seed=0).fit(parts.train)
    path = model.save(tmp_path / "ctr")
    manifest = _manifest(path)
    old = {
        "format": "whyrec.ctr_model",
        "format_version": 1,
        "model": "CTRModel",
        "params": {**manifest["params"], "hidden": list(manifest["params"]["hidden"]["__tuple__"])},
        "history": manifest["state"]["history"],
        "best_epoch": manifest["state"]["best_epoch"],
        "info": {},
        "files": manifest["files"],
    }
    _write_manifest(path, old)
    loaded = CTRModel.load(path)
    assert loaded.get_params() == model.get_params() and loaded.best_epoch_ == model.best_epoch_
    np.testing.assert_array_equal(loaded.predict_logit(parts.test), model.predict_logit(parts.test))


@pytest.mark.parametrize(
    ("rewrite", "message"),
    [
        (lambda m: {**m, "format_version": 999}, "model format version 999; this whyrec"),
        (lambda m: {"format": "whyrec.group_model", "kind": "attribution_network", "params": {}}, "no checksums"),
        (lambda m: {**m, "format": "something.else"}, "is not a whyrec model manifest"),
        (lambda m: {k: v for k, v in m.items() if k != "params"}, "lacks the 'params' entry"),
        (lambda m: {**m, "model": "XGBoost"}, "holds a 'XGBoost' model, which this whyrec does not know"),
    ],
)
def test_future_foreign_and_incomplete_manifests_name_the_problem(small_model, tmp_path, rewrite, message):
    path = small_model.save(tmp_path / "m")
    _write_manifest(path, rewrite(_manifest(path)))
    with pytest.raises(ModelFormatError, match=message):
        load_model(path)


def test_corrupt_and_missing_files_name_the_problem(small_model, tmp_path):
    path = small_model.save(tmp_path / "m")
    (path / "feature_space.json").write_text("{}")
    with pytest.raises(ModelFormatError, match=r"feature_space\.json is corrupt: its checksum"):
        load_model(path)
    path = small_model.save(tmp_path / "m2")
    (path / "model.safetensors").unlink()
    with pytest.raises(ModelFormatError, match=r"is missing model\.safetensors"):
        load_model(path)
    path = small_model.save(tmp_path / "m3")
    (path / MANIFEST).write_text("{")
    with pytest.raises(ModelFormatError, match="is corrupt"):
        read_manifest(path)


def test_loading_through_the_wrong_family_says_what_was_found(small_model, tmp_path):
    path = small_model.save(tmp_path / "m")
    with pytest.raises(ModelFormatError, match=r"holds a RecoNet model \(recommender\), not a CTRModel"):
        CTRModel.load(path)
    assert isinstance(Recommender.load(path), RecoNet)


def test_the_cli_answers_bad_model_directories_in_one_line(monkeypatch, capsys, small_model, tmp_path):
    path = small_model.save(tmp_path / "m")
    _write_manifest(path, {**_manifest(path), "format_version": 999})
    code, _, err = run_cli(monkeypatch, capsys, "recommend", "--model", path, "--user", "1")
    assert code == 2 and "format version 999" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(monkeypatch, capsys, "recommend", "--model", tmp_path / "nowhere", "--user", "1")
    assert code == 2 and "model directory not found" in err and len(err.strip().splitlines()) == 1

"""Scale: Parquet shards streamed into a Dataset, and the sharded recommend-all / explain-all jobs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import run_cli
from whyrec.data.dataset import Dataset
from whyrec.data.spec import load_spec
from whyrec.data.stream import stream_dataset, write_shards
from whyrec.data.synthetic_catalogue import write_synthetic_catalogue
from whyrec.errors import DataError, ParameterError
from whyrec.explain import explain
from whyrec.jobs.batch import read_job, run_job


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    folder = tmp_path_factory.mktemp("catalogue")
    write_synthetic_catalogue(folder, n_users=3000, n_items=800, n_categories=40, users_per_shard=700, seed=1)
    return folder


def test_streamed_shards_give_the_same_dataset_as_reading_the_whole_table(catalogue):
    streamed = stream_dataset(
        catalogue / "interactions", catalogue / "users.parquet", catalogue / "items.parquet", batch_rows=1000
    )
    frames = [pd.read_parquet(p) for p in sorted((catalogue / "interactions").glob("*.parquet"))]
    whole = Dataset.from_frames(
        pd.concat(frames),
        pd.read_parquet(catalogue / "users.parquet"),
        pd.read_parquet(catalogue / "items.parquet"),
        on_duplicate="drop",
    )
    assert streamed.feature_space.user_ids == whole.feature_space.user_ids
    assert streamed.feature_space.token_names.tolist() == whole.feature_space.token_names.tolist()
    assert (streamed.matrix() != whole.matrix()).nnz == 0
    assert (streamed.user_attributes != whole.user_attributes).nnz == 0
    assert len(list((catalogue / "interactions").glob("*.parquet"))) == 5  # 3000 users, 700 per shard
    spec = load_spec(f"shards:{catalogue / 'interactions'},{catalogue / 'users.parquet'}")
    assert spec.n_interactions == streamed.n_interactions


def test_missing_truncated_and_mismatched_shards_are_named(tmp_path):
    frames = [pd.DataFrame({"user": [1, 2], "item": [10, 11]}), pd.DataFrame({"user": [3], "item": [12]})]
    write_shards(frames, tmp_path / "ok")
    assert stream_dataset(tmp_path / "ok").n_interactions == 3
    (tmp_path / "ok" / "part-00001.parquet").unlink()
    with pytest.raises(DataError, match=r"part-00001\.parquet"):
        stream_dataset(tmp_path / "ok")
    write_shards(frames, tmp_path / "short")
    pq.write_table(
        pq.read_table(tmp_path / "short" / "part-00000.parquet").slice(0, 1), tmp_path / "short" / "part-00000.parquet"
    )
    with pytest.raises(DataError, match="truncated"):
        stream_dataset(tmp_path / "short")
    mixed = [frames[0], pd.DataFrame({"user": ["a"], "item": [12]})]
    write_shards(mixed, tmp_path / "mixed")
    with pytest.raises(DataError, match="schema mismatch: column 'user'"):
        stream_dataset(tmp_path / "mixed")
    write_shards([pd.DataFrame({"customer": [1], "item": [2]})], tmp_path / "renamed")
    with pytest.raises(DataError, match="no column 'user'"):
        stream_dataset(tmp_path / "renamed")
    with pytest.raises(DataError, match="no Parquet table"):
        stream_dataset(tmp_path / "nowhere")


def test_explain_all_writes_resumable_parts_that_agree_with_explain(small_model, tmp_path):
    small_model.save(tmp_path / "model")
    out = tmp_path / "explained"
    first = run_job(
        small_model, tmp_path / "model", out, kind="explain", k=4, reasons=2, users_per_part=150, worker=0, n_workers=2
    )
    assert not first["complete"] and first["parts_written"] == 2  # 400 users: parts 0 and 2
    with pytest.raises(DataError, match="unfinished"):
        read_job(out)
    (out / "part-000000.parquet").unlink()  # a part lost to a crash is redone, the others are kept
    again = run_job(
        small_model, tmp_path / "model", out, kind="explain", k=4, reasons=2, users_per_part=150, worker=0, n_workers=2
    )
    assert again["parts_written"] == 1 and again["parts_skipped"] == 1
    last = run_job(
        small_model, tmp_path / "model", out, kind="explain", k=4, reasons=2, users_per_part=150, worker=1, n_workers=2
    )
    assert last["complete"]
    table = read_job(out).to_pandas()
    fs = small_model.feature_space_
    user = table["user"].iloc[0]
    recs = small_model.recommend(type(fs.user_ids[0])(user), k=4)
    rows = table[table["user"] == user]
    assert rows["item"].tolist() == [str(i) for i in recs.item_ids[0]] and rows["rank"].tolist() == [1, 2, 3, 4]
    explanation = explain(small_model, [type(fs.user_ids[0])(user)], [recs.item_ids[0][0]])[0]
    assert rows["reasons"].iloc[0].tolist() == [fs.token_names[t] for t in explanation.tokens[:2]]
    assert np.allclose(rows["relevance"].iloc[0], explanation.relevance[:2], atol=1e-5)
    assert rows["sentence"].iloc[0] == explanation.sentence() and not table["sentence"].str.contains("item:").any()
    with pytest.raises(ParameterError, match="different job"):
        run_job(small_model, tmp_path / "model", out, kind="explain", k=5, users_per_part=150)


def test_recommend_all_cli_completes_and_reports_bad_input(small_model, tmp_path, monkeypatch, capsys):
    small_model.save(tmp_path / "model")
    code, out, _ = run_cli(
        monkeypatch,
        capsys,
        "recommend-all",
        "--model",
        tmp_path / "model",
        "--out",
        tmp_path / "recs",
        "-k",
        3,
        "--quiet",
    )
    assert code == 0 and "job complete: True" in out
    assert json.loads((tmp_path / "recs" / "_SUCCESS").read_text())["parts"] == ["part-000000.parquet"]
    assert len(read_job(tmp_path / "recs")) == 3 * small_model.feature_space_.n_users
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "explain-all",
        "--model",
        tmp_path / "model",
        "--out",
        tmp_path / "x",
        "--worker",
        3,
        "--workers",
        2,
    )
    assert code == 2 and "worker must lie in 0..n_workers-1" in err


def test_explain_all_with_counterfactual_sets(small_model, tmp_path, monkeypatch, capsys):
    from whyrec.explain import counterfactual

    small_model.save(tmp_path / "model")
    args = ["--out", tmp_path / "cf", "-k", 5, "--counterfactual", "--quiet", "--users-per-part", 100]
    code, out, err = run_cli(monkeypatch, capsys, "explain-all", "--model", tmp_path / "model", *args)
    assert code == 0 and "job complete: True" in out, err
    table = read_job(tmp_path / "cf").to_pandas()
    assert {"counterfactual", "counterfactual_rank", "counterfactual_verified"} <= set(table.columns)
    found = table[table["counterfactual"].map(len) > 0]
    assert len(found) > len(table) / 3 and found["counterfactual_verified"].all()
    assert (found["counterfactual_rank"] > 5).all()
    assert found["counterfactual_sentence"].str.startswith("Without ").all()
    assert not table["counterfactual_sentence"].str.contains(r"item:|\s[,.;]", regex=True).any()
    fs = small_model.feature_space_
    for row in found.head(5).itertuples():
        u = fs.user_index([type(fs.user_ids[0])(row.user)])
        direct = counterfactual(small_model, small_model.user_profiles(u), int(fs.item_index([row.item])[0]), n=5)
        assert list(row.counterfactual) == direct.removed and row.counterfactual_rank == direct.new_rank
    with pytest.raises(ParameterError, match="come with explain-all"):
        run_job(small_model, tmp_path / "model", tmp_path / "r", kind="recommend", counterfactual=True)

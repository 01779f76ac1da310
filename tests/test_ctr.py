"""CTR data (field=value bags, rare folding, loaders with line-numbered errors) and CTR models."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import dataset_dir
from whyrec.data.ctr import ABSENT, MISSING, OTHER, bucketise, encode, fit_space, split_rows
from whyrec.data.ctr_loaders import load_ctr, read_avazu, read_criteo, read_frappe, read_movielens_ctr
from whyrec.data.synthetic_ctr import synthetic_ctr
from whyrec.errors import DataError, ModelFormatError, NotFittedError, ParameterError
from whyrec.explain import explain
from whyrec.models.ctr import ARCHITECTURES, CTRModel


def _criteo_line(label="0", ints=None, cats=None) -> str:
    ints = ints if ints is not None else [str(i) for i in range(13)]
    cats = cats if cats is not None else [f"{i:08x}" for i in range(26)]
    return "\t".join([label, *ints, *cats])


# -- data ---------------------------------------------------------------------------------------
def test_fields_fold_rare_values_and_unseen_values_into_other():
    frame = pd.DataFrame({"label": [1, 0, 1, 0, 1], "site": ["a", "a", "b", "a", None], "hour": [1, 1, 2, 2, 2]})
    space = fit_space(frame, min_count=2)
    site = space.field("context", "site")
    assert site.values == ("a", OTHER)  # b is seen once and missing once: both fold
    assert space.token_names.tolist()[:2] == ["site=a", "site=other"]
    assert set(space.token_kinds) == {"context_attribute"}
    data = encode(space, pd.DataFrame({"label": [0, 1], "site": ["never-seen", "a"], "hour": [99, 1]}))
    assert space.token_names[data.tokens[0]].tolist() == ["site=other", "hour=other"]
    assert space.token_names[data.tokens[1]].tolist() == ["site=a", "hour=1"]


def test_missing_values_are_a_value_of_their_own():
    frame = pd.DataFrame({"label": [1, 0, 1], "x": [None, None, "v"]})
    space = fit_space(frame, min_count=2)
    assert MISSING in space.field("context", "x").values


def test_bucketise_keeps_small_counts_and_logs_large_ones():
    out = bucketise(pd.Series(["0", "2", "3", "100", None, "-1"]))
    assert out.tolist()[:4] == ["0", "2", "log1", "log21"]  # floor(ln(3)^2) = 1, floor(ln(100)^2) = 21
    assert pd.isna(out.iloc[4]) and out.iloc[5] == "-1"


def test_split_fits_the_vocabulary_on_training_rows_only():
    syn = synthetic_ctr(n_rows=2000, seed=1)
    split = split_rows(syn.frame, seed=0, min_count=1)
    assert len(split.train) + len(split.validation) + len(split.test) == 2000
    assert split.train.space is split.test.space
    again = split_rows(syn.frame, seed=0, min_count=1)
    np.testing.assert_array_equal(split.test.tokens, again.test.tokens)
    bags = split.train.bags()
    assert bags.shape == (len(split.train), split.space.n_tokens) and (bags.getnnz(axis=1) == 10).all()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", None]), min_size=3, max_size=40), st.integers(1, 4))
def test_every_row_gets_exactly_one_token_per_field(values, min_count):
    frame = pd.DataFrame({"label": [i % 2 for i in range(len(values))], "f": values})
    space = fit_space(frame, min_count=min_count)
    data = encode(space, frame)
    offset = space.field_offsets[("context", "f")]
    assert data.tokens.shape == (len(values), 1)
    assert ((data.tokens >= offset) & (data.tokens < space.n_tokens)).all()


def test_synthetic_ctr_plants_pure_interactions():
    syn = synthetic_ctr(n_rows=5000, seed=0)
    assert syn.interactions == [("f0", "f1"), ("f2", "f3"), ("f4", "f5", "f6")]
    assert 0.2 < syn.frame["label"].mean() < 0.8
    with pytest.raises(DataError, match="distinct fields"):
        synthetic_ctr(interactions=[(0, 0)])


def test_criteo_reader_bucketises_and_reports_bad_lines_by_number(tmp_path):
    good = tmp_path / "ok.txt"
    good.write_text("\n".join([_criteo_line("1"), _criteo_line("0", ints=[""] * 13, cats=[""] * 26)]) + "\n")
    frame = read_criteo(good)
    assert frame.shape == (2, 40) and frame["label"].tolist() == [1.0, 0.0]
    assert frame["I4"].iloc[0] == "log1" and pd.isna(frame["I1"].iloc[1])
    short = tmp_path / "short.txt"
    short.write_text(_criteo_line() + "\n" + "\t".join(["0"] * 39) + "\n")
    with pytest.raises(DataError, match=re.escape("short.txt line 2: expected 40 fields, found 39")):
        read_criteo(short)
    text = tmp_path / "text.txt"
    text.write_text(_criteo_line() + "\n" + _criteo_line() + "\n" + _criteo_line(ints=["x1", *["1"] * 12]) + "\n")
    with pytest.raises(DataError, match=re.escape("text.txt line 3: field I1 must be an integer, got 'x1'")):
        read_criteo(text)
    label = tmp_path / "label.txt"
    label.write_text(_criteo_line(label="2") + "\n")
    with pytest.raises(DataError, match=re.escape("label.txt line 1: label must be 0 or 1")):
        read_criteo(label)
    packed = tmp_path / "rows.txt.gz"
    packed.write_bytes(gzip.compress(good.read_bytes()))
    assert read_criteo(packed).shape == (2, 40)


def test_avazu_reader_handles_headerless_files_and_line_numbers(tmp_path):
    header = (  # Avazu's official header, as Kaggle ships it
        "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,app_category,"
        "device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,C16,C17,C18,C19,C20,C21"
    )
    row = "1,0,14102100," + ",".join(["x"] * 21)
    (tmp_path / "train.csv").write_text(header + "\n" + row + "\n")
    (tmp_path / "dev.csv").write_text(row.replace(",0,", ",1,", 1) + "\n")
    frame = read_avazu(tmp_path)
    assert frame["label"].tolist() == [0.0, 1.0] and frame["hour_of_day"].tolist() == ["0", "0"]
    (tmp_path / "test.csv").write_text(row + "\n" + row + ",extra\n")
    with pytest.raises(DataError, match=re.escape("test.csv line 2: expected 24 fields, found 25")):
        read_avazu(tmp_path)


def test_frappe_negatives_keep_the_context_and_avoid_used_apps(tmp_path):
    lines = ["user\titem\tcnt\tdaytime\tweekday\tisweekend\thomework\tcost\tweather\tcountry\tcity"]
    for u in range(5):
        for i in range(3):
            lines.append(f"{u}\t{(u + i) % 8}\t1\tmorning\tmonday\tworkday\tunknown\tfree\tsunny\tSpain\t{u}")
    path = tmp_path / "frappe.csv"
    path.write_text("\n".join(lines) + "\n")
    rows = read_frappe(path, seed=3)
    assert len(rows) == 15 * 3 and rows["label"].sum() == 15
    used = {(int(u), int(i)) for u, i in rows.loc[rows["label"] == 1, ["user", "item"]].to_numpy()}
    negatives = rows[rows["label"] == 0]
    assert not any((int(u), int(i)) in used for u, i in negatives[["user", "item"]].to_numpy())
    assert (negatives["city"].astype(int) == negatives["user"].astype(int)).all()  # context kept
    pd.testing.assert_frame_equal(rows, read_frappe(path, seed=3))


def test_ctr_specs_name_their_problems():
    frame, planted = load_ctr("synthetic-ctr:n_rows=300,seed=4")
    assert len(frame) == 300 and planted
    with pytest.raises(DataError, match="unknown CTR data spec"):
        load_ctr("parquet:x")
    with pytest.raises(DataError, match="n_rows="):
        load_ctr("synthetic-ctr:rows=5")
    with pytest.raises(DataError, match="not found"):
        load_ctr("criteo:/nonexistent/criteo")


# -- models -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def syn_split():
    return split_rows(synthetic_ctr(n_rows=6000, seed=2).frame, seed=0, min_count=1, name="synthetic-ctr")


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_architecture_learns_and_round_trips(architecture, syn_split, tmp_path):
    model = CTRModel(architecture, dim=8, hidden=(32,), epochs=4, lr=1e-2, batch_size=512, seed=0)
    model.fit(syn_split.train, syn_split.validation)
    metrics = model.evaluate(syn_split.test)
    assert metrics["auc"] > 0.6 and metrics["rows"] == len(syn_split.test)
    model.save(tmp_path / "m", info={"data": "synthetic-ctr"})
    loaded = CTRModel.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_logit(syn_split.test), model.predict_logit(syn_split.test), rtol=1e-5)
    assert loaded.get_params() == model.get_params()


def test_training_is_reproducible_under_a_seed(syn_split):
    a = CTRModel("fm", dim=8, epochs=2, seed=5).fit(syn_split.train, syn_split.validation)
    b = CTRModel("fm", dim=8, epochs=2, seed=5).fit(syn_split.train, syn_split.validation)
    np.testing.assert_array_equal(a.predict_logit(syn_split.test), b.predict_logit(syn_split.test))


def test_absent_fields_remove_their_contribution_exactly_for_lr(syn_split):
    model = CTRModel("lr", epochs=2, lr=1e-2, seed=0).fit(syn_split.train)
    tokens = syn_split.test.tokens[:5].copy()
    full = model.predict_logit(tokens)
    tokens[:, 3] = ABSENT
    weight = model.module_.inputs.weight.weight.detach().numpy()[syn_split.test.tokens[:5, 3], 0]
    np.testing.assert_allclose(full - model.predict_logit(tokens), weight, rtol=1e-4, atol=1e-6)


def test_raw_frames_with_unseen_values_are_scored_not_rejected(syn_split):
    model = CTRModel("deepfm", dim=8, hidden=(16,), epochs=1, seed=0).fit(syn_split.train)
    frame = pd.DataFrame({f"f{i}": [f"f{i}_0", "brand-new"] for i in range(10)})
    p = model.predict_proba(frame)
    other = pd.DataFrame({f"f{i}": ["other"] for i in range(10)})
    assert p.shape == (2,) and p[1] == pytest.approx(model.predict_proba(other)[0])  # unseen -> 'other'
    assert p[0] != pytest.approx(p[1])


def test_ctr_model_errors_name_the_problem(syn_split, tmp_path):
    with pytest.raises(ParameterError, match="unknown CTR architecture 'xgboost'"):
        CTRModel("xgboost").fit(syn_split.train)
    with pytest.raises(ParameterError, match="divisible by heads"):
        CTRModel("autoint", dim=10, heads=3).fit(syn_split.train)
    with pytest.raises(NotFittedError):
        CTRModel().predict_logit(syn_split.test)
    model = CTRModel("lr", epochs=1).fit(syn_split.train)
    with pytest.raises(DataError, match="must have 10 fields"):
        model.predict_logit(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(DataError, match="lack field 'f1'"):
        model.predict_logit(pd.DataFrame({"f0": ["x"]}))
    with pytest.raises(ModelFormatError):
        CTRModel.load(tmp_path)
    model.save(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelFormatError, match="corrupt"):
        CTRModel.load(tmp_path / "m")


# -- real data ----------------------------------------------------------------------------------
def test_real_ctr_files_load_with_their_documented_shapes():
    criteo = read_criteo(dataset_dir("criteo"))
    assert criteo.shape == (10_000, 40) and int(criteo["label"].sum()) == 2182
    avazu = read_avazu(dataset_dir("avazu"))
    assert len(avazu) == 8999 and int(avazu["label"].sum()) == 1563
    frappe = read_frappe(dataset_dir("frappe") / "raw")
    assert len(frappe) == 288_609 and int(frappe["label"].sum()) == 96_203  # NFM's 288,609 instances
    movielens = read_movielens_ctr(dataset_dir("ml-100k"))
    assert len(movielens) == 100_000 and int(movielens["label"].sum()) == 34_174 + 21_201


def test_ctr_explanations_are_exact_for_logistic_regression(syn_split):
    model = CTRModel("lr", epochs=2, lr=1e-2, seed=0).fit(syn_split.train)
    explanations = explain(model, syn_split.test.rows(slice(0, 4)))
    first = explanations[0]
    assert len(explanations) == 4 and len(first) == 10 and first.method == "occlusion"
    assert abs(first.conservation_gap) < 1e-5  # logit = baseline + Σ relevance for a linear model
    assert first.top(1)[0].kind == "context_attribute" and "=" in first.top(1)[0].name
    assert first.to_dict()["item"] == "click"
    deep = CTRModel("deepfm", dim=4, hidden=(8,), epochs=1, seed=0).fit(syn_split.train)
    rows = syn_split.test.rows(slice(0, 3))
    third = explain(deep, rows)[2]
    tokens = rows.tokens[2].copy()
    field = int(np.flatnonzero(tokens == third.tokens[0])[0])  # the most relevant field, switched off
    tokens[field] = ABSENT
    drop = deep.predict_logit(rows.tokens[2:3])[0] - deep.predict_logit(tokens[None, :])[0]
    assert third.relevance[0] == pytest.approx(drop, rel=1e-4, abs=1e-6)  # occlusion: the logit it loses

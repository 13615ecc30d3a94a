"""mithridate.data: built-in datasets as arrays, the same rows as the CLI, and bad input."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from conftest import ROOT

HOME = ROOT / "target" / "mithridate-home"
if "MITHRIDATE_HOME" not in os.environ and HOME.is_dir():
    os.environ["MITHRIDATE_HOME"] = str(HOME)

from mithridate import data  # noqa: E402


def needs(name: str) -> None:
    if not data.info(name)["cached"]:
        pytest.skip(f"{name} is not cached under MITHRIDATE_HOME (mithridate data fetch {name})")


def test_available_and_info_list_the_builtins():
    names = data.available()
    assert {"mnist", "fashion-mnist", "breast-cancer"} <= set(names)
    info = data.info("mnist")
    assert (info["train_samples"], info["test_samples"], info["classes"]) == (60000, 10000, 10)
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        data.info("nope")


def test_mnist_subset_is_the_cli_subset(cli, tmp_path):
    """`--max-train 300 --seed 5` through a zero-budget attack writes the CLI's subset."""
    needs("mnist")
    out = tmp_path / "subset.npz"
    subprocess.run(
        [str(cli), "--seed", "5", "poison", "--data", "mnist", "--max-train", "300",
         "--attack", "label-flip", "--count", "0", "-o", str(out)],
        check=True, capture_output=True, env={**os.environ},
    )
    x, y, ids = data.load("mnist", "train", max_samples=300, seed=5)
    with np.load(out) as z:
        # About 300: the stratified split's per-class rounding keeps 301 here, in both.
        assert x.tobytes() == z["x"].tobytes() and x.shape[1:] == (1, 28, 28)
        assert 300 <= x.shape[0] <= 302
        assert np.array_equal(y, z["y"]) and np.array_equal(ids, z["ids"])
    assert x.dtype == np.float32 and y.dtype == np.int64 and ids.dtype == np.uint64
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert np.bincount(y, minlength=10).min() >= 25  # stratified: every digit present


def test_test_split_ids_follow_the_train_split():
    needs("mnist")
    _, _, ids = data.load("mnist", "test", max_samples=100, seed=1)
    assert ids.min() >= 60000 and ids.max() < 70000 and len(set(ids.tolist())) == len(ids)


def test_tabular_rows_are_standardised_on_the_train_split():
    needs("breast-cancer")
    x, y, _ = data.load("breast-cancer", "train")
    assert x.ndim == 2 and x.shape[1] == 30 and x.dtype == np.float32
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(x.std(axis=0), 1.0, atol=1e-3)
    assert set(np.unique(y).tolist()) == {0, 1}


def test_an_npz_file_loads_as_written(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((12, 3, 4, 4), dtype=np.float32)
    y = np.arange(12) % 3
    ids = np.arange(40, 52, dtype=np.uint64)
    path = tmp_path / "mine.npz"
    np.savez(path, x=x, y=y, ids=ids)
    got = data.load(str(path))
    assert got.x.tobytes() == x.tobytes() and got.x.shape == x.shape
    assert np.array_equal(got.y, y) and np.array_equal(got.ids, ids)


def test_bad_requests_raise_value_error():
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        data.load("mnist", "valid")
    with pytest.raises(ValueError, match="max_samples must be at least 1"):
        data.load("mnist", max_samples=0)
    with pytest.raises(ValueError, match="nope"):
        data.load("nope")
    with pytest.raises(ValueError, match="no such .npz file"):
        data.load("/no/such/file.npz")


@pytest.mark.parametrize("name", ["mnist", "spambase"])
def test_a_pandas_csv_export_reads_back_to_the_same_arrays_and_ids(name, tmp_path):
    """Issue 20: a CSV written by pandas (id column, one column per feature, label column)
    reads back through Mithridate's CSV reader to exactly the arrays and ids it came from."""
    pd = pytest.importorskip("pandas")
    x, y, ids = data.load(name, "test", max_samples=400, seed=3)
    flat = x.reshape(len(x), -1)
    frame = pd.DataFrame(flat, columns=[f"f{i}" for i in range(flat.shape[1])])
    frame.insert(0, "id", ids)
    frame["label"] = y
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    back = data.load(str(path))
    np.testing.assert_array_equal(back.ids, ids)
    np.testing.assert_array_equal(back.y, y)
    np.testing.assert_array_equal(back.x, flat)


def test_read_takes_a_csv_with_named_columns_and_reports_its_encoding(tmp_path):
    """data.read: label and id columns chosen by name, a categorical column one-hot encoded
    (categories sorted), the encoding returned; values checked by hand."""
    path = tmp_path / "credit.csv"
    path.write_text(
        "account,amount,purpose,outcome\n"
        "17,1.5,car,bad\n"
        "4,-2.0,radio,good\n"
        "9,0.25,car,good\n"
    )
    (x, y, ids), encoding = data.read(
        path, label_column="outcome", id_column="account", return_encoding=True
    )
    np.testing.assert_array_equal(ids, np.array([17, 4, 9], dtype=np.uint64))
    np.testing.assert_array_equal(y, np.array([0, 1, 1]))  # classes sorted: bad, good
    np.testing.assert_array_equal(
        x, np.array([[1.5, 1, 0], [-2.0, 0, 1], [0.25, 1, 0]], dtype=np.float32)
    )
    assert encoding["classes"] == ["bad", "good"]
    assert encoding["id_column"] == "account"
    kinds = [(c["name"], c["kind"]) for c in encoding["columns"]]
    assert kinds == [("amount", "numeric"), ("purpose", "one_hot")]
    # Without return_encoding the arrays alone, the same ones.
    again = data.read(str(path), label_column="outcome", id_column="account")
    np.testing.assert_array_equal(again.x, x)


def test_read_takes_weka_arff_with_the_last_attribute_as_label(tmp_path):
    path = tmp_path / "tiny.arff"
    path.write_text(
        "% a comment\n@relation tiny\n@attribute a numeric\n@attribute colour {red,blue}\n"
        "@attribute class {yes,no}\n@data\n1.0,red,yes\n2.5,blue,no\n-1,red,no\n"
    )
    (x, y, ids), encoding = data.read(path, return_encoding=True)
    assert x.shape[0] == 3 and len(set(ids.tolist())) == 3
    assert [encoding["classes"][k] for k in y] == ["yes", "no", "no"]
    np.testing.assert_array_equal(x[:, 0], np.array([1.0, 2.5, -1.0], dtype=np.float32))


def test_read_refuses_bad_files_and_parameters_with_value_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,label\n1,0\n2,1\n")
    with pytest.raises(ValueError, match="limit"):
        data.read(path, max_input_bytes=8)
    with pytest.raises(ValueError, match="max_input_bytes must be at least 1"):
        data.read(path, max_input_bytes=0)
    with pytest.raises(ValueError, match="image_size"):
        data.read(path, image_size=(0, 28))
    with pytest.raises(ValueError, match="nope"):
        data.read(path, label_column="nope")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b,label\n1,2,0\n3,1\n")
    with pytest.raises(ValueError, match="ragged.csv"):
        data.read(ragged)
    with pytest.raises(ValueError, match="unknown file type"):
        data.read(tmp_path / "x.xlsx")

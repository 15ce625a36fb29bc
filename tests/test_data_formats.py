"""Specification of the AttentionXML, PECOS, `datasets` and parquet readers and of layout detection.

Real files: `../shared/data/xmc-repo/Amazon-670K-small` (AttentionXML layout with the headerless BoW `train_v1.txt`;
PROVENANCE.md: 200 + 200 docs, 1,083 / 1,010 label assignments, 1,057 distinct train labels, 13,832 BoW non-zeros).
The PECOS layout, the `datasets` objects and the bad-input cases have no real sample here: they are written by the
tests from the format descriptions.
"""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest
import scipy.sparse as sp

from hf_xmc.data import XMCInputError, detect_layout, load_xmc_dataset, save_xmc_dataset_parquet


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.real_data
def test_amazon_670k_small_attentionxml_round_trip(xmc_repo_dir):
    folder = xmc_repo_dir / "Amazon-670K-small"
    assert detect_layout(folder) == "attentionxml"
    xmc = load_xmc_dataset(folder)
    stats = xmc.describe()
    assert stats["train_docs"] == 200 and stats["test_docs"] == 200
    assert stats["train_labels_per_doc"] * 200 == 1083 and stats["test_labels_per_doc"] * 200 == 1010
    assert stats["train_distinct_labels"] == 1057 and stats["train_docs_with_no_label"] == 0
    assert xmc.features["train"].shape[0] == 200 and xmc.features["train"].nnz == 13832
    assert "test" not in xmc.features
    first_labels = (folder / "train_labels.txt").read_text().split("\n")[0].split()
    assert sorted(xmc.vocabulary.decode(xmc["train"][0]["labels"])) == sorted(first_labels)
    assert "/SEP/" in xmc["train"][0]["text"]
    tokenised = load_xmc_dataset(folder, text_file="texts")
    assert tokenised["train"][0]["text"].startswith("methodical bible study")


def test_attentionxml_bad_input(tmp_path):
    folder = tmp_path / "axml"
    write(folder / "train_raw_texts.txt", "first doc\nsecond doc\n")
    write(folder / "train_labels.txt", "a b\n")
    with pytest.raises(XMCInputError, match="2 documents but 1 label lines"):
        load_xmc_dataset(folder)
    write(folder / "train_labels.txt", "a b\n\n")
    xmc = load_xmc_dataset(folder)
    assert xmc["train"]["labels"] == [[0, 1], []] and xmc.describe()["train_docs_with_no_label"] == 1
    write(folder / "train_raw_texts.txt", "first doc\n  \n")
    with pytest.raises(XMCInputError, match="train_raw_texts.txt:2: empty text"):
        load_xmc_dataset(folder)
    write(folder / "train_raw_texts.txt", "")
    with pytest.raises(XMCInputError, match="train_raw_texts.txt: the text file is empty"):
        load_xmc_dataset(folder)


def test_unicode_line_separators_inside_texts_do_not_shift_rows(tmp_path):
    folder = tmp_path / "axml"
    write(folder / "train_texts.txt", "one\u2028still one\x0bstill one\ntwo\n")
    write(folder / "train_labels.txt", "x\ny\n")
    xmc = load_xmc_dataset(folder)
    assert len(xmc["train"]) == 2 and xmc["train"][1]["text"] == "two"


def make_pecos(folder, label_format="npz"):
    write(folder / "X.trn.txt", "apple pie\nbanana split\ncherry tart\n")
    write(folder / "X.tst.txt", "date cake\n")
    write(folder / "output-items.txt", "fruit\ndessert\nbaked\n")
    train = sp.csr_matrix(np.array([[1, 1, 1], [1, 1, 0], [0, 1, 1]], dtype=np.float32))
    test = sp.csr_matrix(np.array([[0, 0, 1]], dtype=np.float32))
    if label_format == "npz":
        sp.save_npz(folder / "Y.trn.npz", train)
        sp.save_npz(folder / "Y.tst.npz", test)
    else:
        write(folder / "Y.trn.txt", "0,1,2\n0,1\n1,2\n")
        write(folder / "Y.tst.txt", "2\n")
    sp.save_npz(folder / "X.trn.npz", sp.random(3, 8, density=0.5, format="csr", random_state=0))
    return folder


@pytest.mark.parametrize("label_format", ["npz", "txt"])
def test_pecos_layout(tmp_path, label_format):
    folder = make_pecos(tmp_path / "pecos", label_format)
    assert detect_layout(folder) == "pecos"
    xmc = load_xmc_dataset(folder)
    assert xmc.vocabulary.labels == ["dessert", "fruit", "baked"]
    assert xmc.vocabulary.counts.tolist() == [3, 2, 2]
    assert [sorted(xmc.vocabulary.decode(ids)) for ids in xmc["train"]["labels"]] == [
        ["baked", "dessert", "fruit"],
        ["dessert", "fruit"],
        ["baked", "dessert"],
    ]
    assert sorted(xmc.vocabulary.decode(xmc["train"][0]["labels"])) == ["baked", "dessert", "fruit"]
    assert xmc.vocabulary.decode(xmc["test"][0]["labels"]) == ["baked"]
    assert xmc.features["train"].shape == (3, 8)


def test_pecos_bad_input(tmp_path):
    folder = make_pecos(tmp_path / "pecos", "txt")
    write(folder / "Y.trn.txt", "0,1,2\n0,7\n1,2\n")
    with pytest.raises(XMCInputError, match="Y.trn.txt:2: label id 7 is out of range"):
        load_xmc_dataset(folder)
    write(folder / "Y.trn.txt", "0,1,2\n0,x\n1,2\n")
    with pytest.raises(XMCInputError, match="Y.trn.txt:2: label id 'x' is not an integer"):
        load_xmc_dataset(folder)
    write(folder / "Y.trn.txt", "0\n1\n")
    with pytest.raises(XMCInputError, match="3 documents but 2 label lines"):
        load_xmc_dataset(folder)


def test_datasets_object_with_label_strings_and_ids():
    train = datasets.Dataset.from_dict({"body": ["a", "b", "c"], "tags": [["x", "y"], ["y"], []], "id": [7, 8, 9]})
    test = datasets.Dataset.from_dict({"body": ["d"], "tags": [["z", "y"]], "id": [10]})
    xmc = load_xmc_dataset(datasets.DatasetDict(train=train, test=test), text_column="body", label_column="tags")
    assert xmc.vocabulary.labels == ["y", "x", "z"]
    assert xmc["train"]["labels"] == [[1, 0], [0], []] and xmc["test"]["labels"] == [[2, 0]]
    assert xmc["train"]["text"] == ["a", "b", "c"] and xmc["train"]["id"] == [7, 8, 9]
    with pytest.raises(XMCInputError, match="unknown label 'z'"):
        load_xmc_dataset(
            datasets.DatasetDict(train=train, test=test),
            text_column="body",
            label_column="tags",
            label_names=["x", "y"],
        )
    with pytest.raises(XMCInputError, match="no column 'text'"):
        load_xmc_dataset(train)
    ids = datasets.Dataset.from_dict({"text": ["a", "b"], "labels": [[2], [2, 0]]})
    xmc = load_xmc_dataset(ids, label_names=["p", "q", "r"], validation_size=1, seed=0)
    assert xmc.vocabulary.labels[0] in ("r", "p") and len(xmc["validation"]) == 1
    classlabel = datasets.Dataset.from_dict(
        {"text": ["a"], "labels": [[1]]},
        features=datasets.Features(
            {"text": datasets.Value("string"), "labels": datasets.List(datasets.ClassLabel(names=["neg", "pos"]))}
        ),
    )
    assert load_xmc_dataset(classlabel).vocabulary.labels == ["pos", "neg"]
    with pytest.raises(XMCInputError, match="row 1: empty text"):
        load_xmc_dataset(datasets.Dataset.from_dict({"text": ["a", ""], "labels": [[0], [0]]}))


def test_datasets_view_after_select_keeps_rows_aligned():
    data = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "labels": [["x"], ["y"], ["z"]]}).select([2, 0])
    xmc = load_xmc_dataset(data)
    assert xmc["train"]["text"] == ["c", "a"] and xmc.vocabulary.decode(xmc["train"]["labels"][0]) == ["z"]


def test_parquet_layout_round_trip_and_load_dataset(tmp_path):
    train = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "labels": [["x", "y"], ["y"], []]})
    test = datasets.Dataset.from_dict({"text": ["d"], "labels": [["z"]]})
    xmc = load_xmc_dataset(datasets.DatasetDict(train=train, test=test), name="toy")
    folder = save_xmc_dataset_parquet(xmc, tmp_path / "toy", license="mit")
    assert detect_layout(folder) == "parquet"
    again = load_xmc_dataset(folder)
    assert again.vocabulary == xmc.vocabulary
    assert again["train"]["labels"] == xmc["train"]["labels"] and again["test"]["text"] == ["d"]
    # a plain `datasets` user reads the same folder, the label vocabulary as its own config
    plain = datasets.load_dataset(str(folder))
    assert plain["train"]["labels"] == xmc["train"]["labels"]
    labels = datasets.load_dataset(str(folder), "labels", split="train")
    assert labels["label"] == xmc.vocabulary.labels and labels["count"] == xmc.vocabulary.counts.tolist()
    card = (folder / "README.md").read_text()
    assert "config_name: labels" in card and "multi-label-classification" in card and "license: mit" in card


@pytest.mark.real_data
def test_parquet_keeps_features_and_label_texts(debtags_dir, xmc_repo_dir, tmp_path):
    bibtex = load_xmc_dataset(xmc_repo_dir / "Bibtex")
    again = load_xmc_dataset(save_xmc_dataset_parquet(bibtex, tmp_path / "bibtex"))
    assert (again.features["test"] != bibtex.features["test"]).nnz == 0
    assert again.vocabulary == bibtex.vocabulary


def test_hub_repo_id_downloads_the_parquet_layout(tmp_path, monkeypatch):
    import huggingface_hub

    train = datasets.Dataset.from_dict({"text": ["a"], "labels": [["x"]]})
    folder = save_xmc_dataset_parquet(load_xmc_dataset(train), tmp_path / "snapshot")
    calls = []

    def fake_snapshot_download(repo_id, repo_type=None, revision=None):
        calls.append((repo_id, repo_type))
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    xmc = load_xmc_dataset("someone/tiny-xmc")
    assert calls == [("someone/tiny-xmc", "dataset")] and xmc.name == "someone/tiny-xmc"
    assert xmc.vocabulary.labels == ["x"]


def test_unknown_folder_layout_is_a_clear_error(tmp_path):
    write(tmp_path / "odd" / "notes.md", "hello")
    with pytest.raises(XMCInputError, match="cannot tell the layout"):
        load_xmc_dataset(tmp_path / "odd")


def _check_repeat_counted_once(xmc, expected_labels, removed):
    np.testing.assert_array_equal(xmc.label_frequencies(), xmc.vocabulary.counts)
    assert xmc.vocabulary.is_frequency_sorted() and xmc.vocabulary.labels == expected_labels
    assert xmc.duplicate_labels_removed == removed
    assert all(len(set(ids)) == len(ids) for split in xmc.splits.values() for ids in split["labels"])


def test_attentionxml_label_repeated_on_a_line_counts_once(tmp_path):
    folder = tmp_path / "axml"
    write(folder / "train_texts.txt", "a\nb\nc\n")
    write(folder / "train_labels.txt", "x y y y\nx\nz\n")  # y counted 3 times would outrank x
    write(folder / "test_texts.txt", "d\n")
    write(folder / "test_labels.txt", "z z\n")
    xmc = load_xmc_dataset(folder)
    _check_repeat_counted_once(xmc, ["x", "y", "z"], {"train": 2, "test": 1})
    assert xmc.vocabulary.counts.tolist() == [2, 1, 1]


@pytest.mark.parametrize("label_format", ["npz", "txt"])
def test_pecos_label_repeated_for_a_document_counts_once(tmp_path, label_format):
    folder = make_pecos(tmp_path / "pecos", label_format)
    if label_format == "txt":
        write(folder / "Y.trn.txt", "2,2,2\n0\n0,1\n")
    else:  # a non-canonical matrix: (0, 2) stored three times
        train = sp.csr_matrix((np.ones(6, np.float32), [2, 2, 2, 0, 0, 1], [0, 3, 4, 6]), shape=(3, 3))
        sp.save_npz(folder / "Y.trn.npz", train)
    xmc = load_xmc_dataset(folder)
    _check_repeat_counted_once(xmc, ["fruit", "dessert", "baked"], {"train": 2})
    assert xmc.vocabulary.counts.tolist() == [2, 1, 1]


def test_parquet_and_datasets_labels_repeated_in_a_row_count_once(tmp_path):
    train = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "labels": [["y", "y", "y"], ["x"], ["x"]]})
    xmc = load_xmc_dataset(train)
    _check_repeat_counted_once(xmc, ["x", "y"], {"train": 2})
    ids = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "labels": [[1, 1, 1], [0], [0]]})
    _check_repeat_counted_once(load_xmc_dataset(ids), ["0", "1"], {"train": 2})
    # a parquet folder written by another tool, with a repeated id in a row
    folder = save_xmc_dataset_parquet(xmc, tmp_path / "pq")
    datasets.Dataset.from_dict({"text": ["a", "b", "c"], "labels": [[1, 1, 1], [0], [0]]}).to_parquet(
        str(folder / "data" / "train-00000-of-00001.parquet")
    )
    _check_repeat_counted_once(load_xmc_dataset(folder), ["x", "y"], {"train": 2})


def test_parquet_keeps_the_evaluation_filter_pairs(tmp_path):
    folder = tmp_path / "lf"
    folder.mkdir()
    records = {
        "trn": [{"uid": "a", "title": "t", "content": "c", "target_ind": [1]}],
        "tst": [
            {"uid": "b", "title": "t", "content": "c", "target_ind": [0]},
            {"uid": "c", "title": "t", "target_ind": [1]},
        ],
        "lbl": [{"uid": "L0", "title": "zero"}, {"uid": "L1", "title": "one"}],
    }
    for stem, rows in records.items():
        write(folder / f"{stem}.json", "".join(json.dumps(row) + "\n" for row in rows))
    write(folder / "filter_labels_test.txt", "1 0\n")
    xmc = load_xmc_dataset(folder)
    assert xmc.filter_pairs["test"].toarray().tolist() == [[0, 0], [0, 1]]  # L0 has id 1 (no training doc)
    again = load_xmc_dataset(save_xmc_dataset_parquet(xmc, tmp_path / "pq"))
    assert set(again.filter_pairs) == {"test"}
    assert (again.filter_pairs["test"] != xmc.filter_pairs["test"]).nnz == 0

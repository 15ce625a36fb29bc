"""Specification of the LF raw-text reader, the embedded `debtags` default and `XMCDataset`.

The real files are `../shared/data/debtags` (PROVENANCE.md: 21,229 train / 9,071 test docs, 598 labels, 116 labels
with 5 or fewer training docs, 9 labels only in test) and their copy shipped inside the package. Bad-input cases use
small LF files written here from the format description.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import scipy.sparse as sp
from datasets import List, Value

from hf_xmc.data import XMCInputError, load_xmc_dataset
from hf_xmc.data.loading import builtin_dataset_path


def write_lf(directory, train, test=None, labels=None, gz=True):
    directory.mkdir(parents=True, exist_ok=True)
    labels = (
        labels if labels is not None else [{"uid": f"L{i}", "title": f"label {i}", "content": ""} for i in range(4)]
    )
    suffix = ".json.gz" if gz else ".json"
    opener = gzip.open if gz else open
    for stem, records in (("trn", train), ("tst", test), ("lbl", labels)):
        if records is None:
            continue
        with opener(directory / f"{stem}{suffix}", "wt", encoding="utf-8") as handle:
            for record in records:
                handle.write(record if isinstance(record, str) else json.dumps(record))
                handle.write("\n")
    return directory


def doc(uid, targets, title="t", content="c"):
    return {"uid": uid, "title": title, "content": content, "target_ind": targets, "target_rel": [1.0] * len(targets)}


@pytest.fixture(scope="module")
def debtags():
    return load_xmc_dataset("debtags")


def test_embedded_debtags_loads_without_shared_data(debtags):
    path = builtin_dataset_path("debtags")
    assert "resources" in str(path) and (path / "PROVENANCE.md").is_file()
    assert {split: len(dataset) for split, dataset in debtags.splits.items()} == {"train": 21229, "test": 9071}
    assert debtags.num_labels == 598
    assert debtags.features is None


def test_debtags_counts_equal_provenance(debtags):
    stats = debtags.describe()
    assert stats["train_docs"] == 21229 and stats["test_docs"] == 9071 and stats["num_labels"] == 598
    assert stats["unseen_test_labels"] == 9 and stats["labels_without_train_docs"] == 9
    assert stats["tail_labels_le5_docs"] == 116
    assert stats["train_docs_with_no_label"] == 0
    assert stats["train_labels_per_doc"] == pytest.approx(3.687, abs=1e-3)


def test_debtags_columns_vocabulary_and_text(debtags):
    train = debtags["train"]
    assert train.features["labels"] == List(Value("int64"))
    assert set(train.column_names) == {"uid", "title", "content", "text", "labels"}
    row = train[0]
    assert row["text"] == row["title"] + " " + row["content"]
    vocabulary = debtags.vocabulary
    assert vocabulary.is_frequency_sorted()
    assert vocabulary.counts.sum() == debtags.label_matrix("train").nnz
    np.testing.assert_array_equal(debtags.label_frequencies(), vocabulary.counts)
    assert vocabulary.texts is not None and vocabulary.descriptions is not None
    assert vocabulary.labels[0] == "devel::library" and vocabulary.texts[0] == "Libraries"
    # the 9 labels never seen in training hold the last ids
    assert (vocabulary.counts[-9:] == 0).all() and (vocabulary.counts[:-9] > 0).all()


@pytest.mark.real_data
def test_shared_debtags_round_trips_label_strings(debtags_dir):
    xmc = load_xmc_dataset(debtags_dir)
    with gzip.open(debtags_dir / "lbl.json.gz", "rt") as handle:
        label_uids = [json.loads(line)["uid"] for line in handle]
    with gzip.open(debtags_dir / "tst.json.gz", "rt") as handle:
        first_test = json.loads(handle.readline())
    # PROVENANCE: lbl.json.gz is already in decreasing training frequency, so the vocabulary keeps its order
    assert xmc.vocabulary.labels == label_uids
    row = xmc["test"][0]
    assert row["uid"] == first_test["uid"]
    assert sorted(xmc.vocabulary.decode(row["labels"])) == sorted(label_uids[i] for i in first_test["target_ind"])
    assert xmc.label_matrix("test").shape == (9071, 598)


@pytest.mark.real_data
def test_validation_is_carved_from_train(debtags_dir):
    xmc = load_xmc_dataset(debtags_dir, validation_size=0.1, seed=3)
    assert len(xmc["validation"]) == 2123 and len(xmc["train"]) == 21229 - 2123 and len(xmc["test"]) == 9071
    assert not set(xmc["validation"]["uid"]) & set(xmc["train"]["uid"])
    # frequencies come from the final training split only
    np.testing.assert_array_equal(xmc.vocabulary.counts, xmc.label_frequencies())
    assert xmc.vocabulary.num_train_docs == len(xmc["train"])


def test_validation_carving_is_seeded(tmp_path):
    directory = write_lf(tmp_path / "lf", [doc(f"d{i}", [i % 4]) for i in range(40)])
    first = load_xmc_dataset(directory, validation_size=0.25, seed=3)
    assert len(first["validation"]) == 10 and len(first["train"]) == 30
    assert first["validation"]["uid"] == load_xmc_dataset(directory, validation_size=0.25, seed=3)["validation"]["uid"]
    assert first["validation"]["uid"] != load_xmc_dataset(directory, validation_size=0.25, seed=4)["validation"]["uid"]
    assert len(load_xmc_dataset(directory, validation_size=7)["validation"]) == 7
    with pytest.raises(ValueError, match="validation_size"):
        load_xmc_dataset(directory, validation_size=40)


def test_small_lf_set_remaps_ids_and_keeps_unlabelled_docs(tmp_path):
    train = [doc("a", [2]), doc("b", [2, 0]), doc("c", [])]
    directory = write_lf(tmp_path / "lf", train, [doc("d", [3, 1])], gz=False)
    xmc = load_xmc_dataset(directory)
    assert xmc.vocabulary.labels == ["L2", "L0", "L1", "L3"]
    assert xmc["train"]["labels"] == [[0], [0, 1], []]
    assert xmc["test"]["labels"] == [[3, 2]]
    stats = xmc.describe()
    assert stats["train_docs_with_no_label"] == 1 and stats["unseen_test_labels"] == 2
    assert sp.isspmatrix_csr(xmc.label_matrix("train"))
    # a reordered view of a split (select / shuffle) gets the label matrix of its own rows
    xmc.splits["train"] = xmc["train"].select([1, 2, 0])
    assert xmc.label_matrix("train").toarray().tolist() == [[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]]


@pytest.mark.parametrize(
    "records, message, line",
    [
        ([json.dumps(doc("a", [0])), "{not json"], "invalid JSON", 2),
        ([doc("a", [0]), doc("b", [4])], "target_ind 4 is out of range", 2),
        ([doc("a", [0]), doc("b", [-1])], "target_ind -1 is out of range", 2),
        ([doc("a", [0]), {"uid": "b", "title": "t", "content": "c"}], "missing field 'target_ind'", 2),
        ([doc("a", [0]), doc("b", [1, "x"])], "list of integer label ids", 2),
        ([doc("a", [0]), doc("b", [1], title="", content=" ")], "empty text", 2),
        ([json.dumps(doc("a", [0])), "", json.dumps(doc("b", [0]))], "empty line", 2),
    ],
)
def test_bad_lf_input_names_file_line_and_problem(tmp_path, records, message, line):
    directory = write_lf(tmp_path / "bad", records)
    with pytest.raises(XMCInputError, match=message) as error:
        load_xmc_dataset(directory)
    assert str(error.value).startswith(f"{directory / 'trn.json.gz'}:{line}:")


def test_missing_and_empty_lf_files(tmp_path):
    directory = write_lf(tmp_path / "nolabels", [doc("a", [0])])
    (directory / "lbl.json.gz").unlink()
    with pytest.raises(XMCInputError, match="layout"):
        load_xmc_dataset(directory)
    with pytest.raises(XMCInputError, match="missing label file"):
        load_xmc_dataset(directory, layout="lf")
    empty = write_lf(tmp_path / "empty", [])
    with pytest.raises(XMCInputError, match="trn.json.gz: the file is empty"):
        load_xmc_dataset(empty)
    duplicated = write_lf(tmp_path / "dup", [doc("a", [0])], labels=[{"uid": "x", "title": "t"}] * 2)
    with pytest.raises(XMCInputError, match="lbl.json.gz:2: duplicated label uid 'x'"):
        load_xmc_dataset(duplicated)


def test_empty_text_can_be_allowed_explicitly(tmp_path):
    directory = write_lf(tmp_path / "ok", [doc("a", [0], title="", content="")])
    assert load_xmc_dataset(directory, allow_empty_text=True)["train"]["text"] == [" "]


def test_unknown_name_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="neither a built-in data set"):
        load_xmc_dataset("no-such-dataset")

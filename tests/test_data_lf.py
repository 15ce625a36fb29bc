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

from hf_xmc.data import XMCInputError, inverse_propensity, load_xmc_dataset
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
    assert load_xmc_dataset(directory, allow_empty_text=True)["train"]["text"] == [""]


def test_unknown_name_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="neither a built-in data set"):
        load_xmc_dataset("no-such-dataset")


def test_text_of_a_document_with_an_empty_title_or_content_has_no_stray_space(tmp_path):
    train = [doc("a", [0], title="", content="only content"), doc("b", [0], title=" ", content="x y")]
    train += [doc("c", [0], title="only title", content=""), doc("d", [0], title="t", content="c")]
    xmc = load_xmc_dataset(write_lf(tmp_path / "lf", train))
    assert xmc["train"]["text"] == ["only content", "x y", "only title", "t c"]
    # the raw fields stay as they are in the file
    assert xmc["train"]["title"] == ["", " ", "only title", "t"]


@pytest.mark.parametrize(
    "lines, message, line",
    [
        # two objects on one line: every later line number would shift by one
        (
            [doc("a", [0]), json.dumps(doc("b", [1])) + " " + json.dumps(doc("c", [2])), doc("d", [3])],
            "more than one JSON value on this line",
            2,
        ),
        # one object spread over two lines
        ([doc("a", [0]), json.dumps(doc("b", [1]), indent=1), doc("d", [3])], "does not end on this line", 2),
        (
            [doc("a", [0]), '{"uid": "b", "title": "t",', '"content": "c", "target_ind": [1]}'],
            "spread over several lines",
            2,
        ),
        ([doc("a", [0]), "   ", doc("b", [0])], "empty line", 2),
    ],
)
def test_a_line_must_hold_exactly_one_json_object(tmp_path, lines, message, line):
    directory = write_lf(tmp_path / "bad", lines, gz=False)
    with pytest.raises(XMCInputError, match=message) as error:
        load_xmc_dataset(directory)
    assert str(error.value).startswith(f"{directory / 'trn.json'}:{line}:")


def test_one_object_a_line_with_crlf_endings_and_padding_spaces_loads(tmp_path):
    directory = tmp_path / "lf"
    write_lf(directory, [doc("a", [0])], gz=False)
    records = [json.dumps(doc("a", [0])), " " + json.dumps(doc("b", [1])) + "  ", json.dumps(doc("c", [1]))]
    (directory / "trn.json").write_bytes(("\r\n".join(records) + "\r\n").encode())
    assert load_xmc_dataset(directory)["train"]["uid"] == ["a", "b", "c"]


@pytest.mark.parametrize("gz", [True, False])
def test_a_label_repeated_in_one_document_counts_once_everywhere(tmp_path, caplog, gz):
    # L1 is listed twice in doc "a": with double counting it would outrank L0 (2 docs) and change the id order
    train = [doc("a", [1, 1, 1]), doc("b", [0]), doc("c", [0, 2])]
    directory = write_lf(tmp_path / "lf", train, [doc("t", [3, 3, 0])], gz=gz)
    with caplog.at_level("WARNING", logger="hf_xmc.data.assembly"):
        xmc = load_xmc_dataset(directory)
    assert xmc.vocabulary.labels[:2] == ["L0", "L1"]
    np.testing.assert_array_equal(xmc.vocabulary.counts, [2, 1, 1, 0])
    np.testing.assert_array_equal(xmc.vocabulary.counts, np.asarray(xmc.label_matrix("train").sum(axis=0)).ravel())
    np.testing.assert_array_equal(xmc.label_frequencies(), xmc.vocabulary.counts)
    assert xmc["train"]["labels"] == [[1], [0], [0, 2]] and xmc["test"]["labels"] == [[3, 0]]
    assert xmc.duplicate_labels_removed == {"train": 2, "test": 1}
    assert xmc.describe()["train_duplicate_labels_removed"] == 2
    assert "2 label(s) repeated within a train document were removed" in caplog.text
    # the propensities follow the de-duplicated counts
    np.testing.assert_allclose(xmc.vocabulary.propensities()[:2], inverse_propensity(np.array([2, 1]), 3))


def write_filter(directory, split, pairs, text=None):
    path = directory / f"filter_labels_{split}.txt"
    path.write_text(text if text is not None else "".join(f"{doc_index} {label}\n" for doc_index, label in pairs))
    return path


def test_filter_label_files_are_kept_in_vocabulary_ids(tmp_path):
    # lbl order L0..L3; training frequency makes the vocabulary L2, L0, L1, L3
    train = [doc("a", [2]), doc("b", [2, 0]), doc("c", [1, 2])]
    test = [doc("t0", [0, 3]), doc("t1", [2]), doc("t2", [1])]
    directory = write_lf(tmp_path / "lf", train, test)
    write_filter(directory, "test", [(0, 3), (2, 1), (2, 0), (0, 3)])
    write_filter(directory, "train", [])
    xmc = load_xmc_dataset(directory)
    assert xmc.vocabulary.labels == ["L2", "L0", "L1", "L3"]
    mask = xmc.filter_pairs["test"]
    assert sp.isspmatrix_csr(mask) and mask.shape == (3, 4)
    # (0, L3) -> id 3, (2, L1) -> id 2, (2, L0) -> id 1; a repeated pair counts once
    assert mask.toarray().astype(int).tolist() == [[0, 0, 0, 1], [0, 0, 0, 0], [0, 1, 1, 0]]
    assert xmc.filter_pairs["train"].nnz == 0 and xmc.filter_pairs["train"].shape == (3, 4)
    assert xmc.describe()["test_filter_pairs"] == 3
    # no filter files: no filter pairs
    assert load_xmc_dataset(write_lf(tmp_path / "plain", train, test)).filter_pairs == {}


def test_filter_pairs_follow_the_validation_carving(tmp_path):
    train = [doc(f"d{i}", [i % 4]) for i in range(20)]
    directory = write_lf(tmp_path / "lf", train, [doc("t", [0])])
    write_filter(directory, "train", [(i, (i + 1) % 4) for i in range(20)])
    xmc = load_xmc_dataset(directory, validation_size=5, seed=1)
    for split in ("train", "validation"):
        uids = xmc[split]["uid"]
        rows = xmc.filter_pairs[split]
        assert rows.shape == (len(uids), 4)
        for row, uid in enumerate(uids):
            source_label = (int(uid[1:]) + 1) % 4
            assert xmc.vocabulary.decode(rows[row].indices) == [f"L{source_label}"]


@pytest.mark.parametrize(
    "text, message, line",
    [
        ("0 1\n1 x\n", "expected two integers", 2),
        ("0 1\n0 1 2\n", "expected two integers", 2),
        ("0 1\n\n3 0\n", "document index 3 is out of range: the split has 3 documents", 3),
        ("0 4\n", "label index 4 is out of range: lbl has 4 labels", 1),
        ("-1 0\n", "document index -1 is out of range", 1),
    ],
)
def test_bad_filter_file_names_file_line_and_problem(tmp_path, text, message, line):
    directory = write_lf(tmp_path / "lf", [doc("a", [0])], [doc("t0", [0]), doc("t1", [1]), doc("t2", [1])])
    path = write_filter(directory, "test", None, text=text)
    with pytest.raises(XMCInputError, match=message) as error:
        load_xmc_dataset(directory)
    assert str(error.value).startswith(f"{path}:{line}:")


def test_the_label_file_also_holds_one_json_object_a_line(tmp_path):
    labels = [json.dumps({"uid": "L0", "title": "a"}) + json.dumps({"uid": "L1", "title": "b"}), {"uid": "L2"}]
    directory = write_lf(tmp_path / "lf", [doc("a", [0])], labels=labels, gz=False)
    with pytest.raises(XMCInputError, match="lbl.json:1: more than one JSON value on this line"):
        load_xmc_dataset(directory)

"""Specification of the Extreme Classification Repository BoW reader.

Real file: `../shared/data/xmc-repo/Bibtex` (`Bibtex_data.txt`, header `7395 1836 159`, split files of 4,835 / 2,560
1-based rows). The two-file train/test variant, the headerless variant and every malformed case have no real sample
here: they are written by the tests from the format description (`N D L` header, lines `l1,l2 f:v ...`).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_svmlight_file

from hf_xmc.data import XMCInputError, bow_parser, load_xmc_dataset
from hf_xmc.data.bow import read_bow_file
from hf_xmc.data.bow_parser import parse_bow_lines


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.real_data
def test_bibtex_with_split_files_matches_header_and_provenance(xmc_repo_dir):
    xmc = load_xmc_dataset(xmc_repo_dir / "Bibtex")
    assert {split: len(data) for split, data in xmc.splits.items()} == {"train": 4835, "test": 2560}
    assert xmc.num_labels == 159
    assert xmc.features["train"].shape == (4835, 1836) and xmc.features["test"].shape == (2560, 1836)
    assert sp.isspmatrix_csr(xmc.features["train"]) and "text" not in xmc["train"].column_names
    assert xmc.vocabulary.is_frequency_sorted()
    stats = xmc.describe()
    assert stats["train_labels_per_doc"] * 4835 + stats["test_labels_per_doc"] * 2560 == pytest.approx(
        2.402 * 7395, rel=1e-3
    )


@pytest.mark.real_data
def test_bibtex_parse_equals_sklearn(xmc_repo_dir):
    path = xmc_repo_dir / "Bibtex" / "Bibtex_data.txt"
    bow = read_bow_file(path)
    data = path.read_bytes()
    features, labels = load_svmlight_file(io.BytesIO(data[data.index(b"\n") + 1 :]), multilabel=True, n_features=1836)
    assert bow.num_rows == 7395 and bow.num_labels == 159 and bow.has_header
    assert (bow.features != features).nnz == 0
    flat = np.concatenate([np.asarray(row, dtype=np.int64) for row in labels])
    np.testing.assert_array_equal(bow.label_ids, flat)
    # the vocabulary maps ids back to the file's label ids: row 0 of the file is "122,158"
    single = load_xmc_dataset(path)
    assert sorted(single.vocabulary.decode(single["train"][0]["labels"])) == ["122", "158"]


def test_split_column_is_chosen_by_the_user(tmp_path):
    folder = tmp_path / "toy"
    write(folder / "Toy_data.txt", "3 4 2\n0 0:1\n1 1:2\n0,1 2:3\n")
    write(folder / "toy_trSplit.txt", "1 2\n2 3\n")
    write(folder / "toy_tstSplit.txt", "3 1\n")
    first = load_xmc_dataset(folder, split_column=0)
    second = load_xmc_dataset(folder, split_column=1)
    assert first.features["test"].toarray().tolist() == [[0, 0, 3, 0]]
    assert second.features["test"].toarray().tolist() == [[1, 0, 0, 0]]
    with pytest.raises(XMCInputError, match="toy_trSplit.txt:1: split_column=2 does not exist"):
        load_xmc_dataset(folder, split_column=2)


def test_two_file_train_test_variant(tmp_path):
    folder = tmp_path / "two"
    write(folder / "toy_train.txt", "2 5 3\n2 0:0.5 4:1.25\n2,1 3:1\n")
    write(folder / "toy_test.txt", "1 5 3\n0 1:2\n")
    xmc = load_xmc_dataset(folder)
    assert xmc.vocabulary.labels[:2] == ["2", "1"] and xmc.vocabulary.labels[2] == "0"
    assert xmc["test"]["labels"] == [[2]]
    np.testing.assert_allclose(xmc.features["train"].toarray(), [[0.5, 0, 0, 0, 1.25], [0, 0, 0, 1, 0]])
    write(folder / "toy_test.txt", "1 6 3\n0 1:2\n")
    with pytest.raises(XMCInputError, match="dimensions differ"):
        load_xmc_dataset(folder)


def test_headerless_file_with_given_or_inferred_dimensions(tmp_path):
    path = write(tmp_path / "rows.txt", "3,1 0:1 5:2\n 2:0.5\n")
    bow = read_bow_file(path, num_features=10, num_labels=7)
    assert bow.features.shape == (2, 10) and bow.num_labels == 7 and not bow.has_header
    assert read_bow_file(path).features.shape == (2, 6)
    with pytest.raises(XMCInputError, match="rows.txt:1: feature id 5 is out of range"):
        read_bow_file(path, num_features=5)


def test_points_without_labels_are_kept_and_counted(tmp_path):
    path = write(tmp_path / "toy_data.txt", "3 3 2\n 0:1\n1 1:1\n 2:1\n")
    xmc = load_xmc_dataset(path)
    assert xmc["train"]["labels"][0] == [] and len(xmc["train"]) == 3
    assert xmc.describe()["train_docs_with_no_label"] == 2


@pytest.mark.parametrize("arrow", [True, False], ids=["arrow-numbers", "numpy-fallback"])
def test_values_are_parsed_exactly_like_float(monkeypatch, arrow):
    if not arrow:  # the validating numpy path must give the very same numbers
        monkeypatch.setattr(bow_parser, "_fast_numbers", lambda body, expected: None)
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.random(200) * 10.0 ** rng.integers(-3, 6, 200), [1e-7, -2.5e3, 0.0, 7.0]])
    texts = [repr(float(v)) for v in values] + ["12.", ".5", "+3.25", "-0.000125", "3.14159265358979323846"]
    body = "0 " + " ".join(f"{i}:{t}" for i, t in enumerate(texts)) + "\n"
    parsed = parse_bow_lines(body.encode(), "inline")
    np.testing.assert_array_equal(parsed.feature_values, [float(t) for t in texts])
    np.testing.assert_array_equal(parsed.feature_ids, np.arange(len(texts)))


def test_crlf_and_missing_final_newline(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"2 3 2\r\n0 1:1\r\n1 2:4")
    bow = read_bow_file(path)
    assert bow.features.toarray().tolist() == [[0, 1, 0], [0, 0, 4]]


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("2 3\n0 1:1\n1 2:1\n", 1, "bad header"),
        ("2 3 x\n0 1:1\n1 2:1\n", 1, "bad header"),
        ("3 3 2\n0 1:1\n1 2:1\n", 1, "header says 3 points but the file has 2"),
        ("2 3 2\n0 1:1\n1 2\n", 3, "expected 'feature:value'"),
        ("2 3 2\n0 1:1 2\n1 2:1\n", 2, "expected 'feature:value'"),
        ("2 3 2\n0 1:1:1\n1 2:1\n", 2, "expected 'feature:value'"),
        ("2 3 2\n0 1:1\n0 1:1,2:1\n", 3, "expected 'feature:value'"),
        ("2 3 2\n0 1:1\n2 1:1\n", 3, "label id 2 is out of range"),
        ("2 3 2\n0 1:1\n1 3:1\n", 3, "feature id 3 is out of range"),
        ("2 3 2\n0 1:1\n-1 1:1\n", 3, "label id '-1' is negative"),
        ("2 3 2\n0 1:1\n1 -1:1\n", 3, "feature id '-1' is negative"),
        ("2 3 2\n0 1:1\nx 1:1\n", 3, "label id 'x' is not a non-negative integer"),
        ("2 3 2\n0 1:abc\n1 1:1\n", 2, "feature value 'abc' is not a number"),
        ("2 3 2\n0 1:1\n1:1 2:1\n", 3, "label field"),
        ("2 3 2\n0,,1 1:1\n1 1:1\n", 2, "empty label id"),
        ("2 3 2\n0 1:1\n\n1 1:1\n", 3, "empty line"),
    ],
)
def test_malformed_lines_name_file_line_and_problem(tmp_path, text, line, message):
    path = write(tmp_path / "bad_data.txt", text)
    with pytest.raises(XMCInputError, match=message) as error:
        read_bow_file(path)
    assert str(error.value).startswith(f"{path}:{line}:")


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(XMCInputError, match="empty.txt: the file is empty"):
        read_bow_file(write(tmp_path / "empty.txt", ""))
    folder = tmp_path / "nosplit"
    write(folder / "Toy_data.txt", "1 2 2\n0 1:1\n")
    write(folder / "toy_trSplit.txt", "1\n")
    with pytest.raises(XMCInputError, match=r"expected one \*tstsplit\*.txt split file"):
        load_xmc_dataset(folder)
    write(folder / "toy_tstSplit.txt", "2\n")
    with pytest.raises(XMCInputError, match="toy_tstSplit.txt:1: row id 2 is out of range"):
        load_xmc_dataset(folder)
    with pytest.raises(FileNotFoundError):
        read_bow_file(tmp_path / "absent.txt")


def test_a_feature_repeated_within_one_line_is_rejected(tmp_path):
    # its two values would become a duplicate CSR entry (scikit-learn refuses those); summing would hide a broken file
    path = write(tmp_path / "toy_data.txt", "3 5 2\n0 0:1 3:2\n1 4:1 2:0.5 4:3\n0 1:1\n")
    with pytest.raises(XMCInputError, match="toy_data.txt:3: feature id 4 appears more than once on this line"):
        read_bow_file(path)
    headerless = write(tmp_path / "train_v1.txt", "0 1:1 1:1\n")
    with pytest.raises(XMCInputError, match="train_v1.txt:1: feature id 1 appears more than once"):
        read_bow_file(headerless)
    # unsorted but distinct feature ids are fine
    assert read_bow_file(write(tmp_path / "ok.txt", "1 4 2\n0 3:1 1:2\n")).features.toarray().tolist() == [
        [0, 2, 0, 1]
    ]


def test_a_label_repeated_within_one_line_counts_once(tmp_path, caplog):
    # label 1 is listed twice on line 2: counted twice it would outrank label 0 (two points)
    path = write(tmp_path / "toy_data.txt", "3 2 2\n0 0:1\n1,1 1:1\n0 1:2\n")
    with caplog.at_level("WARNING", logger="hf_xmc.data.assembly"):
        xmc = load_xmc_dataset(path)
    assert xmc.vocabulary.labels == ["0", "1"] and xmc.vocabulary.counts.tolist() == [2, 1]
    assert xmc["train"]["labels"] == [[0], [1], [0]]
    np.testing.assert_array_equal(xmc.label_frequencies(), xmc.vocabulary.counts)
    assert xmc.duplicate_labels_removed == {"train": 1} and "1 label(s) repeated" in caplog.text


@pytest.mark.parametrize(
    "train_split, test_split, message",
    [
        (
            "1\n2\n",
            "3\n2\n",
            r"row 2 is in both split files, .*toy_trSplit.txt \(line 2\) and .*toy_tstSplit.txt \(line 2\)",
        ),
        ("1\n2\n1\n", "3\n", r"toy_trSplit.txt:3: row 1 is listed twice in this split file \(lines 1 and 3\)"),
        ("1\n2\n", "3\n\n3\n", r"toy_tstSplit.txt:3: row 3 is listed twice in this split file \(lines 1 and 3\)"),
    ],
)
def test_a_row_in_two_splits_or_twice_in_one_is_leakage(tmp_path, train_split, test_split, message):
    folder = tmp_path / "toy"
    write(folder / "Toy_data.txt", "3 4 2\n0 0:1\n1 1:2\n0,1 2:3\n")
    write(folder / "toy_trSplit.txt", train_split)
    write(folder / "toy_tstSplit.txt", test_split)
    with pytest.raises(XMCInputError, match=message):
        load_xmc_dataset(folder)
    # the same check for explicit split files next to a single data file
    with pytest.raises(XMCInputError, match=message):
        load_xmc_dataset(
            folder / "Toy_data.txt", split_files=(folder / "toy_trSplit.txt", folder / "toy_tstSplit.txt")
        )

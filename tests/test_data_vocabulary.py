"""Specification of `LabelVocabulary`, the label matrix helpers and the propensity formula."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp

from hf_xmc.data import (
    LABEL_VOCABULARY_FILE,
    LabelVocabulary,
    XMCInputError,
    build_label_matrix,
    inverse_propensity,
    label_counts,
)

pytest_plugins = ["hub_fixtures"]  # the loopback Hub (`fake_hub`, `unique_repo_id`)

TRAIN = [["b", "a"], ["c", "b"], ["b"], ["a", "d"], []]


def test_ids_follow_decreasing_training_frequency_with_stable_ties():
    vocabulary = LabelVocabulary.from_label_lists(TRAIN)
    # b: 3, a: 2, c: 1, d: 1 -> c before d because c is seen first
    assert vocabulary.labels == ["b", "a", "c", "d"]
    assert vocabulary.counts.tolist() == [3, 2, 1, 1]
    assert vocabulary.num_train_docs == 5
    assert vocabulary.is_frequency_sorted()
    assert len(vocabulary) == 4
    assert vocabulary.label_to_id == {"b": 0, "a": 1, "c": 2, "d": 3}


def test_a_label_repeated_within_a_document_counts_once(caplog):
    # "d" listed three times in one document must not outrank "a" (two documents)
    with caplog.at_level("WARNING", logger="hf_xmc.data.vocabulary"):
        vocabulary = LabelVocabulary.from_label_lists([["a"], ["a", "d", "d", "d"]])
    assert vocabulary.labels == ["a", "d"] and vocabulary.counts.tolist() == [2, 1]
    assert "2 label(s) repeated" in caplog.text
    matrix = build_label_matrix([vocabulary.encode(["a"]), vocabulary.encode(["a", "d", "d", "d"])], len(vocabulary))
    np.testing.assert_array_equal(label_counts(matrix), vocabulary.counts)


def test_labels_never_seen_in_training_come_last_in_source_order():
    vocabulary = LabelVocabulary.from_label_lists(TRAIN, all_labels=["z", "a", "b", "c", "d", "y"])
    assert vocabulary.labels == ["b", "a", "c", "d", "z", "y"]
    assert vocabulary.counts.tolist() == [3, 2, 1, 1, 0, 0]
    assert vocabulary.num_unseen_labels == 2


def test_training_label_missing_from_all_labels_is_an_error():
    with pytest.raises(XMCInputError, match="'c'"):
        LabelVocabulary.from_label_lists(TRAIN, all_labels=["a", "b", "d"])


def test_texts_follow_their_labels_through_the_sort():
    vocabulary = LabelVocabulary.from_label_lists(TRAIN, texts={"a": "A", "b": "B", "c": "C", "d": "D"})
    assert vocabulary.texts == ["B", "A", "C", "D"]
    assert vocabulary.label_texts([1, 0]) == ["A", "B"]
    with pytest.raises(XMCInputError, match="no text"):
        LabelVocabulary.from_label_lists(TRAIN, texts={"a": "A"})


def test_encode_decode_round_trip_and_clear_errors():
    vocabulary = LabelVocabulary.from_label_lists(TRAIN)
    assert vocabulary.encode(["d", "b"]) == [3, 0]
    assert vocabulary.decode([3, 0]) == ["d", "b"]
    assert vocabulary.decode(np.array([1])) == ["a"]
    with pytest.raises(XMCInputError, match="unknown label.*'nope'"):
        vocabulary.encode(["a", "nope"])
    with pytest.raises(XMCInputError, match="out of range"):
        vocabulary.decode([4])
    with pytest.raises(XMCInputError, match="out of range"):
        vocabulary.decode([-1])


def test_from_counts_returns_the_source_to_id_map():
    vocabulary, source_to_id = LabelVocabulary.from_counts(["x", "y", "z"], [1, 5, 1], num_train_docs=6)
    assert vocabulary.labels == ["y", "x", "z"]
    assert source_to_id.tolist() == [1, 0, 2]


def test_save_and_load_round_trip(tmp_path):
    vocabulary = LabelVocabulary.from_label_lists(TRAIN, texts=["tb", "ta", "tc", "td"])
    path = vocabulary.save_pretrained(tmp_path / "model")
    assert path.endswith(LABEL_VOCABULARY_FILE)
    data = json.loads((tmp_path / "model" / LABEL_VOCABULARY_FILE).read_text())
    assert set(data) >= {"labels", "texts", "counts", "num_train_docs"}
    restored = LabelVocabulary.from_pretrained(tmp_path / "model")
    assert restored == vocabulary
    assert restored.counts.dtype == np.int64


def test_from_pretrained_reads_a_hub_repo(tmp_path, fake_hub, unique_repo_id):
    from huggingface_hub import HfApi

    vocabulary = LabelVocabulary.from_label_lists(TRAIN)
    api = HfApi()
    api.create_repo(unique_repo_id)
    api.upload_file(
        path_or_fileobj=vocabulary.save_pretrained(tmp_path),
        path_in_repo=LABEL_VOCABULARY_FILE,
        repo_id=unique_repo_id,
    )
    assert LabelVocabulary.from_pretrained(unique_repo_id) == vocabulary


def test_from_pretrained_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=LABEL_VOCABULARY_FILE):
        LabelVocabulary.from_pretrained(tmp_path)
    (tmp_path / LABEL_VOCABULARY_FILE).write_text('{"labels": ["a"]}')
    with pytest.raises(XMCInputError, match="missing the key"):
        LabelVocabulary.from_pretrained(tmp_path)
    (tmp_path / LABEL_VOCABULARY_FILE).write_text('{"labels": [')
    with pytest.raises(XMCInputError, match=f"{LABEL_VOCABULARY_FILE}:1:"):
        LabelVocabulary.from_pretrained(tmp_path)


def test_propensities_match_the_jain_et_al_formula():
    vocabulary = LabelVocabulary.from_label_lists(TRAIN)
    a, b, n = 0.55, 1.5, 5
    c = (math.log(n) - 1) * (b + 1) ** a
    expected = [1 + c * (count + b) ** (-a) for count in [3, 2, 1, 1]]
    np.testing.assert_allclose(vocabulary.propensities(), expected)
    np.testing.assert_allclose(
        vocabulary.propensities(propensity="amazon"), inverse_propensity([3, 2, 1, 1], 5, a=0.6, b=2.6)
    )
    # rarer labels get larger inverse propensities
    assert np.all(np.diff(vocabulary.propensities()) >= 0)


def test_build_label_matrix_and_counts():
    matrix = build_label_matrix([[0, 2], [], [2, 2, 1]], num_labels=4)
    assert sp.isspmatrix_csr(matrix) and matrix.shape == (3, 4)
    assert matrix.toarray().tolist() == [[1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 1, 0]]
    assert label_counts(matrix).tolist() == [1, 1, 2, 0]
    assert label_counts(matrix.toarray()).tolist() == [1, 1, 2, 0]
    with pytest.raises(XMCInputError, match="out of range"):
        build_label_matrix([[0, 4]], num_labels=4)
    with pytest.raises(XMCInputError, match="out of range"):
        build_label_matrix([[-1]], num_labels=4)

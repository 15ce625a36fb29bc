"""`compute_xmc_metrics` on the inputs a data set hands out: `datasets` columns, any sequence of sequences, and the
evaluation filter pairs of LF sets (`exclude=`), checked against the Extreme Classification Repository's procedure
(zero the filtered entries of the score matrix and of the ground truth, drop them, then score)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import datasets
import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp

from hf_xmc.data import load_xmc_dataset
from hf_xmc.metrics import compute_xmc_metrics, top_k_ids
from hf_xmc.metrics.exclusion import max_excluded_per_row

REFERENCES = [[1, 2], [0], [], [3, 0, 4]]
PREDICTIONS = [[3, 1, 7], [0, 2, 5], [4, 1, 0], [0, 4, 2]]


class Rows(Sequence):
    """A read-only sequence that is neither a list nor a tuple (as a user's own container would be)."""

    def __init__(self, rows):
        self._rows = [tuple(row) for row in rows]

    def __len__(self):
        return len(self._rows)

    def __getitem__(self, index):
        return self._rows[index]


def test_a_datasets_column_and_any_sequence_of_sequences_are_accepted():
    expected = compute_xmc_metrics(PREDICTIONS, REFERENCES, k=[1, 3], num_labels=8)
    table = datasets.Dataset.from_dict({"labels": REFERENCES, "predicted": PREDICTIONS})
    forms = {
        "Column": (table["predicted"], table["labels"]),
        "Column of a select() view": (
            table.select([3, 2, 1, 0]).select([3, 2, 1, 0])["predicted"],
            table.select([3, 2, 1, 0]).select([3, 2, 1, 0])["labels"],
        ),
        "tuples": (tuple(map(tuple, PREDICTIONS)), tuple(map(tuple, REFERENCES))),
        "own Sequence": (Rows(PREDICTIONS), Rows(REFERENCES)),
        "generator": ((row for row in PREDICTIONS), (row for row in REFERENCES)),
        "pyarrow": (pa.array(PREDICTIONS), pa.chunked_array([pa.array(REFERENCES[:2]), pa.array(REFERENCES[2:])])),
        "sliced pyarrow": (pa.array([[9]] + PREDICTIONS)[1:], pa.array([[5, 6]] + REFERENCES)[1:]),
    }
    for name, (predictions, references) in forms.items():
        got = compute_xmc_metrics(predictions, references, k=[1, 3], num_labels=8)
        assert got == pytest.approx(expected, abs=1e-12), name
    # the set metrics read the same forms
    assert compute_xmc_metrics(table["predicted"], table["labels"], average="set", num_labels=8) == pytest.approx(
        compute_xmc_metrics(PREDICTIONS, REFERENCES, average="set", num_labels=8)
    )


def test_the_labels_column_of_a_loaded_data_set_is_a_valid_reference(tmp_path):
    folder = write_lf_folder(tmp_path / "lf")
    xmc = load_xmc_dataset(folder)
    test = xmc.splits["test"]
    predictions = top_k_ids(np.random.default_rng(0).random((len(test), xmc.num_labels)), 3)
    got = compute_xmc_metrics(predictions, test["labels"], num_labels=xmc.num_labels)
    assert got == compute_xmc_metrics(predictions, [list(row) for row in test["labels"]], num_labels=xmc.num_labels)


def repository_procedure(scores: np.ndarray, references: np.ndarray, exclude: np.ndarray):
    """What the repository's evaluation scripts do: `score_mat[docs, lbls] = 0`, same for the ground truth,
    `eliminate_zeros()`, then score the sparse matrices."""
    filtered_scores = sp.csr_matrix(np.where(exclude, 0.0, scores))
    filtered_scores.eliminate_zeros()
    filtered_references = sp.csr_matrix(np.where(exclude, 0, references))
    filtered_references.eliminate_zeros()
    return filtered_scores, filtered_references


@pytest.mark.parametrize("seed", [0, 1])
def test_exclude_equals_the_repository_procedure_for_every_prediction_form(seed):
    rng = np.random.default_rng(seed)
    n, num_labels = 60, 30
    scores = rng.random((n, num_labels)) + 0.01
    references = (rng.random((n, num_labels)) < 0.12).astype(np.int64)
    # reciprocal pairs are often among the top-scored and the relevant labels: exclude some of both, and others
    exclude = (rng.random((n, num_labels)) < 0.05) | ((references == 1) & (rng.random((n, num_labels)) < 0.3))
    exclude[:, :2] |= rng.random((n, 2)) < 0.5  # popular labels, often near the top of a ranking
    options = dict(k=[1, 3, 5], label_counts=rng.integers(0, 40, num_labels), num_train_docs=200)
    expected = compute_xmc_metrics(*repository_procedure(scores, references, exclude), **options)
    assert expected["P@1"] > 0 and expected != compute_xmc_metrics(scores, references, **options)

    exclude_csr = sp.csr_matrix(exclude)
    extra = max_excluded_per_row(exclude_csr)
    ranked = top_k_ids(scores, 5 + extra)  # a top-k with enough candidates for the removal
    exclude_lists = [np.flatnonzero(row).tolist() for row in exclude]
    reference_lists = [np.flatnonzero(row).tolist() for row in references]
    prediction_forms = {
        "dense": scores,
        "sparse": sp.csr_matrix(scores),
        "id_array": ranked,
        "lists": [row.tolist() for row in ranked],
        "Column": datasets.Dataset.from_dict({"p": [row.tolist() for row in ranked]})["p"],
    }
    for name, predictions in prediction_forms.items():
        for exclude_form in (exclude_csr, exclude_lists):
            got = compute_xmc_metrics(predictions, references, exclude=exclude_form, **options)
            assert got == pytest.approx(expected, abs=1e-12), name
    got = compute_xmc_metrics(scores, reference_lists, exclude=exclude_lists, num_labels=num_labels, **options)
    assert got == pytest.approx(expected, abs=1e-12)
    # set metrics: the excluded pairs leave both the predicted sets and the relevant sets
    thresholded = np.where(scores > 0.7, scores, 0.0)
    set_expected = compute_xmc_metrics(
        *repository_procedure(thresholded, references, exclude),
        average="set",
        label_counts=options["label_counts"],
        num_train_docs=200,
    )
    set_got = compute_xmc_metrics(
        thresholded,
        references,
        exclude=exclude_csr,
        average="set",
        label_counts=options["label_counts"],
        num_train_docs=200,
    )
    assert set_got == pytest.approx(set_expected, nan_ok=True)


def test_exclude_by_hand():
    # doc 0 ranks 0, 1, 2; label 0 (relevant) is excluded -> ranking 1, 2 against relevant {2}
    # doc 1 ranks 3, 4, 2; label 3 (relevant) is excluded -> ranking 4, 2 against relevant {4}
    predictions = [[0, 1, 2], [3, 4, 2]]
    got = compute_xmc_metrics(predictions, [[0, 2], [3, 4]], k=[1, 2], exclude=[[0], [3]])
    assert got["P@1"] == 0.5 and got["P@2"] == 0.5 and got["R@2"] == 1.0
    assert compute_xmc_metrics(predictions, [[0, 2], [3, 4]], k=[1, 2])["P@1"] == 1.0  # without the filter


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: compute_xmc_metrics([[0], [1]], [[0], [1]], exclude=[[0]]), "exclude has 1 documents"),
        (lambda: compute_xmc_metrics([[0]], [[0]], num_labels=3, exclude=[[3]]), "exclude contains label id 3"),
        (lambda: compute_xmc_metrics([[0]], [[0]], exclude=sp.csr_matrix((1, 4)), num_labels=3), "exclude"),
        (lambda: compute_xmc_metrics([[0]], [[0]], exclude=[[-1]]), "exclude contains a negative label id"),
    ],
)
def test_bad_exclude_names_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def write_lf_folder(folder, filter_test: str | None = None):
    """A small LF folder: 4 labels (training frequency L2 > L0 > L1 > L3), 3 train and 3 test documents."""
    folder.mkdir(parents=True)
    records = {
        "trn": [[2], [2, 0], [2, 0, 1]],
        "tst": [[0, 3], [2], [1, 2]],
    }
    for stem, targets in records.items():
        lines = [
            json.dumps({"uid": f"{stem}{i}", "title": f"doc {i}", "content": "text", "target_ind": target})
            for i, target in enumerate(targets)
        ]
        (folder / f"{stem}.json").write_text("\n".join(lines) + "\n")
    labels = [json.dumps({"uid": f"L{i}", "title": f"label {i}", "content": ""}) for i in range(4)]
    (folder / "lbl.json").write_text("\n".join(labels) + "\n")
    if filter_test is not None:
        (folder / "filter_labels_test.txt").write_text(filter_test)
    return folder


def test_lf_filter_file_applied_at_evaluation(tmp_path):
    # test doc 0 is itself label L3 (a reciprocal pair), test doc 2 mirrors L1: both pairs are left out
    xmc = load_xmc_dataset(write_lf_folder(tmp_path / "lf", filter_test="0 3\n2 1\n"))
    assert xmc.vocabulary.labels == ["L2", "L0", "L1", "L3"]
    test = xmc.splits["test"]
    assert [xmc.vocabulary.decode(ids) for ids in test["labels"]] == [["L0", "L3"], ["L2"], ["L1", "L2"]]
    # a model that ranks the reciprocal label first (as retrieval on titles does)
    ranked = [xmc.vocabulary.encode(labels) for labels in (["L3", "L0"], ["L2", "L0"], ["L1", "L2"])]
    options = dict(k=[1], label_counts=xmc.vocabulary.counts, num_train_docs=xmc.vocabulary.num_train_docs)
    raw = compute_xmc_metrics(ranked, test["labels"], **options)
    filtered = compute_xmc_metrics(ranked, test["labels"], exclude=xmc.filter_pairs["test"], **options)
    assert raw["P@1"] == 1.0
    # after the filter: doc 0 ranks L0 first (relevant), doc 1 L2 (relevant), doc 2 L2 (relevant)
    assert filtered["P@1"] == 1.0 and filtered["PSP@1"] != raw["PSP@1"]
    # a ranking that only got the reciprocal labels right scores 0 once they are filtered
    reciprocal_only = [xmc.vocabulary.encode(["L3"]), xmc.vocabulary.encode(["L3"]), xmc.vocabulary.encode(["L1"])]
    assert compute_xmc_metrics(reciprocal_only, test["labels"], k=[1])["P@1"] == pytest.approx(2 / 3)
    assert compute_xmc_metrics(reciprocal_only, test["labels"], k=[1], exclude=xmc.filter_pairs["test"])["P@1"] == 0
    # a subset of rows takes the same rows of the filter mask
    rows = [2, 0]
    subset = compute_xmc_metrics(
        [ranked[i] for i in rows], test.select(rows)["labels"], k=[1], exclude=xmc.filter_pairs["test"][rows]
    )
    assert subset["P@1"] == 1.0

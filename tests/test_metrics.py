"""`hf_xmc.metrics.compute_xmc_metrics` and `top_k_ids`: hand-checked values, every input form, bad input."""

from __future__ import annotations

import ast
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp

import hf_xmc.metrics
from hf_xmc.data.propensity import inverse_propensity
from hf_xmc.metrics import FREQUENCY_GROUPS, compute_xmc_metrics, top_k_ids

LOG3 = math.log2(3)


def test_issue_example_by_hand():
    # doc 0: 3 is outside the label space (L = 3), 1 is relevant at rank 2; doc 1: 0 relevant at rank 1
    results = compute_xmc_metrics([[3, 1, 7], [0, 2, 5]], [[1, 2], [0]], k=[1, 3])
    assert results == pytest.approx(
        {
            "P@1": 0.5,
            "P@3": 2 / 6,
            "nDCG@1": 0.5,
            "nDCG@3": ((1 / LOG3) / (1 + 1 / LOG3) + 1.0) / 2,
            "R@1": 0.5,
            "R@3": (0.5 + 1.0) / 2,
            "coverage@1": 1 / 3,
            "coverage@3": 2 / 3,
        },
        abs=1e-12,
    )
    assert list(results) == ["P@1", "P@3", "nDCG@1", "nDCG@3", "R@1", "R@3", "coverage@1", "coverage@3"]


def test_default_k_is_1_3_5_and_values_are_plain_floats():
    results = compute_xmc_metrics([[0, 1, 2, 3, 4]], [[0]])
    assert {key for key in results if key.startswith("P@")} == {"P@1", "P@3", "P@5"}
    assert all(type(value) is float for value in results.values())


def test_k_larger_than_number_of_positives():
    results = compute_xmc_metrics([[0, 1, 2, 3, 4]], [[0]], k=[5])
    assert results["P@5"] == pytest.approx(0.2)
    assert results["nDCG@5"] == pytest.approx(1.0)  # ideal DCG uses min(k, |y|) = 1 position
    assert results["R@5"] == pytest.approx(1.0)


def test_k_larger_than_number_of_predictions_counts_missing_slots_as_misses():
    results = compute_xmc_metrics([[0]], [[0, 1]], k=[1, 5])
    assert results["P@1"] == 1.0 and results["P@5"] == pytest.approx(0.2)
    assert results["nDCG@5"] == pytest.approx(1 / (1 + 1 / LOG3))


def test_documents_without_positive_labels_count_as_zero():
    results = compute_xmc_metrics([[0], [1]], [[], [1]], k=1)
    assert results["P@1"] == results["nDCG@1"] == results["R@1"] == pytest.approx(0.5)


def test_empty_predictions_score_zero():
    results = compute_xmc_metrics([[], []], [[0], [1, 2]], k=[1, 3])
    assert all(value == 0.0 for value in results.values())


def test_predictions_outside_label_space_are_misses_not_dropped():
    results = compute_xmc_metrics([[99, 1]], [[1]], k=[1, 2], num_labels=3)
    assert results["P@1"] == 0.0 and results["P@2"] == 0.5
    sets = compute_xmc_metrics([[99, 1]], [[1]], k=[1], num_labels=3, average="set")
    assert sets["micro_precision"] == 0.5 and sets["micro_recall"] == 1.0


def test_repeated_prediction_counts_once():
    results = compute_xmc_metrics([[1, 1, 2]], [[1, 2]], k=[3])
    assert results["P@3"] == pytest.approx(2 / 3)
    assert results["P@3"] <= 1.0


def test_ties_rank_lower_label_id_first():
    scores = np.array([[1.0, 1.0, 1.0, 0.0], [0.5, 0.9, 0.5, 0.9]])
    np.testing.assert_array_equal(top_k_ids(scores, 3), [[0, 1, 2], [1, 3, 0]])
    np.testing.assert_array_equal(top_k_ids(sp.csr_matrix(scores), 3), [[0, 1, 2], [1, 3, 0]])
    results = compute_xmc_metrics(scores, [[2], [2]], k=[1, 3])
    assert results["P@1"] == 0.0 and results["P@3"] == pytest.approx(1 / 6)  # row 1 ranks 2 fourth


def test_top_k_ids_pads_with_minus_one_and_sparse_ranks_stored_entries_only():
    assert top_k_ids(np.array([[0.2, 0.1]]), 4).tolist() == [[0, 1, -1, -1]]
    scores = sp.csr_matrix(np.array([[0.0, -1.0, 0.0], [0.0, 0.0, 0.0]]))
    scores[0, 1] = -1.0
    assert top_k_ids(scores, 2).tolist() == [[1, -1], [-1, -1]]
    assert top_k_ids(np.array([[-np.inf, 0.0, -np.inf]]), 3).tolist() == [[1, 0, 2]]


@pytest.mark.parametrize("seed", range(3))
def test_top_k_ids_matches_a_full_sort(seed):
    rng = np.random.default_rng(seed)
    for _ in range(30):
        n, num_labels, k = rng.integers(1, 6), rng.integers(1, 40), int(rng.integers(1, 12))
        scores = rng.integers(0, 4, size=(n, num_labels)).astype(np.float64)
        expected = [(sorted(range(num_labels), key=lambda j: (-row[j], j)) + [-1] * k)[:k] for row in scores]
        np.testing.assert_array_equal(top_k_ids(scores, k), expected)
        sparse = sp.random(n, num_labels, density=0.4, random_state=seed, format="csr")
        sparse.data = np.round(sparse.data * 3)
        for i in range(n):
            row = sparse[i]
            ranked = [j for j, _ in sorted(zip(row.indices, row.data), key=lambda t: (-t[1], t[0]))]
            assert top_k_ids(sparse, k)[i].tolist() == (ranked + [-1] * k)[:k]


def test_chunked_processing_gives_the_same_result(monkeypatch):
    # large inputs are processed in row chunks; force tiny chunks and compare with one-chunk results
    rng = np.random.default_rng(1)
    scores = np.round(rng.random((23, 17)) * 4)
    sparse = sp.random(23, 17, density=0.3, random_state=1, format="csr")
    references = (rng.random((23, 17)) < 0.2).astype(np.int64)
    options = dict(k=[1, 4], label_counts=rng.integers(0, 9, 17), num_train_docs=50)
    expected = (top_k_ids(scores, 6), top_k_ids(sparse, 6), compute_xmc_metrics(scores, references, **options))
    monkeypatch.setattr("hf_xmc.metrics.topk._CHUNK_ELEMENTS", 7)
    monkeypatch.setattr("hf_xmc.metrics.inputs._CHUNK_ELEMENTS", 7)
    np.testing.assert_array_equal(top_k_ids(scores, 6), expected[0])
    np.testing.assert_array_equal(top_k_ids(sparse, 6), expected[1])
    assert compute_xmc_metrics(scores, references, **options) == expected[2]


def test_propensity_scored_metrics_by_hand():
    counts, num_docs = np.array([50, 3, 1, 10]), 100
    w = inverse_propensity(counts, num_docs)
    results = compute_xmc_metrics([[0, 1]], [[1, 2]], k=[1, 2], label_counts=counts, num_train_docs=num_docs)
    assert results["PSP@1"] == 0.0
    assert results["PSP@2"] == pytest.approx(w[1] / 2)
    assert results["PSP@2_norm"] == pytest.approx(w[1] / (w[1] + w[2]))
    assert results["PSnDCG@2"] == pytest.approx((w[1] / LOG3) / (1 + 1 / LOG3))
    assert results["PSnDCG@2_norm"] == pytest.approx((w[1] / LOG3) / (w[2] + w[1] / LOG3))
    assert results["PSR@2"] == pytest.approx(w[1] / 2)
    assert results["PSR@2_norm"] == pytest.approx(w[1] / (w[1] + w[2]))
    assert results["PSP@1_norm"] == 0.0


def test_propensity_presets_and_explicit_constants():
    counts = np.array([5, 1, 0])
    # (a label seen once gets 1 + C * (1 + B)^-A = ln N whatever A and B: use the unseen label 2)
    base = dict(predictions=[[2]], references=[[2]], k=1, label_counts=counts, num_train_docs=20)
    amazon = compute_xmc_metrics(**base, propensity="amazon")["PSP@1"]
    assert amazon == pytest.approx(inverse_propensity(counts, 20, 0.6, 2.6)[2])
    explicit = compute_xmc_metrics(**base, propensity_a=0.6, propensity_b=2.6)["PSP@1"]
    assert explicit == amazon
    assert compute_xmc_metrics(**base)["PSP@1"] != amazon


def test_unnormalised_psp_can_exceed_one_normalised_cannot():
    results = compute_xmc_metrics([[2]], [[2]], k=1, label_counts=[100, 100, 0], num_train_docs=1000)
    assert results["PSP@1"] > 1.0
    assert results["PSP@1_norm"] == 1.0
    for name in ("P@1", "nDCG@1", "R@1", "PSnDCG@1_norm", "PSR@1_norm"):
        assert 0.0 <= results[name] <= 1.0


def _all_prediction_forms(scores: np.ndarray, k: int):
    ranked = top_k_ids(scores, k)
    sparse = sp.csr_matrix(scores)  # scores are > 0: every entry is stored
    return {
        "dense": scores,
        "sparse": sparse,
        "id_array": ranked,
        "wide_id_array": np.concatenate([ranked, np.full((ranked.shape[0], 3), -100)], axis=1),
        "lists": [row.tolist() for row in ranked],
        "numpy_rows": [row for row in ranked],
        "pairs": [[(int(j), float(scores[i, j])) for j in reversed(row)] for i, row in enumerate(ranked)],
    }


def test_every_input_form_gives_the_same_result():
    rng = np.random.default_rng(0)
    scores = rng.random((40, 25)) + 0.01
    references = [rng.choice(25, size=rng.integers(0, 5), replace=False).tolist() for _ in range(40)]
    multi_hot = np.zeros((40, 25), dtype=np.int64)
    for i, row in enumerate(references):
        multi_hot[i, row] = 1
    reference_forms = {
        "lists": references,
        "multi_hot": multi_hot,
        "csr": sp.csr_matrix(multi_hot),
        "bool": multi_hot > 0,
    }
    options = dict(k=[1, 3, 5], label_counts=rng.integers(0, 30, 25), num_train_docs=100, num_labels=25)
    expected = compute_xmc_metrics(scores, references, **options)
    assert "PSnDCG@5_norm" in expected
    for name, predictions in _all_prediction_forms(scores, 5).items():
        assert compute_xmc_metrics(predictions, references, **options) == pytest.approx(expected, abs=1e-12), name
    for name, refs in reference_forms.items():
        assert compute_xmc_metrics(scores, refs, **options) == pytest.approx(expected, abs=1e-12), name


def test_inputs_are_not_modified():
    # row 0 stores an explicit zero at column 0 (not relevant) and a 2.0 at column 1
    references = sp.csr_matrix((np.array([0.0, 2.0, 1.0]), np.array([0, 1, 0]), np.array([0, 2, 3])), shape=(2, 3))
    before = references.data.copy()
    assert compute_xmc_metrics(np.array([[0, 1], [0, 2]]), references, k=1)["P@1"] == 0.5
    np.testing.assert_array_equal(references.data, before)


def test_huge_label_space_is_never_materialised():
    # ids in a label space of 10^9: O(n * L) memory would be 10^9 bytes per document
    results = compute_xmc_metrics([[999_999_999, 5], [7]], [[5], [7, 123_456_789]], k=[1, 2], num_labels=10**9)
    assert results["P@1"] == 0.5 and results["P@2"] == 0.5


def test_set_metrics_by_hand():
    predictions, references = [[0, 1], [2, 9]], [[0], [2, 3]]
    results = compute_xmc_metrics(
        predictions, references, k=[1, 2], num_labels=4, average="set", label_counts=[0, 1, 3, 20], num_train_docs=30
    )
    expected_micro_f1 = 2 * (2 / 4) * (2 / 3) / (2 / 4 + 2 / 3)
    # macro averages over labels relevant somewhere ({0, 2, 3}); label 1 (a false positive only) is left out
    assert results == pytest.approx(
        {
            "micro_precision": 2 / 4,
            "micro_recall": 2 / 3,
            "micro_f1": expected_micro_f1,
            "macro_precision": 2 / 3,
            "macro_recall": 2 / 3,
            "macro_f1": 2 / 3,
            "F1@1": 2 * 1.0 * (2 / 3) / (1.0 + 2 / 3),
            "F1@2": expected_micro_f1,
            "macro_f1_0shot": 1.0,
            "macro_f1_1shot": math.nan,
            "macro_f1_1to3shot": 1.0,
            "macro_f1_1to5shot": 1.0,
            "macro_f1_1to10shot": 1.0,
        },
        nan_ok=True,
    )
    assert set(FREQUENCY_GROUPS) == {"0shot", "1shot", "1to3shot", "1to5shot", "1to10shot"}


def test_set_metrics_from_thresholded_matrix_equal_those_from_lists():
    scores = np.array([[0.9, 0.0, 0.4], [0.0, 0.0, 0.0], [0.2, 0.7, 0.0]])
    lists = [[0, 2], [], [1, 0]]
    references = [[2], [1], [1]]
    from_lists = compute_xmc_metrics(lists, references, k=[1, 2], average="set")
    assert compute_xmc_metrics(scores, references, k=[1, 2], average="set") == from_lists
    assert compute_xmc_metrics(sp.csr_matrix(scores), references, k=[1, 2], average="set") == from_lists
    assert from_lists["F1@1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: compute_xmc_metrics([[0], [1]], [[0]]), "predictions has 2 documents but references has 1"),
        (lambda: compute_xmc_metrics([[0]], [[0]], k=0), "k must be a positive integer"),
        (lambda: compute_xmc_metrics([[0]], [[0]], k=[1, -3]), "k must be a positive integer"),
        (lambda: compute_xmc_metrics([[0]], [[0]], k=[]), "k must be"),
        (lambda: compute_xmc_metrics([[0]], [[0]], k=2.5), "k must be a positive integer"),
        (lambda: compute_xmc_metrics(np.array([[0.1, np.nan]]), [[0]]), "predictions contains NaN"),
        (lambda: compute_xmc_metrics(sp.csr_matrix([[0.1, np.nan]]), [[0]]), "predictions contains NaN"),
        (lambda: compute_xmc_metrics([[0]], [[5]], num_labels=3), "references contains label id 5"),
        (lambda: compute_xmc_metrics([[0]], [[-2]]), "references contains a negative label id"),
        (
            lambda: compute_xmc_metrics(np.ones((1, 3)), [[0]], num_labels=4),
            "num_labels=4, predictions (number of columns)=3",
        ),
        (lambda: compute_xmc_metrics(np.ones((1, 3)), np.array([[1, 0, 2]])), "must be multi-hot"),
        (
            lambda: compute_xmc_metrics([[0]], [[0]], label_counts=[1, 2], num_train_docs=5, num_labels=3),
            "label_counts",
        ),
        (
            lambda: compute_xmc_metrics([[0]], sp.csr_matrix((1, 4)), label_counts=[1, 2], num_train_docs=5),
            "label_counts (length)=2",
        ),
        (lambda: compute_xmc_metrics([[0]], [[0]], propensity="wiki"), "propensity given without label_counts"),
        (lambda: compute_xmc_metrics([[0]], [[0]], label_counts=[1]), "needs num_train_docs"),
        (
            lambda: compute_xmc_metrics([[0]], [[0]], label_counts=[1], num_train_docs=9, propensity="x"),
            "not a known preset",
        ),
        (lambda: compute_xmc_metrics([[0]], [[0]], average="micro"), "average must be one of"),
        (lambda: compute_xmc_metrics([["a"]], [[0]]), "integer label ids"),
        (lambda: compute_xmc_metrics([[0.5]], [[0]], num_labels=2), "predictions has 1 columns"),
        (lambda: compute_xmc_metrics([[0.5, 0.1], [0.2]], [[0], [1]]), "rectangular score matrix"),
        (lambda: compute_xmc_metrics([[0.5, 0.1], [0.2]], [[0], [1]], average="set"), "rectangular score matrix"),
        (lambda: compute_xmc_metrics([], []), "empty"),
        (lambda: top_k_ids(np.ones(3), 1), "2-D"),
    ],
)
def test_bad_input_names_the_argument_and_the_problem(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_core_needs_no_torch():
    # module-level imports of hf_xmc.metrics and of the data-layer module it uses: numpy/scipy only (torch is imported
    # lazily, inside the Trainer hook, where a torch tensor is already at hand)
    package = Path(hf_xmc.metrics.__file__).parent
    files = sorted(package.glob("*.py")) + [package.parent / "data" / "propensity.py"]
    for path in files:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name.split(".")[0] == "torch" for name in names), f"{path.name} imports torch"


def test_benchmark_script_runs_and_agrees_with_napkinxc(tmp_path):
    pytest.importorskip("napkinxc")
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_metrics.py"
    spec = importlib.util.spec_from_file_location("bench_metrics", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = SimpleNamespace(
        num_docs=300, num_labels=2000, top=20, seed=0, large_num_docs=0, napkinxc_repeats=1,
        skip_napkinxc=False, skip_evaluate=True,
    )  # fmt: skip
    report = bench.run(args)
    assert report["max_abs_difference_to_napkinxc"] < 1e-9
    assert set(report["ratio_ours_to_napkinxc"]) == {"ours_id_array", "ours_lists", "ours_csr_scores"}
    assert report["memory"]["ours_peak_extra_bytes"] > 0

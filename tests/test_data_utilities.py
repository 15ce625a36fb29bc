"""Specification of the label utilities: PIFA label features, K-means and balanced hierarchical clustering, and the
positive-unlabeled / few-shot simulations. Small synthetic cases (written here) plus Bibtex / debtags where real
data helps."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from hf_xmc.data import (
    balanced_label_clusters,
    build_label_matrix,
    cluster_labels,
    drop_positives,
    few_shot_label_subset,
    kmeans_label_clusters,
    load_xmc_dataset,
    pifa_from_xmc,
    pifa_label_features,
)


def two_topic_case():
    """6 docs, 2 well-separated topics in 4 features; labels 0-2 belong to topic A, 3-5 to topic B."""
    features = np.array([[1, 1, 0, 0], [2, 0, 0, 0], [1, 2, 0, 0], [0, 0, 1, 1], [0, 0, 2, 1], [0, 0, 0, 3]], float)
    labels = build_label_matrix([[0, 1], [1, 2], [0, 2], [3, 4], [4, 5], [3, 5]], num_labels=7)
    return labels, features


def test_pifa_is_the_normalised_sum_of_positive_documents():
    labels, features = two_topic_case()
    dense = pifa_label_features(labels, features)
    expected = normalize(labels.T.toarray() @ features)
    np.testing.assert_allclose(dense, expected, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(dense[:6], axis=1), 1.0, rtol=1e-6)
    assert not dense[6].any()  # a label with no document has a zero row
    sparse = pifa_label_features(labels, sp.csr_matrix(features))
    assert sp.isspmatrix_csr(sparse)
    np.testing.assert_allclose(sparse.toarray(), dense, rtol=1e-6)
    with pytest.raises(ValueError, match="same documents"):
        pifa_label_features(labels, features[:3])


def test_kmeans_is_seeded_and_finds_the_topics():
    labels, features = two_topic_case()
    pifa = pifa_label_features(labels, features)[:6]
    clusters = kmeans_label_clusters(pifa, n_clusters=2, seed=0)
    assert clusters.dtype == np.int64 and len(set(clusters[:3])) == 1 and len(set(clusters[3:])) == 1
    assert clusters[0] != clusters[3]
    np.testing.assert_array_equal(clusters, kmeans_label_clusters(pifa, n_clusters=2, seed=0))
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans_label_clusters(pifa, n_clusters=7)


def test_kmeans_clusters_are_numbered_by_decreasing_size():
    rng = np.random.default_rng(0)
    points = np.vstack([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (10, 2)), rng.normal(-5, 0.1, (20, 2))])
    clusters = kmeans_label_clusters(points, n_clusters=3, seed=1)
    assert np.bincount(clusters).tolist() == [30, 20, 10]


@pytest.mark.parametrize("sparse", [False, True])
def test_balanced_tree_leaves_are_balanced_small_and_seeded(sparse):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, 16))
    features = np.repeat(centres, 25, axis=0) + rng.normal(scale=0.05, size=(200, 16))
    features = np.abs(features) if sparse else features
    features = sp.csr_matrix(features) if sparse else features
    clusters = balanced_label_clusters(features, max_leaf_size=25, seed=0)
    sizes = np.bincount(clusters)
    assert len(sizes) == 8 and sizes.max() <= 25 and sizes.max() - sizes.min() <= 1
    np.testing.assert_array_equal(clusters, balanced_label_clusters(features, max_leaf_size=25, seed=0))
    if not sparse:  # well separated blobs of exactly one leaf size are recovered
        assert all(len(set(clusters[i * 25 : (i + 1) * 25])) == 1 for i in range(8))


@pytest.mark.real_data
def test_balanced_tree_on_real_bibtex_pifa(xmc_repo_dir):
    xmc = load_xmc_dataset(xmc_repo_dir / "Bibtex")
    pifa = pifa_from_xmc(xmc)
    assert pifa.shape == (159, 1836)
    clusters = cluster_labels(pifa, method="balanced", max_leaf_size=20, seed=0)
    assert np.bincount(clusters).max() <= 20 and len(clusters) == 159

    # leaves group similar labels: mean cosine to the own leaf centroid beats a random grouping
    def cohesion(assignment):
        dense = pifa.toarray()
        centroid = normalize(sp.csr_matrix((np.ones(159), (assignment, np.arange(159)))) @ dense)
        return float(np.einsum("nd,nd->n", dense, centroid[assignment]).mean())

    assert cohesion(clusters) > cohesion(np.random.default_rng(0).permutation(clusters)) + 0.02
    with pytest.raises(ValueError, match="n_clusters"):
        cluster_labels(pifa, method="kmeans")


@pytest.fixture(scope="module")
def debtags():
    return load_xmc_dataset("debtags")


def test_drop_positives_removes_that_share_of_each_document_and_leaves_test_alone(debtags):
    xmc = debtags
    dropped = drop_positives(xmc, fraction=0.5, seed=0)
    original_train = xmc["train"][:300]["labels"]
    for full, kept in zip(original_train, dropped["train"][:300]["labels"]):
        full, kept = xmc.vocabulary.decode(full), dropped.vocabulary.decode(kept)
        assert set(kept) <= set(full) and len(kept) == len(full) - len(full) // 2
    lengths = np.diff(xmc.label_matrix("train").indptr)
    assert dropped.metadata["dropped_positives"] == int((lengths // 2).sum())
    assert dropped.vocabulary.is_frequency_sorted()
    assert [sorted(dropped.vocabulary.decode(ids)) for ids in dropped["test"][:50]["labels"]] == [
        sorted(xmc.vocabulary.decode(ids)) for ids in xmc["test"][:50]["labels"]
    ]


def test_drop_positives_is_seeded():
    import datasets

    data = datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(50)], "labels": [list(range(6))] * 50})
    xmc = load_xmc_dataset(data)
    first, again, other = (drop_positives(xmc, fraction=0.5, seed=seed) for seed in (0, 0, 1))
    decoded = [[first.vocabulary.decode(ids) for ids in result["train"]["labels"]] for result in (first, again, other)]
    assert decoded[0] == decoded[1] != decoded[2]
    single = drop_positives(xmc, fraction=1.0, seed=0, keep_at_least_one=True)
    assert all(len(ids) == 1 for ids in single["train"]["labels"])
    with pytest.raises(ValueError, match="fraction"):
        drop_positives(xmc, fraction=1.5)


def test_few_shot_subset_keeps_all_pairs_of_the_sampled_labels(debtags):
    xmc = debtags
    subset = few_shot_label_subset(xmc, ratio=0.05, seed=0)
    sampled = set(subset.metadata["few_shot_labels"])
    assert len(sampled) == round(0.05 * 598)
    train_labels = [set(subset.vocabulary.decode(ids)) for ids in subset["train"]["labels"]]
    assert all(labels and labels <= sampled for labels in train_labels)
    # every positive pair of a sampled label survives
    original = {label: int(count) for label, count in zip(xmc.vocabulary.labels, xmc.vocabulary.counts)}
    kept = {label: int(count) for label, count in zip(subset.vocabulary.labels, subset.vocabulary.counts)}
    assert all(kept[label] == original[label] for label in sampled)
    assert (
        subset.metadata["few_shot_labels"]
        == few_shot_label_subset(xmc, ratio=0.05, seed=0).metadata["few_shot_labels"]
    )
    assert len(subset["test"]) == len(xmc["test"])
    with pytest.raises(ValueError, match="ratio"):
        few_shot_label_subset(xmc, ratio=0)

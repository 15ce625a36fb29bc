"""Label features: PIFA, the normalised sum of each label's positive documents' features (Yᵀ·X, rows L2-normalised).

PIFA ("positive instance feature aggregation") is what XLGen, LightXML/GUDN (via AttentionXML's clustering) and
PECOS cluster labels on. Works with sparse (TF-IDF) or dense (encoder embeddings) document features; the cost is one
sparse-times-X product, linear in the label matrix's non-zeros (nothing `L x L`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize


def pifa_label_features(label_matrix, features, normalize_features: bool = False):
    """PIFA label features.

    Args:
        label_matrix (`scipy.sparse` matrix of shape `(n, L)`): binary document-label matrix (e.g.
            `XMCDataset.label_matrix("train")`).
        features (`scipy.sparse` matrix or `np.ndarray` of shape `(n, D)`): document features.
        normalize_features (`bool`): L2-normalise every document's features first (as PECOS does for TF-IDF).

    Returns:
        `(L, D)` label features with L2-normalised rows: `scipy.sparse.csr_matrix` for sparse `features`, a float32
        `np.ndarray` for dense ones. A label with no positive document has an all-zero row.
    """
    if not sp.issparse(label_matrix):
        raise TypeError("label_matrix must be a scipy sparse matrix (n, L); build it with XMCDataset.label_matrix().")
    if label_matrix.shape[0] != features.shape[0]:
        raise ValueError(
            f"label_matrix has {label_matrix.shape[0]} rows but features has {features.shape[0]}: they must be the "
            "same documents."
        )
    label_matrix = sp.csr_matrix(label_matrix, dtype=np.float32)
    if sp.issparse(features):
        features = sp.csr_matrix(features, dtype=np.float32)
        if normalize_features:
            features = normalize(features)
        return sp.csr_matrix(normalize(label_matrix.T @ features))
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (n, D), got shape {features.shape}.")
    if normalize_features:
        features = normalize(features)
    return normalize(np.asarray(label_matrix.T @ features, dtype=np.float32))


def pifa_from_xmc(xmc, features=None, split: str = "train", normalize_features: bool = False):
    """PIFA label features of an `XMCDataset` (its own sparse features of `split` unless `features` is given)."""
    if features is None:
        if not xmc.features or split not in xmc.features:
            raise ValueError(
                f"the data set has no features for split {split!r}; pass `features` (e.g. TF-IDF or embeddings)."
            )
        features = xmc.features[split]
    return pifa_label_features(xmc.label_matrix(split), features, normalize_features=normalize_features)

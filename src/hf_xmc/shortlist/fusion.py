"""Fitting the ranker's fusion on a validation split: a logistic regression over the shortlisted labels' features.

The validation documents are ones the sparse model and the classifier were not trained on, so their sparse scores and
logits are as reliable as they will be on new text — fitting the fusion on training documents would trust whichever
component memorised them most. `fit_fusion` writes the weights into `model.fusion`; `features=` restricts it to a
subset of `FUSION_FEATURES` (the benchmark's "which piece matters" rows; the others get weight 0).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from ..models.shortlist_ranker import FUSION_FEATURES

logger = logging.getLogger(__name__)


@torch.no_grad()
def collect_candidate_features(model, batches: Iterable[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The features of every shortlisted label of every document, and whether it is a gold label.

    Args:
        model (`ShortlistRanker`)
        batches (`Iterable[dict]`): collated batches with `labels` (gold ids padded with -1), plus the model's inputs.
            Gold labels are *not* added to the shortlist here (they would not be at prediction time).

    Returns:
        `features` `(n_candidates, len(FUSION_FEATURES))` float32, `targets` `(n_candidates,)` bool and `documents`
        `(n_candidates,)` int64 (which document each candidate belongs to).
    """
    model.eval()
    features, targets, documents, offset = [], [], [], 0
    device = next(model.parameters()).device
    for batch in batches:
        labels = batch["labels"].to(device)
        inputs = {key: value.to(device) for key, value in batch.items() if key != "labels"}
        output = model(**inputs, output_candidate_features=True)
        ids = output.candidate_ids
        valid = ids >= 0
        gold = ((ids[:, :, None] == labels[:, None, :]) & (labels[:, None, :] >= 0)).any(-1)
        rows = torch.arange(ids.shape[0], device=device)[:, None].expand_as(ids)
        features.append(output.candidate_features[valid].cpu())
        targets.append(gold[valid].cpu())
        documents.append((rows[valid] + offset).cpu())
        offset += ids.shape[0]
    if not features:
        raise ValueError("no validation batches to fit the fusion on")
    return torch.cat(features).numpy(), torch.cat(targets).numpy(), torch.cat(documents).numpy()


FUSION_OBJECTIVES = ("listwise", "pointwise")


def fit_fusion(
    model,
    features: np.ndarray,
    targets: np.ndarray,
    use_features: Sequence[str] | None = None,
    documents: np.ndarray | None = None,
    objective: str = "pointwise",
    regularization: float = 1e-3,
) -> dict[str, float]:
    """Fits the fusion weights on held-out candidates and writes them into `model.fusion`.

    `"pointwise"` (default) is a logistic regression of "gold label?" over all candidates; `"listwise"` maximises,
    per document, the softmax probability of its gold labels among its shortlist, then calibrates the score with a
    one-variable logistic regression, so `sigmoid(score)` stays a probability. On a deps-dev slice (same trained
    model) pointwise gave the higher P@1 (60.6 vs 53.4) and listwise the higher PSP@5 (20.9 vs 18.1): listwise
    weighs every gold label of a document, rare ones included, as much as its best one.

    Args:
        model (`ShortlistRanker`)
        features (`np.ndarray` of shape `(n, len(FUSION_FEATURES))`), targets (`np.ndarray` of shape `(n,)`),
            documents (`np.ndarray` of shape `(n,)`): from `collect_candidate_features` (`documents` is needed by
            the listwise objective).
        use_features (`Sequence[str]`, *optional*): the features to fuse (default all); the others get weight 0.
        objective (`str`, defaults to `"pointwise"`): `"pointwise"` or `"listwise"`.
        regularization (`float`, defaults to 1e-3): L2 strength on the standardised features' weights.

    Returns:
        `dict`: the fitted weight of each feature (on the raw feature scale) and `"bias"`.
    """
    from sklearn.linear_model import LogisticRegression

    use_features = list(FUSION_FEATURES if use_features is None else use_features)
    unknown = [name for name in use_features if name not in FUSION_FEATURES]
    if unknown or not use_features:
        raise ValueError(f"use_features must be a non-empty subset of {FUSION_FEATURES}, got {use_features}")
    if objective not in FUSION_OBJECTIVES:
        raise ValueError(f"objective must be one of {FUSION_OBJECTIVES}, got {objective!r}")
    targets = np.asarray(targets, dtype=bool)
    if features.ndim != 2 or features.shape[1] != len(FUSION_FEATURES) or len(features) != len(targets):
        raise ValueError(
            f"features must be (n, {len(FUSION_FEATURES)}) with one target per row, got {features.shape} and "
            f"{targets.shape}"
        )
    if targets.all() or not targets.any():
        raise ValueError(
            "the validation shortlists hold only gold labels or none at all: the fusion cannot be fitted "
            "(use a larger validation split)"
        )
    if objective == "listwise" and (documents is None or len(documents) != len(targets)):
        raise ValueError("the listwise fusion needs `documents`: which document each candidate belongs to")
    columns = [FUSION_FEATURES.index(name) for name in use_features]
    selected = features[:, columns].astype(np.float64)
    mean, std = selected.mean(0), selected.std(0)
    std[std == 0] = 1.0
    standardised = (selected - mean) / std
    if objective == "listwise":
        direction = listwise_weights(standardised, targets, np.asarray(documents), regularization)
        calibration = LogisticRegression(C=1e4, max_iter=1000).fit((standardised @ direction)[:, None], targets)
        weights = calibration.coef_[0, 0] * direction
        intercept = float(calibration.intercept_[0])
    else:
        regression = LogisticRegression(C=1.0 / max(regularization * len(targets), 1e-12), max_iter=1000)
        regression.fit(standardised, targets)
        weights, intercept = regression.coef_[0], float(regression.intercept_[0])
    weights = weights / std
    bias = float(intercept - (weights * mean).sum())
    full = np.zeros(len(FUSION_FEATURES))
    full[columns] = weights
    with torch.no_grad():
        model.fusion.weight.copy_(torch.as_tensor(full, dtype=torch.float32))
        model.fusion.bias.fill_(bias)
    fitted = {name: float(full[i]) for i, name in enumerate(FUSION_FEATURES)}
    fitted["bias"] = bias
    logger.info(
        "fusion (%s) fitted on %d candidates (%d gold): %s", objective, len(targets), int(targets.sum()), fitted
    )
    return fitted


def listwise_weights(features: np.ndarray, targets: np.ndarray, documents: np.ndarray, l2: float) -> np.ndarray:
    """Linear weights maximising each document's mean log-softmax of its gold candidates (L-BFGS), `(f,)`."""
    x = torch.as_tensor(features, dtype=torch.float64)
    gold = torch.as_tensor(targets, dtype=torch.float64)
    _, document = np.unique(documents, return_inverse=True)
    document = torch.as_tensor(document, dtype=torch.long)
    num_documents = int(document.max()) + 1
    gold_per_document = torch.zeros(num_documents, dtype=torch.float64).index_add_(0, document, gold)
    keep = gold_per_document[document] > 0  # a document whose shortlist holds no gold label says nothing here
    x, gold, document = x[keep], gold[keep], document[keep]
    scored = gold_per_document > 0
    weights = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        scores = x @ weights
        top = torch.full((num_documents,), -torch.inf, dtype=scores.dtype).scatter_reduce(
            0, document, scores.detach(), "amax"
        )
        sums = torch.zeros(num_documents, dtype=scores.dtype).index_add(0, document, torch.exp(scores - top[document]))
        log_normaliser = torch.log(sums[scored]) + top[scored]
        gold_scores = torch.zeros(num_documents, dtype=scores.dtype).index_add(0, document, gold * scores)[scored]
        loss = (log_normaliser - gold_scores / gold_per_document[scored]).mean() + l2 * weights.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weights.detach().numpy()

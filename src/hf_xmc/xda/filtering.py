"""Sample filtering (XDA §2.2): the diversity (eq. 2) and consistency (eq. 3) of each augmented document under a
classifier `f_0` trained on the original data, min-max normalised, summed, kept above a percentile.

- Diversity, `kind="kl"` (the paper): `KL(p(σ(f_0(x_i^j))) || p(y_i))`, the scorer's sigmoid scores normalised to a
  distribution over labels against the gold labels' uniform distribution, smoothed by `eps` (a label outside `y_i`
  would make it infinite). `kind="bce_sum"` (the reference code): `Σ_l BCE(σ(f_0(x_i^j))_l, y_il)`.
- Consistency: `|Top_k(f_0(x_i^j)) ∩ Top_k(f_0(x_i))| / k` with `k = |y_i|`.
- Each score min-max normalised over the augmented set, summed element-wise, and the rows at or above the
  `1 - keep_fraction` percentile kept (paper: the top 20%; ties at the threshold are all kept).

This is the reference code's intent without its four bugs: the sum is element-wise (not a list concatenation), the
keep rule is the percentile (not `score == 1`), and each augmented row is compared with its own source, looked up by
`source_id` (not by position in a copy-major replica), so row order does not matter (tested).

The scorer is any hf-xmc classifier checkpoint (`hf_xmc.hub.load_xmc_model`); it ranks through its method's recipe
(`predict`), and one trained on another label space is refused. Labels it does not rank (`top_k` below the label
count) count as probability 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from ..data import LabelVocabulary, XMCInputError


class LabelScorer:
    """Scores texts with an hf-xmc classifier checkpoint: the top-`top_k` label ids and their probabilities.

    Args:
        checkpoint (`XMCCheckpoint`): from `hf_xmc.hub.load_xmc_model`.
        top_k (`int`): labels scored per text (0: every label).
        batch_size (`int`): texts per call of the method's ranker.
        max_length (`int`, *optional*): tokens the classifier reads (longer texts are cut).
    """

    def __init__(self, checkpoint, top_k: int = 0, batch_size: int = 64, max_length: int | None = None):
        self.checkpoint = checkpoint
        self.vocabulary: LabelVocabulary = checkpoint.vocabulary
        num_labels = len(self.vocabulary)
        self.top_k = num_labels if top_k in (0, None) else min(top_k, num_labels)
        self.batch_size = batch_size
        self.max_length = max_length

    @classmethod
    def from_pretrained(cls, name_or_path: str, **kwargs) -> LabelScorer:
        from ..hub import load_xmc_model

        return cls(load_xmc_model(name_or_path), **kwargs)

    def check_label_space(self, vocabulary: LabelVocabulary) -> None:
        """An `XMCInputError` unless the scorer was trained on exactly this label space (same labels, same ids)."""
        if self.vocabulary.labels != vocabulary.labels:
            mine, theirs = set(self.vocabulary.labels), set(vocabulary.labels)
            detail = (
                "the same labels in another id order"
                if mine == theirs
                else f"{len(theirs - mine)} of the data's {len(theirs)} labels unknown to it"
            )
            raise XMCInputError(
                f"the scorer {self.checkpoint.source} was trained on another label space ({len(self.vocabulary)} "
                f"labels, {detail}): use a classifier trained on this data set's training split"
            )

    def rank(self, texts: Sequence[str], progress: bool = False, desc: str = "score") -> tuple[np.ndarray, np.ndarray]:
        """`(ids, probabilities)`, each `(len(texts), top_k)`, best first; rows with fewer labels pad with -1 / 0."""
        from ..hub.checkpoint import method_ranker

        ranker = method_ranker(self.checkpoint.method)
        ids = np.full((len(texts), self.top_k), -1, dtype=np.int64)
        probabilities = np.zeros((len(texts), self.top_k), dtype=np.float32)
        bar = tqdm(total=len(texts), desc=desc, unit="doc", disable=not progress)
        for start in range(0, len(texts), self.batch_size):
            chunk = list(texts[start : start + self.batch_size])
            kwargs = {"max_length": self.max_length} if self.max_length else {}
            ranked = ranker(self.checkpoint.model, self.checkpoint.tokenizer, self.vocabulary, chunk, k=self.top_k,
                            truncation=True, **kwargs)  # fmt: skip
            for row, labels in enumerate(ranked, start=start):
                ids[row, : len(labels)] = [label.label_id for label in labels]
                probabilities[row, : len(labels)] = [label.score for label in labels]
            bar.update(len(chunk))
        bar.close()
        return ids, probabilities


def diversity_scores(ids: np.ndarray, probabilities: np.ndarray, gold: Sequence[Sequence[int]], num_labels: int,
                     kind: str = "kl", eps: float = 1e-6) -> np.ndarray:  # fmt: skip
    """Eq. 2 per augmented document (higher: more diverse).

    Args:
        ids, probabilities (`np.ndarray` of shape `(n, K)`): the scorer's ranking of the augmented documents.
        gold (`Sequence[Sequence[int]]`): each document's label ids `y_i` (its source's).
        num_labels (`int`): `L`.
        kind (`str`): `"kl"` or `"bce_sum"`.
        eps (`float`): smoothing of `p(y_i)` (KL) / clipping of the probabilities (BCE).
    """
    scores = np.zeros(len(ids), dtype=np.float64)
    for row, (row_ids, row_p, labels) in enumerate(zip(ids, probabilities.astype(np.float64), gold)):
        valid = row_ids >= 0
        row_ids, row_p = row_ids[valid], row_p[valid]
        is_gold = np.isin(row_ids, np.asarray(labels, dtype=np.int64))
        if kind == "kl":
            p = row_p / max(row_p.sum(), 1e-12)
            q = (is_gold + eps) / (len(labels) + num_labels * eps)
            positive = p > 0
            scores[row] = float(np.sum(p[positive] * np.log(p[positive] / q[positive])))
        elif kind == "bce_sum":
            p = np.clip(row_p, eps, 1 - eps)
            ranked_loss = -np.where(is_gold, np.log(p), np.log1p(-p)).sum()
            unranked_gold = len(set(labels) - set(row_ids[is_gold].tolist()))
            scores[row] = float(ranked_loss - unranked_gold * np.log(eps))
        else:
            raise ValueError(f"diversity kind must be 'kl' or 'bce_sum', got {kind!r}")
    return scores


def consistency_scores(augmented_ids: np.ndarray, source_ids: np.ndarray, gold_counts: Sequence[int]) -> np.ndarray:
    """Eq. 3: `|Top_k(aug) ∩ Top_k(source)| / k` with `k` the document's number of gold labels.

    Args:
        augmented_ids, source_ids (`np.ndarray` of shape `(n, K)`): rankings of the augmented documents and of their
            own sources (row `i` of both belongs to the same pair).
        gold_counts (`Sequence[int]`): `k_i >= 1`, at most `K`.
    """
    scores = np.zeros(len(augmented_ids), dtype=np.float64)
    width = augmented_ids.shape[1] if augmented_ids.ndim == 2 else 0
    for row, k in enumerate(gold_counts):
        if not 1 <= k <= width:
            raise ValueError(f"row {row}: k = {k} gold labels, but the scorer ranks {width} (raise --scorer_top_k)")
        mine = set(augmented_ids[row, :k].tolist()) - {-1}
        scores[row] = len(mine & (set(source_ids[row, :k].tolist()) - {-1})) / k
    return scores


def min_max(values: np.ndarray) -> np.ndarray:
    """Scaled to [0, 1]; all-equal values give zeros."""
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return values
    low, high = values.min(), values.max()
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def keep_top(scores: np.ndarray, keep_fraction: float) -> tuple[np.ndarray, float]:
    """`(kept, threshold)`: the rows at or above the `1 - keep_fraction` percentile of `scores`."""
    if not 0 < keep_fraction <= 1:
        raise ValueError(f"--keep_fraction must be in (0, 1], got {keep_fraction}")
    if not len(scores):
        return np.zeros(0, dtype=bool), float("nan")
    threshold = float(np.percentile(scores, 100 * (1 - keep_fraction)))
    return scores >= threshold, threshold


def score_augmented(
    scorer: LabelScorer,
    augmented_texts: Sequence[str],
    augmented_source_ids: Sequence[int],
    augmented_labels: Sequence[Sequence[int]],
    source_texts: dict[int, str],
    *,
    diversity: str = "kl",
    keep_fraction: float = 0.2,
    progress: bool = True,
) -> tuple[dict[str, np.ndarray], dict]:
    """Diversity, consistency, their normalised sum and the kept flag of each augmented row.

    Args:
        scorer (`LabelScorer`): already checked against the data's label space.
        augmented_texts, augmented_source_ids, augmented_labels: the augmented rows, in any order.
        source_texts (`dict[int, str]`): each `source_id`'s original text.

    Returns:
        `(columns, report)`: arrays `diversity`, `consistency`, `score`, `kept` aligned with the augmented rows;
        report: the threshold, kept count and score summaries.
    """
    missing = sorted(set(int(i) for i in augmented_source_ids) - set(source_texts))
    if missing:
        raise XMCInputError(f"{len(missing)} augmented rows name source ids not in the source data: {missing[:5]}")
    empty = [row for row, labels in enumerate(augmented_labels) if not len(labels)]
    if empty:
        raise XMCInputError(f"{len(empty)} augmented rows have no labels (row {empty[0]}): eq. 3 needs k >= 1")
    unique_sources = sorted(set(int(i) for i in augmented_source_ids))
    row_of_source = {source_id: row for row, source_id in enumerate(unique_sources)}
    source_ranked, _ = scorer.rank([source_texts[i] for i in unique_sources], progress, "score sources")
    augmented_ranked, augmented_p = scorer.rank(list(augmented_texts), progress, "score augmented")
    aligned_source = source_ranked[[row_of_source[int(i)] for i in augmented_source_ids]]
    div = diversity_scores(augmented_ranked, augmented_p, augmented_labels, len(scorer.vocabulary), diversity)
    con = consistency_scores(augmented_ranked, aligned_source, [len(labels) for labels in augmented_labels])
    score = min_max(div) + min_max(con)
    kept, threshold = keep_top(score, keep_fraction)
    report = {
        "rows": len(score),
        "kept": int(kept.sum()),
        "keep_fraction": keep_fraction,
        "threshold": threshold,
        "diversity": diversity,
        "mean_diversity": float(div.mean()) if len(div) else float("nan"),
        "mean_consistency": float(con.mean()) if len(con) else float("nan"),
        "mean_consistency_kept": float(con[kept].mean()) if kept.any() else float("nan"),
    }
    return {"diversity": div, "consistency": con, "score": score, "kept": kept}, report


__all__ = ["LabelScorer", "consistency_scores", "diversity_scores", "keep_top", "min_max", "score_augmented"]

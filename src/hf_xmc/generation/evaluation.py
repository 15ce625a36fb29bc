"""Metrics of generated label sets, through `hf_xmc.metrics.compute_xmc_metrics` (one implementation).

- Set metrics of the generated sets (the paper's main table): micro/macro F1 and the tail groups' macro F1 (labels
  with 0, 1 and 1..5 training documents).
- Ranking metrics from the label scores: strict P@k / nDCG@k / PSP@k: a document with fewer than k generated labels
  has empty slots that count as misses, and a new (unseen) label is a miss, never dropped (XLGen's script drops
  invalid generations and divides by the number of predictions made, a non-standard "@k").
- Generation statistics: labels per document, share of generated labels that are vocabulary labels, documents whose
  generation parsed to nothing.

A new label counts as a false positive of the set metrics (each distinct new string gets its own id beyond the
label space), so validity is part of precision.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..hub.inference import RankedLabel
from ..metrics import compute_xmc_metrics

TAIL_GROUPS = ("0shot", "1shot", "1to5shot")


def _prediction_ids(generated: Sequence[Sequence[RankedLabel]], num_labels: int, by_score: bool):
    """Per document, label ids (new labels get distinct ids >= num_labels), optionally with scores, best first."""
    unseen_ids: dict[str, int] = {}
    rows = []
    for labels in generated:
        ordered = sorted(labels, key=lambda label: -label.score) if by_score else list(labels)
        row = []
        for label in ordered:
            label_id = label.label_id
            if label_id is None:
                label_id = unseen_ids.setdefault(label.label, num_labels + len(unseen_ids))
            row.append((label_id, float(label.score)) if by_score else label_id)
        rows.append(row)
    return rows


def generation_statistics(generated: Sequence[Sequence[RankedLabel]]) -> dict[str, float]:
    """Labels per document, the valid share and the empty share of a generation."""
    total = sum(len(labels) for labels in generated)
    seen = sum(1 for labels in generated for label in labels if label.seen)
    new = {label.label for labels in generated for label in labels if not label.seen}
    return {
        "labels_per_doc": total / max(len(generated), 1),
        "valid_share": seen / total if total else float("nan"),
        "empty_share": sum(1 for labels in generated if not labels) / max(len(generated), 1),
        "num_new_labels": float(len(new)),
    }


def evaluate_generated_labels(
    generated: Sequence[Sequence[RankedLabel]],
    references: Sequence[Sequence[int]],
    vocabulary,
    k: Sequence[int] = (1, 3, 5),
    propensity: str | None = "default",
    exclude=None,
) -> dict[str, float]:
    """Set, ranking and generation metrics of generated labels.

    Args:
        generated (`Sequence[Sequence[RankedLabel]]`): per document, the generated labels (`GenerationResult.labels`).
        references (`Sequence[Sequence[int]]`): per document, the relevant vocabulary ids.
        vocabulary (`LabelVocabulary`): gives the label space and the training counts (tail groups, propensities).
        k (`Sequence[int]`): ranking cut-offs.
        propensity (`str`, *optional*): PSP preset (`"default"`, `"wiki"`, `"amazon"`).
        exclude (*optional*): per document, pairs left out of the set and ranking metrics (an LF set's filter
            pairs, rows aligned), as in `compute_xmc_metrics`.

    Returns:
        `dict[str, float]`: `micro_f1`, `macro_f1`, `micro_precision`, `micro_recall`, `macro_f1_0shot`,
        `macro_f1_1shot`, `macro_f1_1to5shot`, `P@k`, `nDCG@k`, `PSP@k`, `PSP@k_norm`, ..., `labels_per_doc`,
        `valid_share`, `empty_share`, `num_new_labels`.
    """
    if len(generated) != len(references):
        raise ValueError(f"{len(generated)} generations for {len(references)} reference rows")
    num_labels = len(vocabulary)
    counts = np.asarray(vocabulary.counts)
    references = [list(row) for row in references]
    common = {"label_counts": counts, "num_train_docs": vocabulary.num_train_docs, "propensity": propensity}
    common["exclude"] = exclude
    sets = compute_xmc_metrics(
        _prediction_ids(generated, num_labels, by_score=False), references, k=list(k), average="set", **common
    )
    ranked = _prediction_ids(generated, num_labels, by_score=True)
    if not any(ranked):  # nothing generated at all: every slot is a miss
        ranked = [[(num_labels, 0.0)] for _ in ranked]
    ranking = compute_xmc_metrics(ranked, references, k=list(k), average="rank", **common)
    keep = ("micro_precision", "micro_recall", "micro_f1", "macro_precision", "macro_recall", "macro_f1")
    results = {key: sets[key] for key in keep}
    results.update({f"macro_f1_{group}": sets.get(f"macro_f1_{group}", float("nan")) for group in TAIL_GROUPS})
    results.update(ranking)
    results.update(generation_statistics(generated))
    return results


__all__ = ["TAIL_GROUPS", "evaluate_generated_labels", "generation_statistics"]

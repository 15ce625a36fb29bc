"""The exact threshold sweeps behind `hf_xmc.decision.tune_thresholds` (conventions in that module's docstring).

`global_sweep`: one sort of the candidate scores and a cumulative sweep over every distinct score (micro- or
macro-F1). `per_label_sweep`: per label, over that label's candidates sorted by score; macro-F1 is separable, micro-F1
is solved exactly by Dinkelbach's method (a few rounds of independent per-label maximisations).
"""

from __future__ import annotations

import numpy as np

_MAX_DINKELBACH_ROUNDS = 100


def _cut_threshold(scores: np.ndarray, cut: np.ndarray, is_last: np.ndarray) -> np.ndarray:
    """Thresholds keeping `scores[:cut + 1]` of a descending run: halfway to the next score, or the last score."""
    kept = scores[cut]
    below = scores[np.minimum(cut + 1, len(scores) - 1)]
    halfway = kept / 2 + below / 2
    # rounding may land on either neighbour: then the kept score itself is the exact cut
    inside = (halfway > below) & (halfway <= kept)
    return np.where(is_last | ~inside, kept, halfway)


def _above(score: np.ndarray) -> np.ndarray:
    return np.nextafter(score, np.inf)


def global_sweep(scores, hits, labels, relevant_per_label, objective) -> float:
    """The global threshold maximising the objective (ties: the highest threshold)."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_hits = scores[order], hits[order]
    true_positives = np.cumsum(sorted_hits)
    if objective == "micro":
        predicted = np.arange(1, len(order) + 1)
        values = 2 * true_positives / (predicted + relevant_per_label.sum())
    else:
        # macro: the sum of per-label F1 terms; each candidate changes its own label's term. At a cut between
        # distinct scores every label's kept candidates are a prefix of its run, so the changes add up exactly.
        runs = _LabelRuns(scores, hits, labels, np.ones(len(relevant_per_label), dtype=bool))
        relevant = relevant_per_label[runs.labels].astype(np.float64)
        present = relevant > 0
        term_after = _safe_ratio(2 * runs.true_positives, runs.predicted + relevant, present)
        term_before = _safe_ratio(2 * (runs.true_positives - runs.hits), runs.predicted - 1 + relevant, present)
        change = np.empty(len(order))
        change[runs.order] = term_after - term_before
        values = np.cumsum(change[order]) / max(int(np.count_nonzero(relevant_per_label)), 1)
    is_last = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]  # a cut may not split tied scores
    values = np.where(is_last, values, -np.inf)
    best = int(np.argmax(values))
    if values[best] <= 0:  # nothing to gain: predict nothing
        return float(_above(sorted_scores[0]))
    return float(_cut_threshold(sorted_scores, np.array([best]), np.array([best == len(order) - 1]))[0])


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray, where: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=where)


def _grouped_cumsum(values: np.ndarray, run_start: np.ndarray) -> np.ndarray:
    total = np.cumsum(values)
    return total - (total[run_start] - values[run_start])


class _LabelRuns:
    """Every label's candidates sorted by decreasing score, with the running TP / #predicted at each valid cut."""

    def __init__(self, scores, hits, labels, tuned):
        chosen = np.flatnonzero(tuned[labels])
        order = chosen[np.lexsort((-scores[chosen], labels[chosen]))]
        self.order = order  # run position -> candidate index
        self.scores, self.labels, self.hits = scores[order], labels[order], hits[order].astype(np.float64)
        self.starts = np.r_[0, np.flatnonzero(self.labels[1:] != self.labels[:-1]) + 1].astype(np.int64)
        self.run_labels = self.labels[self.starts]
        run_start = np.repeat(self.starts, np.diff(np.r_[self.starts, len(order)]))
        self.true_positives = _grouped_cumsum(self.hits, run_start)
        self.predicted = np.arange(len(order)) - run_start + 1.0
        self.run_end = np.r_[self.starts[1:], len(order)] - 1
        self.is_last = np.zeros(len(order), dtype=bool)
        self.is_last[self.run_end] = True
        self.valid = self.is_last | np.r_[self.scores[1:] != self.scores[:-1], True]

    def best_cuts(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per label: the first (highest-threshold) valid cut of maximal value, and whether it beats predicting none."""
        values = np.where(self.valid, values, -np.inf)
        best_values = np.maximum.reduceat(values, self.starts)
        position = np.arange(len(values))
        is_best = values == np.repeat(best_values, np.diff(np.r_[self.starts, len(values)]))
        cuts = np.minimum.reduceat(np.where(is_best, position, len(values)), self.starts)
        return cuts, best_values > 0

    def thresholds(self, cuts: np.ndarray, predicts: np.ndarray) -> np.ndarray:
        kept = _cut_threshold(self.scores, cuts, self.is_last[cuts])
        return np.where(predicts, kept, _above(self.scores[self.starts]))


def per_label_sweep(scores, hits, labels, relevant_per_label, global_threshold, objective, tuned):
    """Per-label thresholds (tuned labels only; the others keep the global one)."""
    per_label = np.full(len(relevant_per_label), global_threshold)
    if not tuned.any():
        return per_label
    runs = _LabelRuns(scores, hits, labels, tuned)
    relevant = relevant_per_label[runs.labels].astype(np.float64)
    if objective == "macro":  # separable: each label maximises its own F1
        cuts, predicts = runs.best_cuts(2 * runs.true_positives / (runs.predicted + relevant))
    else:  # micro F1 = N / D over all labels: Dinkelbach's method on the tuned labels, the others held fixed
        fixed = ~tuned[labels] & (scores >= global_threshold)
        fixed_tp, fixed_predicted = float(hits[fixed].sum()), float(fixed.sum())
        total_relevant = float(relevant_per_label.sum())
        at_global = scores >= global_threshold  # the starting point: every label at the global threshold
        ratio = 2 * hits[at_global].sum() / (at_global.sum() + total_relevant)
        cuts, predicts = None, None
        for _ in range(_MAX_DINKELBACH_ROUNDS):
            new_cuts, new_predicts = runs.best_cuts(2 * runs.true_positives - ratio * runs.predicted)
            tp = fixed_tp + runs.true_positives[new_cuts][new_predicts].sum()
            predicted = fixed_predicted + runs.predicted[new_cuts][new_predicts].sum()
            new_ratio = 2 * tp / (predicted + total_relevant)
            if cuts is not None and new_ratio <= ratio * (1 + 1e-12):
                break
            cuts, predicts, ratio = new_cuts, new_predicts, new_ratio
    per_label[runs.run_labels] = runs.thresholds(cuts, predicts)
    return per_label


__all__ = ["global_sweep", "per_label_sweep"]

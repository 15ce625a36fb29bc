"""From a ranking to a decision: thresholds tuned on a validation split, the one decision layer of every method.

A method ranks labels (`top_k_ids`, `top_k_scores`, best first, higher score = better); a user wants *the* labels
of a document. `tune_thresholds` picks the score a label must reach, on a validation split:

- one **global threshold** maximising micro-F1 (``objective="micro"``) or macro-F1 (``objective="macro"``), found
  by one sort of the `n * K` candidate scores and a sweep over every distinct score (O(nK log nK), exact);
- optionally **per-label thresholds** (``per_label=True``). For macro-F1 each label maximises its own F1 (the
  objective is a sum over labels). For micro-F1, ``2 TP / (#predicted + #relevant)`` couples the labels; it is a
  ratio of sums over labels, so Dinkelbach's method solves it exactly: for a ratio ``λ`` each label independently
  maximises ``2 TP_l - λ #predicted_l``, then ``λ`` becomes the F1 reached, until it stops rising (a few rounds).
  A label with fewer than `min_label_positives` relevant validation documents (or with no candidate in the
  validation top-K) keeps the global threshold: its own optimum would be noise.

Conventions (the same in tuning and in `DecisionThresholds.decide`):

- a label is predicted when ``score >= threshold``;
- a tuned threshold lies halfway between the lowest score kept and the next lower candidate score (the widest
  margin on validation); when every candidate is kept it is the lowest one, and when none should be it is just
  above the highest;
- positives of a document **missing from its top-K** are false negatives: no threshold can predict them at this K,
  so they lower recall exactly as they will at prediction time (tune with the K you will predict with);
- F1 is `hf_xmc.metrics`'s set-metric F1 (`decision_metrics`): micro over all (document, label) pairs, macro
  averaged over the labels relevant to at least one validation document.

Thresholds apply to the scores they were tuned on: tune on the scores the predictor reports
(`XMCCheckpoint.predict` reports sigmoid probabilities, `RankedLabel.score`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .data.vocabulary import resolve_checkpoint_file
from .metrics.core import compute_xmc_metrics
from .metrics.inputs import reference_matrix
from .metrics.ranking import lookup_hits
from .threshold_sweep import global_sweep, per_label_sweep

DECISION_THRESHOLDS_FILE = "decision_thresholds.json"
OBJECTIVES = ("micro", "macro")


@dataclass
class DecisionThresholds:
    """The score each label must reach to be predicted (``score >= threshold``), with where it came from.

    Args:
        objective (`str`): what was maximised on validation, `"micro"` or `"macro"` F1, or `"fixed"` for a
            threshold set by hand (`DecisionThresholds.fixed(0.5)`).
        global_threshold (`float`): the threshold of every label without its own.
        per_label (`np.ndarray` of shape `(num_labels,)`, *optional*): one threshold per label id (labels too rare
            to tune hold `global_threshold`); `None` for a global threshold only.
        num_labels (`int`, *optional*): size of the label space the thresholds belong to.
        num_validation_docs (`int`, *optional*): documents tuned on.
        top_k (`int`, *optional*): candidates per document tuned on (K of `top_k_ids`).
        validation_f1 (`float`, *optional*): the objective's F1 on validation with these thresholds.
        global_validation_f1 (`float`, *optional*): the same with `global_threshold` alone.
        min_label_positives (`int`, *optional*): relevant validation documents a label needed for its own threshold.
        num_tuned_labels (`int`): labels with their own threshold.
    """

    objective: str
    global_threshold: float
    per_label: np.ndarray | None = None
    num_labels: int | None = None
    num_validation_docs: int | None = None
    top_k: int | None = None
    validation_f1: float | None = None
    global_validation_f1: float | None = None
    min_label_positives: int | None = None
    num_tuned_labels: int = 0

    def __post_init__(self):
        if self.objective not in (*OBJECTIVES, "fixed"):
            raise ValueError(f"objective must be one of {(*OBJECTIVES, 'fixed')}, got {self.objective!r}.")
        self.global_threshold = float(self.global_threshold)
        if not np.isfinite(self.global_threshold):
            raise ValueError(f"global_threshold must be a finite number, got {self.global_threshold}.")
        if self.per_label is not None:
            self.per_label = np.asarray(self.per_label, dtype=np.float64).reshape(-1)
            if self.num_labels is None:
                self.num_labels = len(self.per_label)
            if len(self.per_label) != self.num_labels:
                raise ValueError(f"per_label has {len(self.per_label)} thresholds for {self.num_labels} labels.")
            if not np.isfinite(self.per_label).all():
                raise ValueError("per_label thresholds must be finite numbers.")

    def __eq__(self, other) -> bool:
        if not isinstance(other, DecisionThresholds):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    @classmethod
    def fixed(cls, threshold: float, num_labels: int | None = None) -> DecisionThresholds:
        """A hand-set global threshold (e.g. 0.5 on probabilities), the baseline tuned thresholds are compared to."""
        return cls("fixed", threshold, num_labels=num_labels)

    # -------------------------------------------------------------------------------------------------- deciding
    def thresholds_for(self, ids) -> np.ndarray:
        """The threshold of each label id, same shape as `ids`.

        Ids outside `[0, num_labels)` (padding, or a generated label outside the vocabulary) get the global threshold.
        """
        ids = np.asarray(ids, dtype=np.int64)
        thresholds = np.full(ids.shape, self.global_threshold)
        if self.per_label is not None:
            known = (ids >= 0) & (ids < len(self.per_label))
            thresholds[known] = self.per_label[ids[known]]
        return thresholds

    def passes(self, top_k_ids, top_k_scores, min_labels: int = 0) -> np.ndarray:
        """Which candidates are predicted: `(n, K)` booleans (see `decide`)."""
        if isinstance(min_labels, bool) or not isinstance(min_labels, (int, np.integer)) or min_labels < 0:
            raise ValueError(f"min_labels must be a non-negative integer (0 or 1), got {min_labels!r}.")
        ids, scores = _check_top_k(top_k_ids, top_k_scores)
        valid = ids >= 0
        keep = valid & (scores >= self.thresholds_for(ids))
        if min_labels > 0:
            ranked = np.argsort(np.where(valid, -scores, np.inf), axis=1, kind="stable")
            rank = np.empty_like(ranked)
            np.put_along_axis(rank, ranked, np.arange(ids.shape[1])[None, :], axis=1)
            too_few = keep.sum(axis=1, keepdims=True) < min_labels
            keep |= too_few & valid & (rank < min_labels)
        return keep

    def decide(self, top_k_ids, top_k_scores, min_labels: int = 0) -> list[list[int]]:
        """The predicted labels of each document: the candidates whose score reaches their label's threshold.

        Args:
            top_k_ids (`np.ndarray` of shape `(n, K)`): candidate label ids, best first; negative ids are padding and
                never predicted.
            top_k_scores (`np.ndarray` of shape `(n, K)`): their scores (the kind the thresholds were tuned on).
            min_labels (`int`, defaults to 0): with 0 a document may get no label; with 1 (or more), a document
                with fewer passing labels also gets its `min_labels` best-scored candidates (on top of those that
                pass). Tuning assumes 0.

        Returns:
            `list[list[int]]`: per document, the predicted ids in the order of the columns (the ranking order).
        """
        keep = self.passes(top_k_ids, top_k_scores, min_labels)
        flat = np.asarray(top_k_ids)[keep].tolist()
        ends = np.cumsum(keep.sum(axis=1)).tolist()
        return [flat[start:end] for start, end in zip([0, *ends[:-1]], ends)]

    # ----------------------------------------------------------------------------------------------- persistence
    def to_dict(self) -> dict:
        data = {key: getattr(self, key) for key in self.__dataclass_fields__}
        data["per_label"] = None if self.per_label is None else self.per_label.tolist()
        return data

    @classmethod
    def from_dict(cls, data: dict, source: str | None = None) -> DecisionThresholds:
        where = f"{source}: " if source else ""
        missing = [key for key in ("objective", "global_threshold") if key not in data]
        if missing:
            raise ValueError(f"{where}decision thresholds lack the key(s) {missing}.")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"{where}decision thresholds have unknown key(s) {unknown}.")
        try:
            return cls(**data)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}invalid decision thresholds: {error}") from error

    def save_pretrained(self, save_directory: str | os.PathLike) -> str:
        """Write `decision_thresholds.json` into `save_directory` (created if needed); returns the file path."""
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / DECISION_THRESHOLDS_FILE
        path.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        return str(path)

    @classmethod
    def from_pretrained(
        cls,
        directory_or_repo_id: str | os.PathLike,
        revision: str | None = None,
        token: str | bool | None = None,
        repo_type: str | None = None,
        missing_ok: bool = False,
    ) -> DecisionThresholds | None:
        """Read `decision_thresholds.json` from a local directory (or the file itself), or from a Hub repository.

        Args:
            directory_or_repo_id (`str`): a directory, a path to the JSON file, or a Hub repo id.
            revision, token, repo_type: passed to `huggingface_hub.hf_hub_download` for a Hub repo id.
            missing_ok (`bool`): return `None` instead of raising `FileNotFoundError` when there is no such file
                (a checkpoint saved without tuned thresholds).
        """
        path = resolve_checkpoint_file(directory_or_repo_id, DECISION_THRESHOLDS_FILE, revision, token, repo_type)
        if path is None:
            if missing_ok:
                return None
            raise FileNotFoundError(
                f"{directory_or_repo_id} has no {DECISION_THRESHOLDS_FILE}: no tuned thresholds were saved with it "
                "(tune them with `hf_xmc.decision.tune_thresholds` on a validation split and `save_pretrained`)."
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from error
        return cls.from_dict(data, source=str(path))


def decision_metrics(decisions, references, num_labels: int | None = None) -> dict[str, float]:
    """Micro and macro precision, recall and F1 of predicted label sets (`compute_xmc_metrics(average="set")`).

    Args:
        decisions (`list[list[int]]`): per document, the predicted ids (e.g. `DecisionThresholds.decide`).
        references: per document, the relevant ids (lists of ids, a CSR or a multi-hot matrix).
        num_labels (`int`, *optional*): the label space size.

    Returns:
        `dict[str, float]` with `micro_precision`, `micro_recall`, `micro_f1`, `macro_precision`, `macro_recall`,
        `macro_f1` (macro averages over the labels relevant to at least one document).
    """
    references = _as_references(references)
    metrics = compute_xmc_metrics(decisions, references, k=1, num_labels=num_labels, average="set")
    return {f"{average}_{name}": metrics[f"{average}_{name}"] for average in OBJECTIVES for name in _SET_NAMES}


_SET_NAMES = ("precision", "recall", "f1")


def _as_references(references):
    """Any sequence of id sequences (a `datasets` column, a tuple, ...) as lists; matrices as they are."""
    if sp.issparse(references) or isinstance(references, (np.ndarray, list)):
        return references
    return [list(row) for row in references]


def _check_top_k(top_k_ids, top_k_scores) -> tuple[np.ndarray, np.ndarray]:
    ids, scores = np.asarray(top_k_ids), np.asarray(top_k_scores, dtype=np.float64)
    if ids.ndim != 2 or ids.shape != scores.shape:
        raise ValueError(
            f"top_k_ids and top_k_scores must be (n, K) arrays of the same shape, got {ids.shape} and {scores.shape}."
        )
    if ids.size and ids.dtype.kind not in "iu":
        raise ValueError(f"top_k_ids must hold integer label ids, got dtype {ids.dtype}.")
    if np.isnan(scores).any():
        raise ValueError("top_k_scores contains NaN scores.")
    return ids.astype(np.int64, copy=False), scores


def _check_no_repeats(ids: np.ndarray) -> None:
    ordered = np.sort(ids, axis=1)
    repeated = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    if repeated.any():
        row = int(np.nonzero(repeated.any(axis=1))[0][0])
        raise ValueError(f"top_k_ids repeats a label id in row {row}: each candidate must appear once per row.")


def tune_thresholds(
    top_k_ids,
    top_k_scores,
    references,
    num_labels: int,
    objective: str = "micro",
    per_label: bool = False,
    min_label_positives: int = 5,
) -> DecisionThresholds:
    """Tune decision thresholds on a validation split (see the module docstring for the method and conventions).

    Args:
        top_k_ids (`np.ndarray` of shape `(n, K)`): each validation document's candidate label ids, best first;
            negative ids are padding.
        top_k_scores (`np.ndarray` of shape `(n, K)`): their scores, higher is better (any real numbers).
        references (`list[list[int]]`, or a CSR / multi-hot matrix): the relevant label ids of each document.
        num_labels (`int`): the label space size.
        objective (`str`, defaults to `"micro"`): maximise micro-F1 (`"micro"`) or macro-F1 (`"macro"`).
        per_label (`bool`, defaults to `False`): also tune one threshold per label.
        min_label_positives (`int`, defaults to 5): relevant validation documents a label needs for its own
            threshold; rarer labels keep the global one.

    Returns:
        `DecisionThresholds`, with the validation F1 it reaches (`validation_f1`) and that of the global threshold.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}.")
    if isinstance(min_label_positives, bool) or not isinstance(min_label_positives, (int, np.integer)):
        raise ValueError(f"min_label_positives must be a non-negative integer, got {min_label_positives!r}.")
    if min_label_positives < 0:
        raise ValueError(f"min_label_positives must be a non-negative integer, got {min_label_positives}.")
    ids, scores = _check_top_k(top_k_ids, top_k_scores)
    _check_no_repeats(ids)
    reference_csr = reference_matrix(_as_references(references), num_labels)
    if reference_csr.shape[0] != ids.shape[0]:
        raise ValueError(f"top_k_ids has {ids.shape[0]} documents but references has {reference_csr.shape[0]}.")
    if ids.max(initial=-1) >= num_labels:
        raise ValueError(f"top_k_ids holds label id {ids.max()} but the label space has {num_labels} labels.")
    valid = ids >= 0
    if not valid.any():
        raise ValueError("top_k_ids holds no candidate (every id is padding): there is nothing to tune on.")
    rows = np.broadcast_to(np.arange(ids.shape[0])[:, None], ids.shape)[valid]
    labels, candidate_scores = ids[valid], scores[valid]
    hits = lookup_hits(rows, labels, reference_csr)
    relevant_per_label = np.bincount(reference_csr.indices, minlength=num_labels)

    global_threshold = global_sweep(candidate_scores, hits, labels, relevant_per_label, objective)
    thresholds = DecisionThresholds(
        objective,
        global_threshold,
        num_labels=int(num_labels),
        num_validation_docs=int(ids.shape[0]),
        top_k=int(ids.shape[1]),
        min_label_positives=int(min_label_positives) if per_label else None,
    )
    key = f"{objective}_f1"
    thresholds.global_validation_f1 = decision_metrics(thresholds.decide(ids, scores), reference_csr)[key]
    thresholds.validation_f1 = thresholds.global_validation_f1
    if per_label:
        tuned = (relevant_per_label >= min_label_positives) & (np.bincount(labels, minlength=num_labels) > 0)
        thresholds.per_label = per_label_sweep(
            candidate_scores, hits, labels, relevant_per_label, global_threshold, objective, tuned
        )
        thresholds.num_tuned_labels = int(tuned.sum())
        thresholds.validation_f1 = decision_metrics(thresholds.decide(ids, scores), reference_csr)[key]
    return thresholds

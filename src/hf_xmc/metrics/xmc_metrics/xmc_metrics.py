# Copyright 2026 The hf-xmc Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""xmc_metrics: extreme multi-label classification metrics (P@k, nDCG@k, PSP@k, PSnDCG@k, R@k, set F1, ...)."""

import datasets
import evaluate
import numpy as np
import pyarrow as pa

from hf_xmc.metrics import compute_xmc_metrics
from hf_xmc.metrics.inputs import padded_ids_from_csr_arrays

_CITATION = """\
@inproceedings{jain2016extreme,
  title = {Extreme Multi-label Loss Functions for Recommendation, Tagging, Ranking \\& Other Missing Label Applications},
  author = {Jain, Himanshu and Prabhu, Yashoteja and Varma, Manik},
  booktitle = {Proceedings of the 22nd ACM SIGKDD International Conference on Knowledge Discovery and Data Mining},
  pages = {935--944},
  year = {2016}
}
@misc{bhatia2016xmc,
  title = {The Extreme Classification Repository: Multi-label Datasets and Code},
  author = {Bhatia, K. and Dahiya, K. and Jain, H. and Kar, P. and Mittal, A. and Prabhu, Y. and Varma, M.},
  url = {http://manikvarma.org/downloads/XC/XMLRepository.html},
  year = {2016}
}
"""

_DESCRIPTION = """\
Metrics for extreme multi-label classification (XMC): for every document a ranked list of predicted label ids is
compared with its set of relevant label ids. Ranking metrics at k: precision (P@k), nDCG@k, recall (R@k),
coverage@k and, given training label counts, the propensity-scored PSP@k, PSnDCG@k and PSR@k of Jain et al. (2016),
both unnormalised and normalised by the best achievable value (`_norm`, the Extreme Classification Repository's
convention). With `average="set"`: micro/macro precision, recall and F1 of predicted label sets, XLGen's F1@k and
macro F1 per training-frequency group (0-shot, 1-shot, 1-3, 1-5, 1-10). Predicted ids outside the label space
count as misses. Computed by `hf_xmc.metrics.compute_xmc_metrics`.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `list` of `int`): per document, predicted label ids ranked best first (any length; ids
        outside the label space are misses). With the "scores" configuration: per document, the score of every
        label (a dense score row). With the "labels" configuration: label strings (needs `label_names`).
    references (`list` of `list` of `int`): per document, the relevant label ids (may be empty).
    k (`int` or `list` of `int`, defaults to `[1, 3, 5]`): the cut-offs.
    label_counts (`list` or `np.ndarray` of length L, *optional*): training count of every label; enables PS metrics.
    num_train_docs (`int`, *optional*): number of training documents (with `label_counts`).
    propensity_a (`float`, *optional*), propensity_b (`float`, *optional*): the propensity constants A and B.
    propensity (`str`, *optional*): a preset, "default" (0.55/1.5), "wiki" (0.5/0.4) or "amazon" (0.6/2.6).
    num_labels (`int`, *optional*): the label space size L (otherwise from `label_counts`, `label_names` or the
        largest reference id).
    average (`str`, defaults to `"rank"`): "rank" for ranking metrics, "set" for set metrics.
    label_names (`list` of `str`, *optional*): id -> label string, for the "labels" configuration; a predicted
        string that is not a label is a miss, a reference string that is not a label is an error.
Returns:
    `dict[str, float]`: "P@k", "nDCG@k", "R@k", "coverage@k" for each k; with label counts also "PSP@k",
    "PSP@k_norm", "PSnDCG@k", "PSnDCG@k_norm", "PSR@k", "PSR@k_norm". With `average="set"`: "micro_precision",
    "micro_recall", "micro_f1", "macro_precision", "macro_recall", "macro_f1", "F1@k" and, with label counts,
    "macro_f1_0shot", "macro_f1_1shot", "macro_f1_1to3shot", "macro_f1_1to5shot", "macro_f1_1to10shot".
Examples:
    >>> xmc_metrics = evaluate.load("xmc_metrics")
    >>> results = xmc_metrics.compute(predictions=[[3, 1, 7], [0, 2, 5]], references=[[1, 2], [0]], k=[1, 3])
    >>> print({name: round(value, 4) for name, value in results.items()})
    {'P@1': 0.5, 'P@3': 0.3333, 'nDCG@1': 0.5, 'nDCG@3': 0.6934, 'R@1': 0.5, 'R@3': 0.75, 'coverage@1': 0.3333, 'coverage@3': 0.6667}
"""

_ID_LISTS = datasets.Features(
    {
        "predictions": datasets.Sequence(datasets.Value("int64")),
        "references": datasets.Sequence(datasets.Value("int64")),
    }
)
# a configuration of its own: with several formats, evaluate picks one from the first example alone, and an empty
# first document would select the string format for id lists
_STRING_LISTS = datasets.Features(
    {
        "predictions": datasets.Sequence(datasets.Value("string")),
        "references": datasets.Sequence(datasets.Value("string")),
    }
)
_SCORE_ROWS = datasets.Features(
    {
        "predictions": datasets.Sequence(datasets.Value("float64")),
        "references": datasets.Sequence(datasets.Value("int64")),
    }
)


def _score_matrix(column):
    """An Arrow column of equally long float lists -> the (n, L) score matrix."""
    lists = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    offsets = lists.offsets.to_numpy().astype(np.int64)
    lengths = np.diff(offsets)
    if lengths.size and (lengths != lengths[0]).any():
        raise ValueError("predictions: every score row must have one score per label (rows of different lengths).")
    width = int(lengths[0]) if lengths.size else 0
    values = lists.values.to_numpy(zero_copy_only=False)[offsets[0] : offsets[-1]]
    return values.astype(np.float64).reshape(lengths.size, width)


_CONFIGURATIONS = {"default": _ID_LISTS, "labels": _STRING_LISTS, "scores": _SCORE_ROWS}


def _strings_to_ids(rows, label_to_id, unknown_id, name):
    ids = []
    for row_number, row in enumerate(rows):
        row_ids = [label_to_id.get(label, unknown_id) for label in row]
        if unknown_id is None and None in row_ids:
            unknown = [label for label in row if label not in label_to_id]
            raise ValueError(f"{name} row {row_number} contains labels that are not in label_names: {unknown[:5]}.")
        ids.append(row_ids)
    return ids


def _largest_k(k):
    """max(k) when k is valid, else None (the core then reports the problem)."""
    values = list(k) if isinstance(k, (list, tuple, np.ndarray)) else [k]
    if values and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in values):
        return int(max(values))
    return None


def _padded_ids(column, width=None):
    """An Arrow list column -> an (n, width) int64 id array padded with -1, without building Python ints.

    Args:
        column (`pyarrow.ChunkedArray` of lists of int64): one list per document.
        width (`int`, *optional*): keep at most this many ids per document (default: the longest list).
    """
    lists = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    offsets = lists.offsets.to_numpy().astype(np.int64)
    values = lists.values.to_numpy(zero_copy_only=False)
    if width is None:
        width = int(np.diff(offsets).max(initial=0))
    return padded_ids_from_csr_arrays(offsets - offsets[0], values[offsets[0] :], max(width, 1))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class XmcMetrics(evaluate.Metric):
    """Extreme multi-label classification metrics; see the metric card."""

    def _info(self):
        features = _CONFIGURATIONS.get(self.config_name or "default")
        if features is None:
            raise ValueError(f"unknown configuration {self.config_name!r}: use one of {sorted(_CONFIGURATIONS)}.")
        info = evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=features,
            reference_urls=[
                "http://manikvarma.org/downloads/XC/XMLRepository.html",
                "https://github.com/mwydmuch/napkinXC",
                "https://github.com/kunaldahiya/pyxclib",
            ],
        )
        # hand the cached columns to _compute as Arrow arrays: turning 10^7 ids into Python ints would cost seconds
        # (set after construction: MetricInfo's own check accepts "numpy" only for flat features)
        info.format = "arrow"
        return info

    def _compute(
        self,
        predictions,
        references,
        k=(1, 3, 5),
        label_counts=None,
        num_train_docs=None,
        propensity_a=None,
        propensity_b=None,
        propensity=None,
        num_labels=None,
        average="rank",
        label_names=None,
    ):
        is_strings = self.config_name == "labels"
        if is_strings:
            predictions, references = predictions.to_pylist(), references.to_pylist()
        elif self.config_name == "scores":
            predictions, references = _score_matrix(predictions), references.to_pylist()
        else:
            predictions = _padded_ids(predictions, None if average == "set" else _largest_k(k))
            references = references.to_pylist()
        if is_strings and label_names is None:
            raise ValueError("predictions/references are label strings: pass label_names (id -> label string).")
        elif is_strings:
            label_to_id = {label: index for index, label in enumerate(label_names)}
            # a generated string that is no label becomes id L: outside the label space, hence a miss
            predictions = _strings_to_ids(predictions, label_to_id, len(label_names), "predictions")
            references = _strings_to_ids(references, label_to_id, None, "references")
        if label_names is not None:
            num_labels = len(label_names) if num_labels is None else num_labels
        results = compute_xmc_metrics(
            predictions,
            references,
            k=k,
            label_counts=label_counts,
            num_train_docs=num_train_docs,
            propensity_a=propensity_a,
            propensity_b=propensity_b,
            propensity=propensity,
            num_labels=num_labels,
            average=average,
        )
        return results

"""Label propensities (Jain, Prabhu & Varma, KDD 2016), the one implementation every metric and model uses.

The propensity ``p_l`` of label ``l`` models how likely a relevant label is to be observed at all; tail labels are
missed more often, so propensity-scored metrics (PSP@k, PSnDCG@k) weight a hit on label ``l`` by ``1 / p_l``:

    1 / p_l = 1 + C * (N_l + B) ** (-A),    C = (ln N - 1) * (B + 1) ** A

with ``N`` the number of training documents and ``N_l`` the training count of label ``l`` (training split only).
"""

from __future__ import annotations

import math

import numpy as np

PROPENSITY_PRESETS: dict[str, tuple[float, float]] = {
    # name: (A, B); the values the Extreme Classification Repository and napkinXC's scripts use.
    "default": (0.55, 1.5),  # EUR-Lex, Wiki10-31K, AmazonCat-13K and any data set without its own constants
    "wiki": (0.5, 0.4),  # Wikipedia sets: Wiki-500K, WikiLSHTC-325K
    "amazon": (0.6, 2.6),  # Amazon-670K, Amazon-3M
}


def resolve_propensity_params(
    propensity: str | None = None, a: float | None = None, b: float | None = None
) -> tuple[float, float]:
    """Return ``(A, B)`` from a preset name and/or explicit values (explicit values win over the preset).

    Args:
        propensity (`str`, *optional*): one of `PROPENSITY_PRESETS` ("default", "wiki", "amazon").
        a (`float`, *optional*): the constant A; overrides the preset's.
        b (`float`, *optional*): the constant B; overrides the preset's.
    """
    if propensity is None:
        propensity = "default"
    if propensity not in PROPENSITY_PRESETS:
        raise ValueError(
            f"propensity={propensity!r} is not a known preset; choose one of {sorted(PROPENSITY_PRESETS)} "
            "or pass propensity_a/propensity_b explicitly."
        )
    preset_a, preset_b = PROPENSITY_PRESETS[propensity]
    a = preset_a if a is None else float(a)
    b = preset_b if b is None else float(b)
    if not (a > 0 and b >= 0):
        raise ValueError(f"propensity constants must satisfy A > 0 and B >= 0, got A={a}, B={b}.")
    return a, b


def inverse_propensity(
    label_counts,
    num_train_docs: int,
    a: float | None = None,
    b: float | None = None,
    propensity: str | None = None,
) -> np.ndarray:
    """Inverse propensities ``1 / p_l`` for every label, from training counts.

    Args:
        label_counts (`array-like` of shape `(num_labels,)`): training-split count of each label.
        num_train_docs (`int`): number of training documents ``N``.
        a, b (`float`, *optional*): the constants A and B (default: the "default" preset, 0.55 / 1.5).
        propensity (`str`, *optional*): a preset name, see `PROPENSITY_PRESETS`.

    Returns:
        `np.ndarray` of shape `(num_labels,)`, float64, every value >= 1.
    """
    a, b = resolve_propensity_params(propensity, a, b)
    counts = np.asarray(label_counts, dtype=np.float64)
    if counts.ndim != 1:
        raise ValueError(f"label_counts must be one-dimensional (one count per label), got shape {counts.shape}.")
    if np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError("label_counts must be finite and non-negative.")
    if num_train_docs is None or int(num_train_docs) < 1:
        raise ValueError(f"num_train_docs must be a positive integer, got {num_train_docs!r}.")
    c = (math.log(int(num_train_docs)) - 1.0) * (b + 1.0) ** a
    return 1.0 + c * np.power(counts + b, -a)

"""Exact top-k of a wide linear layer through a bounded int8 screening pass (CPU).

Scoring a 125,000-label APLC cluster in float32 reads its whole weight matrix per batch (256 MB at d = 512); an int8
copy is a quarter of that and fbgemm's int8 GEMM is several times faster than the float32 one on a CPU. The int8
scores `a` are approximate, but their error is bounded per (row, label): `|a - s| <= e` for the float32 score `s`.
So, per row:

1. `τ` = the k-th largest lower bound `a - e`; a label whose upper bound `a + e` is below `τ` has at least k labels
   certainly above it and cannot be in the top k;
2. the few remaining candidates are scored exactly in float32 and the best k are kept.

The result is the float32 top k (up to exact ties that summation order can flip, as between any two GEMM kernels).
Where the bound is too loose to prune (an untrained layer with near-equal scores) or the int8 kernels are missing, the
layer is scored in float32: the answer never depends on the screening.

The error bound. Weights are quantised per label with a symmetric scale, `ŵ = s_w q`, and the residual `r = w - ŵ`
is kept as its norm. fbgemm quantises the input per tensor to 7 bits (`reduce_range`, which also rules out int16
saturation in its AVX2 kernels); rather than assume how, the packed matrix carries `d` identity rows, so the same call
returns the quantised input `x̂` itself and its error `e = x - x̂` is known. Integer accumulation is exact, hence
`|w·x - ŵ·x̂| <= |r·x| + |ŵ·e| <= ‖r‖₂‖x‖₂ + ‖ŵ‖₂‖e‖₂`. A second pass scores `e` the same way (its quantised copy
`ê` comes back too), shrinking the input term to `‖ŵ‖₂‖e - ê‖₂`, about 1/127 of the first. A small relative margin
covers float rounding in the kernel's dequantisation.

This file imports only torch: it is copied next to the weights by ``save_pretrained`` (remote code).
"""

from __future__ import annotations

import math
import warnings

import torch
from torch.nn import functional as F

SCREENING_MODES = ("auto", "int8", "none")
# Below this many labels a float32 GEMM is already cheap and screening only adds work.
MIN_SCREENED_LABELS = 4096
# Give up screening (score in float32) when more than this share of the labels survives as candidates.
MAX_CANDIDATE_FRACTION = 0.125
# One int8 pass suffices when it leaves at most this many candidates per row and requested label (on average).
FEW_CANDIDATES_PER_K = 64
# Relative slack for float rounding in the int8 kernel's dequantisation and in the float32 reference itself.
ROUNDING_MARGIN = 1e-5


def int8_kernels_available() -> bool:
    """Whether this torch build has the CPU int8 dynamic linear kernels (fbgemm / x86 engine)."""
    engines = getattr(torch.backends.quantized, "supported_engines", [])
    return any(engine in engines for engine in ("x86", "fbgemm")) and hasattr(torch.ops.quantized, "linear_dynamic")


class Int8Screen:
    """An int8 copy of a `(num_labels, dim)` float32 weight matrix (plus `dim` identity rows), with what the error
    bound needs. Build one with `Int8Screen.from_weight`; it stays valid while the weight is unchanged (see
    `ScreenCache`).
    """

    def __init__(self, packed, num_labels: int, residual_norm: torch.Tensor, quantized_norm: torch.Tensor):
        self.packed = packed
        self.num_labels = num_labels
        # rows multiplying ‖x‖, ‖e‖ and 1 in the bound (ROUNDING_MARGIN covers the kernel's float dequantisation)
        self.label_terms = torch.stack(
            [residual_norm + ROUNDING_MARGIN * quantized_norm, quantized_norm, torch.full_like(residual_norm, 1e-6)]
        )

    @classmethod
    def from_weight(cls, weight: torch.Tensor) -> Int8Screen:
        weight = weight.detach().float()
        num_labels, dim = weight.shape
        augmented = torch.cat([weight, torch.eye(dim, dtype=weight.dtype, device=weight.device)]).contiguous()
        scale = (augmented.abs().amax(dim=1) / 127.0).clamp_min(1e-12)
        dequantized = torch.round(augmented / scale[:, None]).clamp_(-127, 127) * scale[:, None]
        with warnings.catch_warnings():
            # torch marks its quantized tensor types as deprecated; the kernels are what we need, and
            # `should_screen` falls back to float32 where they are missing.
            warnings.simplefilter("ignore")
            quantized = torch.quantize_per_channel(
                augmented, scale.double(), torch.zeros(len(scale), dtype=torch.long), 0, torch.qint8
            )
            packed = torch.ops.quantized.linear_prepack(quantized, None)
        return cls(
            packed,
            num_labels,
            residual_norm=(augmented - dequantized)[:num_labels].norm(dim=1),
            quantized_norm=dequantized[:num_labels].norm(dim=1),
        )

    def _int8_pass(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """int8 scores of `inputs` and the quantised inputs the kernel actually used."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = torch.ops.quantized.linear_dynamic(inputs.contiguous(), self.packed, True)
        return output[:, : self.num_labels], output[:, self.num_labels :]

    def approximate_scores(self, inputs: torch.Tensor, passes: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
        """int8 scores `(rows, num_labels)` and bounds on their distance to the float32 scores (same shape)."""
        approximate, quantized_inputs = self._int8_pass(inputs)
        input_error = inputs - quantized_inputs
        for _ in range(passes - 1):
            approximate, input_error = self.refine(approximate, input_error)
        return approximate, self.error_bound(inputs, input_error)

    def refine(self, approximate: torch.Tensor, input_error: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One more pass, scoring the input's quantisation error: `(better scores, the input error still left)`."""
        correction, quantized_error = self._int8_pass(input_error)
        return approximate + correction, input_error - quantized_error

    def error_bound(self, inputs: torch.Tensor, input_error: torch.Tensor) -> torch.Tensor:
        """`‖r‖‖x‖ + ‖ŵ‖‖e‖ + margin` for every (row, label), as one rank-3 product (one pass over the output)."""
        row_terms = torch.stack(
            [inputs.norm(dim=1), input_error.norm(dim=1), torch.ones(inputs.shape[0], device=inputs.device)], dim=1
        )
        return row_terms @ self.label_terms


class ScreenCache(dict):
    """int8 screens keyed by parameter name, rebuilt when the weight's storage or version changes.

    Not state: copies and pickles start empty (the packed int8 weights are derived data).
    """

    def get_screen(self, name: str, weight: torch.Tensor) -> Int8Screen:
        key = (weight.data_ptr(), weight._version, tuple(weight.shape))
        cached = self.get(name)
        if cached is None or cached[0] != key:
            cached = (key, Int8Screen.from_weight(weight))
            self[name] = cached
        return cached[1]

    def __deepcopy__(self, memo) -> ScreenCache:
        return ScreenCache()

    def __reduce__(self):
        return (ScreenCache, ())


def should_screen(mode: str, inputs: torch.Tensor, weight: torch.Tensor) -> bool:
    """Resolve a screening mode (`"auto"`, `"int8"`, `"none"`) for one matrix."""
    if mode not in SCREENING_MODES:
        raise ValueError(f"screening must be one of {SCREENING_MODES}, got {mode!r}")
    if mode == "none":
        return False
    usable = inputs.device.type == "cpu" and weight.dtype == torch.float32 and int8_kernels_available()
    if mode == "int8":
        if not usable:
            raise ValueError(
                "int8 screening needs float32 weights on CPU and torch's fbgemm/x86 quantized engine; "
                "use screening='none' (or 'auto', which picks it only where it applies)"
            )
        return True
    return usable and weight.shape[0] >= MIN_SCREENED_LABELS


def linear_top_k(
    inputs: torch.Tensor, weight: torch.Tensor, k: int, screen: Int8Screen | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest of `inputs @ weight.T` per row (float32 values, column ids), exactly.

    With a `screen` of the same weight, only the candidates the int8 pass cannot rule out are scored in float32. One
    int8 pass is tried first; a second one (tighter bound) only when it leaves too many candidates.
    """
    if screen is None or inputs.shape[0] == 0:
        return F.linear(inputs, weight).topk(k, dim=1)
    inputs = inputs.float().contiguous()
    approximate, quantized_inputs = screen._int8_pass(inputs)
    input_error = inputs - quantized_inputs
    few_pairs = FEW_CANDIDATES_PER_K * k * inputs.shape[0]
    for final_pass in (False, True):
        bound = screen.error_bound(inputs, input_error)
        threshold = (approximate - bound).topk(k, dim=1).values[:, -1:]
        is_candidate = bound.add_(approximate) >= threshold
        num_pairs = int(torch.count_nonzero(is_candidate))
        if num_pairs <= few_pairs:
            break
        if final_pass or num_pairs > 0.5 * is_candidate.numel():  # a second pass would not save enough
            if num_pairs > MAX_CANDIDATE_FRACTION * is_candidate.numel():
                return F.linear(inputs, weight).topk(k, dim=1)
            break
        approximate, input_error = screen.refine(approximate, input_error)
    rows, columns = is_candidate.nonzero(as_tuple=True)
    return _rescore_candidates(inputs, weight, rows, columns, k)


def _rescore_candidates(
    inputs: torch.Tensor, weight: torch.Tensor, rows: torch.Tensor, columns: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Float32 scores of the candidate (row, label) pairs (row-major, as `nonzero` gives them), then each row's best k."""
    scores = torch.einsum("pd,pd->p", weight.index_select(0, columns), inputs.index_select(0, rows))
    counts = torch.bincount(rows, minlength=inputs.shape[0])
    starts = torch.cumsum(counts, 0) - counts
    slots = torch.arange(rows.numel(), device=rows.device) - starts[rows]
    width = max(int(counts.max()), k)
    padded_scores = scores.new_full((inputs.shape[0], width), -math.inf)
    padded_ids = columns.new_zeros((inputs.shape[0], width))
    padded_scores[rows, slots] = scores
    padded_ids[rows, slots] = columns
    values, positions = padded_scores.topk(k, dim=1)
    return values, padded_ids.gather(1, positions)

"""Masked data augmentation (XDA §2.3): head/tail labels split by N_t, the augmentation loss of eq. 4, and the
classifier trained with its encoder frozen on `L_BCE(original) + L_Aug(augmented)`.

- `head_tail_split(counts, N_t)`: a label is a tail label when it has fewer than `N_t` training documents.
- `MaskedAugmentationLoss` (eq. 4, the paper's default): `-Σ_l m_l y_l log σ(s_l) + (1 - y_l) log(1 - σ(s_l))` with
  `m_l = 1` for tail labels and 0 for head labels: an augmented document teaches only its tail labels as positives
  (and every label as a negative where it is one), so augmentation does not feed the head further.
- `ReweightedAugmentationLoss` (the reference code's active variant): BCE weighted per label by
  `w_l = (max_n / (n_l + 1))^q` (mean 1), times `scale` (0.3).
- `plain`: BCE on augmented pairs (the 'w/o Mask' ablation).
All losses sum over labels and average over documents, like eq. 4; `L_BCE` on the original data is the same BCE.

`train_classifier` takes any hf-xmc classifier whose forward gives dense per-label logits (`sigmoid(logits)` is the
label probability: APLC's `return_logits=True`, GUDN, ...), freezes `model.base_model` (the encoder, in eval mode)
and trains the rest (the classifier `W`, with APLC its hidden layer too), with AdamW at a constant learning rate and
optionally stochastic weight averaging, as the paper.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm


def head_tail_split(label_counts: np.ndarray, threshold: float) -> np.ndarray:
    """`tail` (bool, `(L,)`): labels with fewer than `threshold` (N_t) training documents.

    Raises:
        `ValueError` naming `--head_tail_threshold` when no label is tail (every augmented positive would be masked)
        or every label is tail (the mask would do nothing: that is `--augmentation_loss plain`).
    """
    counts = np.asarray(label_counts)
    tail = counts < threshold
    if not tail.any():
        raise ValueError(
            f"--head_tail_threshold {threshold:g}: no label has fewer training documents (the rarest has "
            f"{int(counts.min())}), so eq. 4 would mask every augmented positive; raise N_t"
        )
    if tail.all():
        raise ValueError(
            f"--head_tail_threshold {threshold:g} is larger than every label's count (the most frequent has "
            f"{int(counts.max())}): every label is a tail label and the mask does nothing; lower N_t, or use "
            "--augmentation_loss plain for unmasked augmentation"
        )
    return tail


def multi_hot(label_lists: Sequence[Sequence[int]], num_labels: int) -> torch.Tensor:
    """`(len(label_lists), num_labels)` float targets."""
    targets = torch.zeros(len(label_lists), num_labels)
    for row, labels in enumerate(label_lists):
        targets[row, list(labels)] = 1.0
    return targets


def bce_sum(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """BCE summed over labels, averaged over documents (`L_BCE`)."""
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(1).mean()


class MaskedAugmentationLoss(nn.Module):
    """Eq. 4: BCE on augmented pairs whose head-label positives are masked out.

    Args:
        tail (`torch.Tensor` of shape `(L,)`, bool): `head_tail_split`'s tail labels (`m_l = 1`).
    """

    def __init__(self, tail: torch.Tensor):
        super().__init__()
        self.register_buffer("tail", torch.as_tensor(tail, dtype=torch.float32))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Args: logits, targets (`torch.Tensor` of shape `(batch, L)`)."""
        positive = targets * self.tail * F.logsigmoid(logits)
        negative = (1 - targets) * F.logsigmoid(-logits)
        return -(positive + negative).sum(1).mean()


class ReweightedAugmentationLoss(nn.Module):
    """The reference code's re-weighted BCE: `scale · Σ_l w_l BCE_l`, `w_l = (max_n / (n_l + 1))^q` rescaled to mean 1.

    Args:
        label_counts (`np.ndarray` of shape `(L,)`): training documents per label.
        power (`float`): `q` (0.5). scale (`float`): the factor (0.3).
    """

    def __init__(self, label_counts: np.ndarray, power: float = 0.5, scale: float = 0.3):
        super().__init__()
        counts = np.asarray(label_counts, dtype=np.float64)
        weights = (counts.max() / (counts + 1)) ** power
        weights = weights / weights.mean()
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))
        self.scale = scale

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        per_pair = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        return self.scale * (per_pair * self.weights).sum(1).mean()


class PlainAugmentationLoss(nn.Module):
    """BCE on augmented pairs, nothing masked (the 'w/o Mask' ablation)."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return bce_sum(logits, targets)


def build_augmentation_loss(kind: str, label_counts: np.ndarray, head_tail_threshold: float, power: float = 0.5,
                            scale: float = 0.3) -> nn.Module:  # fmt: skip
    if kind == "masked":
        return MaskedAugmentationLoss(torch.as_tensor(head_tail_split(label_counts, head_tail_threshold)))
    if kind == "reweighted":
        return ReweightedAugmentationLoss(label_counts, power, scale)
    if kind == "plain":
        return PlainAugmentationLoss()
    raise ValueError(f"--augmentation_loss must be masked, reweighted or plain, got {kind!r}")


def dense_logits(model, batch: dict) -> torch.Tensor:
    """`(batch, L)` per-label logits with gradients; a `ValueError` for a model that gives none."""
    extra = {"return_logits": True} if "return_logits" in inspect.signature(model.forward).parameters else {}
    logits = getattr(model(**batch, **extra), "logits", None)
    num_labels = getattr(model.config, "num_labels", None)
    if logits is None or logits.dim() != 2 or (num_labels and logits.shape[1] != num_labels):
        raise ValueError(f"{type(model).__name__} gives no dense per-label logits, which the MDA loss needs")
    return logits


def freeze_encoder(model) -> list[nn.Parameter]:
    """Freeze `model.base_model` (kept in eval mode) and return the classifier's parameters, which train."""
    encoder = model.base_model
    if encoder is model:
        raise ValueError(f"{type(model).__name__} has no separate encoder (base_model) to freeze")
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    if not trainable:
        raise ValueError(f"{type(model).__name__} has no parameters outside its encoder to train")
    return trainable


def train_classifier(
    model,
    tokenizer,
    num_labels: int,
    original: tuple[Sequence[str], Sequence[Sequence[int]]],
    augmented: tuple[Sequence[str], Sequence[Sequence[int]]] | None,
    augmentation_loss: nn.Module | None,
    *,
    minutes: float,
    epochs: float,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    max_length: int = 64,
    swa: bool = False,
    swa_start: float = 0.5,
    swa_every: int = 10,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Train the classifier (encoder frozen) on `L_BCE(original) + L_Aug(augmented)`, within `minutes`.

    Each step takes `batch_size` original documents and, with augmentation, `batch_size` augmented ones (both cycled
    through in seeded random orders). `augmented=None` trains on the original data alone (the baseline).

    Returns:
        `dict`: `steps`, `epochs` (over the original data), `train_seconds`, `first_loss`, `last_loss`,
        `loss_log`, `swa_averaged` (number of averaged snapshots).
    """
    rng = np.random.default_rng(seed)
    trainable = freeze_encoder(model)
    augmentation_loss = augmentation_loss.to(next(model.parameters()).device) if augmentation_loss else None
    model.train()
    model.base_model.eval()
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate)
    texts, labels = original
    steps_per_epoch = math.ceil(len(texts) / batch_size)
    max_steps = max(1, int(epochs * steps_per_epoch))
    use_augmented = augmented is not None and len(augmented[0]) > 0 and augmentation_loss is not None

    def batches(count: int):
        while True:
            order = rng.permutation(count)
            for start in range(0, count, batch_size):
                yield order[start : start + batch_size]

    def encode(rows, source):
        encoded = tokenizer([source[0][i] for i in rows], max_length=max_length, truncation=True, padding=True,
                            return_tensors="pt")  # fmt: skip
        device = next(model.parameters()).device
        batch = {key: value.to(device) for key, value in encoded.items() if key in ("input_ids", "attention_mask")}
        return batch, multi_hot([source[1][i] for i in rows], num_labels).to(device)

    original_rows = batches(len(texts))
    augmented_rows = batches(len(augmented[0])) if use_augmented else None
    swa_state, swa_count = None, 0
    swa_first = int(swa_start * max_steps)
    deadline = time.monotonic() + minutes * 60
    started = time.monotonic()
    log, step = [], 0
    bar = tqdm(total=max_steps, desc="train classifier", disable=not progress)
    while step < max_steps and time.monotonic() < deadline:
        batch, targets = encode(next(original_rows), original)
        loss = bce_sum(dense_logits(model, batch), targets)
        if use_augmented:
            batch, targets = encode(next(augmented_rows), augmented)
            loss = loss + augmentation_loss(dense_logits(model, batch), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        step += 1
        log.append([step, loss.item()])
        bar.update(1)
        bar.set_postfix(loss=f"{log[-1][1]:.3f}")
        if swa and step >= swa_first and (step - swa_first) % swa_every == 0:
            swa_count += 1
            with torch.no_grad():
                if swa_state is None:
                    swa_state = [parameter.detach().clone() for parameter in trainable]
                else:  # running mean, β = 1/n (LightXML)
                    for average, parameter in zip(swa_state, trainable):
                        average.add_((parameter.detach() - average) / swa_count)
    bar.close()
    if swa_state is not None:
        with torch.no_grad():
            for average, parameter in zip(swa_state, trainable):
                parameter.copy_(average)
    model.eval()
    return {
        "steps": step,
        "epochs": step / steps_per_epoch,
        "train_seconds": time.monotonic() - started,
        "first_loss": log[0][1] if log else None,
        "last_loss": float(np.mean([loss for _, loss in log[-10:]])) if log else None,
        "loss_log": log[:: max(1, len(log) // 200)],
        "augmented": use_augmented,
        "swa_averaged": swa_count,
    }


def evaluate_classifier(checkpoint_like, texts: Sequence[str], references: Sequence[Sequence[int]], vocabulary,
                        method: str, k: int = 5, max_length: int | None = None, batch_size: int = 64,
                        progress: bool = True) -> dict:  # fmt: skip
    """P@k, PSP@k, ... (`hf_xmc.metrics.compute_xmc_metrics`) of a classifier ranking through its method's recipe.

    Args:
        checkpoint_like: an object with `model` and `tokenizer` (an `XMCCheckpoint`).
    """
    from ..hub.checkpoint import method_ranker
    from ..metrics import compute_xmc_metrics

    ranker = method_ranker(method)
    predictions = []
    kwargs = {"max_length": max_length} if max_length else {}
    for start in tqdm(range(0, len(texts), batch_size), desc="evaluate", disable=not progress):
        ranked = ranker(checkpoint_like.model, checkpoint_like.tokenizer, vocabulary,
                        list(texts[start : start + batch_size]), k=k, truncation=True, **kwargs)  # fmt: skip
        predictions.extend([label.label_id for label in labels] for labels in ranked)
    return compute_xmc_metrics(
        predictions, references, k=tuple(sorted({1, 3, k})), label_counts=vocabulary.counts,
        num_train_docs=vocabulary.num_train_docs, num_labels=len(vocabulary),
    )  # fmt: skip


__all__ = [
    "MaskedAugmentationLoss",
    "PlainAugmentationLoss",
    "ReweightedAugmentationLoss",
    "bce_sum",
    "build_augmentation_loss",
    "dense_logits",
    "evaluate_classifier",
    "freeze_encoder",
    "head_tail_split",
    "multi_hot",
    "train_classifier",
]

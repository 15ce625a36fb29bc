"""Discriminative fine-tuning (§4.1 of APLC-XLNet) and slanted triangular learning rates (§4.2, eq. 15).

Usable three ways: build the optimizer and scheduler yourself and pass `Trainer(optimizers=(optimizer, scheduler))`;
or use `XMCTrainer` with `XMCTrainingArguments` (a `TrainingArguments` with one learning rate per part), which works
from any `HfArgumentParser` script and under `accelerate launch`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from transformers import Trainer
from transformers.trainer_pt_utils import get_parameter_names

from .arguments import RecipeTrainingArguments

# The parameter-name patterns Trainer exempts from weight decay (biases and norms).
NO_DECAY_NAME_PATTERNS = [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"]
HIDDEN_LAYER_ATTRIBUTE = "hidden_layer"
OUTPUT_LAYER_ATTRIBUTE = "aplc"


def discriminative_parameter_groups(
    model: nn.Module, lr_encoder: float, lr_hidden: float, lr_aplc: float, weight_decay: float = 0.0
) -> list[dict]:
    """Parameter groups for the encoder, the hidden layer and the APLC layer, each split into decay / no-decay.

    Args:
        model (`nn.Module`): an APLC model with `hidden_layer` and `aplc` sub-modules (everything else is encoder).
        lr_encoder (`float`): `η_x`, small (the pretrained encoder), e.g. 5e-5.
        lr_hidden (`float`): `η_h`, between the two, e.g. 1e-4.
        lr_aplc (`float`): `η_a`, large (the freshly initialised output layer), e.g. 2e-3.
        weight_decay (`float`, defaults to 0.0): applied to every weight except biases and norms.

    Returns:
        `list[dict]`: non-empty groups with keys `params`, `lr`, `weight_decay` and `name` (e.g. `"aplc"`,
        `"aplc_no_decay"`).
    """
    for attribute in (HIDDEN_LAYER_ATTRIBUTE, OUTPUT_LAYER_ATTRIBUTE):
        if not isinstance(getattr(model, attribute, None), nn.Module):
            raise ValueError(
                f"{type(model).__name__} has no `{attribute}` module: discriminative learning rates need an APLC "
                "model (XLNetWithAPLC or EncoderWithAPLC)"
            )
    decay_names = set(get_parameter_names(model, [nn.LayerNorm], NO_DECAY_NAME_PATTERNS))
    learning_rates = {"encoder": lr_encoder, HIDDEN_LAYER_ATTRIBUTE: lr_hidden, OUTPUT_LAYER_ATTRIBUTE: lr_aplc}
    buckets: dict[str, list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        part = name.split(".", 1)[0]
        part = part if part in (HIDDEN_LAYER_ATTRIBUTE, OUTPUT_LAYER_ATTRIBUTE) else "encoder"
        key = part if name in decay_names else f"{part}_no_decay"
        buckets.setdefault(key, []).append(parameter)
    groups = []
    for part, lr in learning_rates.items():
        for key, decay in ((part, weight_decay), (f"{part}_no_decay", 0.0)):
            if buckets.get(key):
                groups.append({"params": buckets[key], "lr": lr, "weight_decay": decay, "name": key})
    return groups


def create_discriminative_optimizer(
    model: nn.Module,
    lr_encoder: float = 5e-5,
    lr_hidden: float = 1e-4,
    lr_aplc: float = 2e-3,
    weight_decay: float = 0.0,
    eps: float = 1e-8,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.AdamW:
    """AdamW with one learning rate per part of the model (the paper's Table 3 defaults; eps 1e-8 as the reference).

    Args: see `discriminative_parameter_groups`; `eps` and `betas` go to `torch.optim.AdamW`.
    """
    groups = discriminative_parameter_groups(model, lr_encoder, lr_hidden, lr_aplc, weight_decay)
    return torch.optim.AdamW(groups, lr=lr_encoder, eps=eps, betas=betas)


def slanted_triangular_factor(step: int, num_warmup_steps: int, num_training_steps: int) -> float:
    """Eq. 15 as a multiplier of each group's `η_0`: `t / t_w` up to `t_w`, then `(t_a - t) / (t_a - t_w)`."""
    if step <= num_warmup_steps:
        return step / num_warmup_steps if num_warmup_steps > 0 else 1.0
    return max(0.0, (num_training_steps - step) / max(1, num_training_steps - num_warmup_steps))


def get_slanted_triangular_schedule(
    optimizer: torch.optim.Optimizer, num_warmup_steps: int, num_training_steps: int, last_epoch: int = -1
) -> LambdaLR:
    """Slanted triangular learning rates (eq. 15): linear rise over `num_warmup_steps`, then linear decay to 0.

    Each parameter group keeps its own peak learning rate, so this composes with discriminative fine-tuning. With
    `num_warmup_steps=0` it is the reference code's pure linear decay.

    Args:
        optimizer (`torch.optim.Optimizer`)
        num_warmup_steps (`int`): `t_w`, `0 <= t_w <= t_a`.
        num_training_steps (`int`): `t_a`, total optimizer steps, `>= 1`.
        last_epoch (`int`, defaults to -1): for resuming.
    """
    if num_training_steps < 1:
        raise ValueError(f"num_training_steps must be >= 1, got {num_training_steps}")
    if not 0 <= num_warmup_steps <= num_training_steps:
        raise ValueError(f"num_warmup_steps must be in [0, {num_training_steps}], got {num_warmup_steps}")
    factor = partial(
        slanted_triangular_factor, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps
    )
    return LambdaLR(optimizer, factor, last_epoch)


@dataclass
class XMCTrainingArguments(RecipeTrainingArguments):
    """`TrainingArguments` with the discriminative learning rates of APLC-XLNet (and the shared recipe's options, see
    `RecipeTrainingArguments`).

    `learning_rate` is the encoder's `η_x`; `warmup_steps` (steps, or a fraction of them below 1) is `t_w` of eq. 15.
    """

    learning_rate_hidden: float = field(default=1e-4, metadata={"help": "η_h: learning rate of the hidden layer."})
    learning_rate_aplc: float = field(default=2e-3, metadata={"help": "η_a: learning rate of the APLC layer."})
    slanted_triangular: bool = field(
        default=True,
        metadata={"help": "Use the slanted triangular schedule of eq. 15 instead of `lr_scheduler_type`."},
    )


class XMCTrainer(Trainer):
    """`Trainer` that builds the discriminative AdamW and the slanted triangular schedule from
    `XMCTrainingArguments` (plain `TrainingArguments` fall back to Trainer's defaults)."""

    def create_optimizer(self, model=None) -> torch.optim.Optimizer:
        if self.optimizer is None and isinstance(self.args, XMCTrainingArguments):
            self.optimizer = create_discriminative_optimizer(
                self.model if model is None else model,
                lr_encoder=self.args.learning_rate,
                lr_hidden=self.args.learning_rate_hidden,
                lr_aplc=self.args.learning_rate_aplc,
                weight_decay=self.args.weight_decay,
                eps=self.args.adam_epsilon,
                betas=(self.args.adam_beta1, self.args.adam_beta2),
            )
        return super().create_optimizer(model)

    def create_scheduler(self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None):
        if self.lr_scheduler is None and isinstance(self.args, XMCTrainingArguments) and self.args.slanted_triangular:
            self.lr_scheduler = get_slanted_triangular_schedule(
                self.optimizer if optimizer is None else optimizer,
                num_warmup_steps=self.args.get_warmup_steps(num_training_steps),
                num_training_steps=num_training_steps,
            )
            self._created_lr_scheduler = True
        return super().create_scheduler(num_training_steps, optimizer)

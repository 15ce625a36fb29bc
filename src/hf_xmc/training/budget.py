"""Training within a wall-clock budget, planned from the real Trainer's own step time.

A separate calibration (another optimizer, another batch shape, no data loader) mis-predicts the step time: on a
37K-label set one measured 10 s per step while the Trainer then ran at 2.2 s, so the run used a fifth of its budget.
`TimeBudgetCallback` measures the steps the Trainer really takes (its optimizer, collator, schedule, data loader) and,
when the Trainer's plan would overrun the budget, re-plans the number of steps, and with it the learning-rate schedule,
after steps 2, 5, 10, 20, 50 and every 50th step; training stops when the planned steps are done or the budget is
spent, whichever comes first.

Use: start the Trainer with an upper bound of steps (`budget_upper_bound_steps`), add the callback with
`run_first(trainer, callback)` (it must see each step before Trainer's own flow control); afterwards
`callback.report()` says what was used.
"""

from __future__ import annotations

import time
from functools import partial

from transformers import TrainerCallback

REPLAN_STEPS = (2, 5, 10, 20, 50)
REPLAN_EVERY = 50
# Ceiling of the initial plan: 100 steps per second is faster than any transformer step on the machines we target,
# and the first re-plan (after 2 steps) replaces it with a measured value.
MAX_STEPS_PER_SECOND = 100


def budget_upper_bound_steps(seconds: float) -> int:
    """The `max_steps` to start a budgeted run with (the callback re-plans it after the first real steps)."""
    return max(10, int(seconds * MAX_STEPS_PER_SECOND))


def _replan_schedule(lr_scheduler, num_training_steps: int, num_warmup_steps: int) -> bool:
    """Point a `LambdaLR` built from `partial(fn, num_warmup_steps=..., num_training_steps=...)` lambdas (Trainer's
    linear/cosine schedules, the slanted triangular one) at a new total; returns whether it could."""
    scheduler = getattr(lr_scheduler, "scheduler", lr_scheduler)  # accelerate's AcceleratedScheduler wraps it
    lambdas = getattr(scheduler, "lr_lambdas", None)
    if not lambdas or not all(isinstance(f, partial) and "num_training_steps" in f.keywords for f in lambdas):
        return False
    new_lambdas = []
    for f in lambdas:
        keywords = dict(f.keywords, num_training_steps=num_training_steps)
        if "num_warmup_steps" in keywords:
            keywords["num_warmup_steps"] = min(num_warmup_steps, num_training_steps)
        new_lambdas.append(partial(f.func, *f.args, **keywords))
    scheduler.lr_lambdas = new_lambdas
    # The learning rate of the next optimizer step was set by the old schedule: set it from the new one.
    for group, base_lr, f in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, new_lambdas):
        group["lr"] = base_lr * f(scheduler.last_epoch)
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]
    return True


def run_first(trainer, callback: TrainerCallback) -> None:
    """Move `callback` to the front of the trainer's callbacks, so its `on_step_end` runs before Trainer's
    `DefaultFlowCallback` checks `state.max_steps` (a re-planned, longer run must not be stopped at the old plan)."""
    callbacks = trainer.callback_handler.callbacks
    if callback in callbacks:
        callbacks.remove(callback)
    callbacks.insert(0, callback)


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _agree(value: float, op: str) -> float:
    """The same value on every process (the min or max over them): processes that planned different step counts
    would wait for each other forever at the next gradient all-reduce."""
    if not _distributed():
        return value
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.MIN if op == "min" else dist.ReduceOp.MAX)
    return tensor.item()


class TimeBudgetCallback(TrainerCallback):
    """Caps training at `seconds` of wall-clock time: when the Trainer's own plan (its epochs or `max_steps`) would
    take longer at the measured step time, `max_steps` and the learning-rate schedule are re-planned to end within the
    budget; a plan that fits is left alone. To spend a whole budget, start with a plan longer than it can hold
    (`max_steps=budget_upper_bound_steps(seconds)`, what the quality benchmark does).

    Args:
        seconds (`float`): the training budget (evaluations and saves during training count against it).
        replan_steps (`tuple[int, ...]`): steps after which the plan is renewed; then every `replan_every` steps.
        replan_every (`int`): see above.

    Under DDP every process agrees on the plan (the smallest) and on the deadline, so all stop at the same step.
    After training, `report()` gives `budget_seconds`, `train_seconds`, `seconds_per_step`, `steps_first_planned`
    (the Trainer's plan), `steps_planned` (the last plan), `steps_done`, `stopped_by` (`"plan"` or `"budget"`),
    `schedule_replanned` and the plans made (`replans`: `[step, planned]`).
    """

    def __init__(self, seconds: float, replan_steps: tuple[int, ...] = REPLAN_STEPS, replan_every: int = REPLAN_EVERY):
        if seconds <= 0:
            raise ValueError(f"the training budget must be > 0 seconds, got {seconds}")
        self.seconds = float(seconds)
        self.replan_steps = set(replan_steps)
        self.replan_every = replan_every
        self.start = None
        self.first_step_end = None
        self.start_step = 0
        self.steps_first_planned = None
        self.steps_planned = None
        self.seconds_per_step = None
        self.replans: list[list[int]] = []
        self.stopped_by = None
        self.end = None
        self.schedule_replanned = False
        self.steps_done = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()
        self.start_step = state.global_step  # > 0 when resuming
        self.steps_first_planned = self.steps_planned = state.max_steps

    def on_step_end(self, args, state, control, lr_scheduler=None, **kwargs):
        now = time.perf_counter()
        done = state.global_step - self.start_step
        if done == 1:
            self.first_step_end = now  # the first step carries one-off costs (allocations, lazy init): not timed
        replan_now = done in self.replan_steps or (done > max(self.replan_steps) and done % self.replan_every == 0)
        if replan_now:
            self._replan(args, state, now, lr_scheduler)
        # the deadline: every step alone; under DDP only where all processes meet (re-plan steps), agreed
        over = now - self.start >= self.seconds
        if _distributed():
            over = replan_now and bool(_agree(float(over), "max"))
        if state.global_step >= self.steps_planned:
            control.should_training_stop = True
            self.stopped_by = "plan"
        elif over:
            control.should_training_stop = True
            self.stopped_by = "budget"
        self.end = now
        self.steps_done = done

    def on_train_end(self, args, state, control, **kwargs):
        self.end = time.perf_counter() if self.end is None else self.end

    def _replan(self, args, state, now: float, lr_scheduler) -> None:
        done = state.global_step - self.start_step
        timed = (now - self.first_step_end) / (done - 1) if done > 1 else now - self.start
        self.seconds_per_step = timed
        remaining = self.seconds - (now - self.start)
        fits = state.global_step + max(0, int(remaining / timed))
        planned = int(_agree(max(min(fits, self.steps_first_planned), state.global_step), "min"))
        self.replans.append([state.global_step, planned])
        if planned == self.steps_planned:
            return
        self.steps_planned = planned
        state.max_steps = planned
        if lr_scheduler is not None:
            self.schedule_replanned = _replan_schedule(lr_scheduler, planned, args.get_warmup_steps(planned))

    def report(self) -> dict:
        """What the budget bought (see the class docstring)."""
        return {
            "budget_seconds": self.seconds,
            "train_seconds": (self.end - self.start) if self.start is not None and self.end is not None else None,
            "seconds_per_step": self.seconds_per_step,
            "steps_first_planned": self.steps_first_planned,
            "steps_planned": self.steps_planned,
            "steps_done": self.steps_done,
            "stopped_by": self.stopped_by,
            "schedule_replanned": self.schedule_replanned,
            "replans": self.replans,
        }

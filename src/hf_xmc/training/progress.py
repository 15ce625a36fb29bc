"""Progress a user sees in a log: the measured step time and the expected end of training (said once the first
steps are timed), and evaluation progress as plain lines (when progress bars are off, e.g. output to a file)."""

from __future__ import annotations

import time

from transformers import TrainerCallback


class StepTimeEstimateCallback(TrainerCallback):
    """Says, once the first steps are measured, how long training will take (the start of a run cannot know).

    Args:
        after_steps (`int`, defaults to 5): steps to measure (the first one, with its one-off costs, is not timed).
        print_fn (`Callable[[str], None]`, defaults to `print`): where the line goes.
    """

    def __init__(self, after_steps: int = 5, print_fn=None):
        self.after_steps = max(2, after_steps)
        self.print_fn = print_fn or (lambda line: print(line, flush=True))
        self.first_step_end = None
        self.start_step = 0
        self.estimate = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start_step = state.global_step

    def on_step_end(self, args, state, control, **kwargs):
        done = state.global_step - self.start_step
        now = time.perf_counter()
        if done == 1:
            self.first_step_end = now
        total = state.max_steps
        if self.estimate is None and (done == self.after_steps or (done >= 2 and state.global_step >= total)):
            per_step = (now - self.first_step_end) / (done - 1)
            remaining = max(0, total - state.global_step) * per_step
            self.estimate = {"seconds_per_step": per_step, "remaining_seconds": remaining, "steps": total}
            finish = time.strftime("%H:%M", time.localtime(time.time() + remaining))
            self.print_fn(
                f"measured {per_step:.2f} s per step: {total:,} steps -> about {remaining / 60:.1f} more minutes of "
                f"training (until ~{finish}), then evaluation"
            )


class EvaluationProgressCallback(TrainerCallback):
    """Prints a line about every 10% of an evaluation's batches, when Trainer's progress bars are off.

    Args:
        print_fn (`Callable[[str], None]`, defaults to `print`): where the lines go.
    """

    def __init__(self, print_fn=None):
        self.print_fn = print_fn or (lambda line: print(line, flush=True))
        self.batches = 0
        self.start = None
        self.next_report = 0.1

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        if not args.disable_tqdm or eval_dataloader is None or not state.is_world_process_zero:
            return
        total = len(eval_dataloader)
        self.batches += 1
        if self.batches == 1:  # timed from the end of the first batch (it carries one-off costs)
            self.start = time.perf_counter()
            return
        if self.batches / total >= self.next_report and self.batches < total:
            elapsed = time.perf_counter() - self.start
            left = elapsed / (self.batches - 1) * (total - self.batches)
            self.print_fn(f"  evaluating: batch {self.batches}/{total}, about {left:.0f} s left")
            self.next_report = int(self.batches / total * 10 + 1) / 10

    def on_evaluate(self, args, state, control, **kwargs):
        self.batches = 0
        self.next_report = 0.1

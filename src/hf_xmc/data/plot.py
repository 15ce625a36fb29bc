"""The label-frequency plot: training documents of every label against its rank, log-log (the papers' Zipf plots)."""

from __future__ import annotations

import os

import numpy as np

from .dataset import XMCDataset, labels_column_arrays


def unseen_labels_note(xmc: XMCDataset) -> str:
    """The sentence the plot shows about labels with no training document (a log axis cannot draw a count of 0)."""
    unseen = xmc.vocabulary.num_unseen_labels
    if unseen == 0:
        return f"every one of the {xmc.num_labels:,} labels has a training document"
    return f"{unseen:,} of {xmc.num_labels:,} labels have no training document (not drawn: log axis)"


def label_frequency_figure(xmc: XMCDataset, splits: tuple[str, ...] = ("train", "test")):
    """A matplotlib figure of label frequency against label rank, log-log, one line per split.

    Labels without a document in a split cannot sit on a log axis; the figure says how many labels have no training
    document (`unseen_labels_note`).

    Args:
        xmc (`XMCDataset`): the data set.
        splits (`tuple[str]`): the splits to draw (those present), each ranked by its own frequencies.

    Returns:
        `matplotlib.figure.Figure` (Agg backend; close it with `matplotlib.pyplot.close(figure)`).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4.3), dpi=120)
    for split in splits:
        if split not in xmc.splits:
            continue
        _, indices = labels_column_arrays(xmc.splits[split])
        counts = np.sort(np.bincount(indices, minlength=xmc.num_labels))[::-1]
        counts = counts[counts > 0]
        if len(counts):
            axis.loglog(np.arange(1, len(counts) + 1), counts, label=f"{split} ({len(counts):,} labels with docs)")
    axis.set_xlabel("label rank (by frequency)")
    axis.set_ylabel("documents with the label")
    axis.set_title(f"Label frequencies: {xmc.name or 'data set'} ({xmc.num_labels:,} labels)")
    axis.grid(True, which="both", alpha=0.3)
    if axis.lines:
        axis.legend()
    axis.text(0.02, 0.03, unseen_labels_note(xmc), transform=axis.transAxes, fontsize=8, va="bottom")
    figure.tight_layout()
    return figure


def plot_label_frequencies(xmc: XMCDataset, path: str | os.PathLike, splits: tuple[str, ...] = ("train", "test")):
    """Write `label_frequency_figure(xmc, splits)` as a PNG to `path`; returns `path`."""
    import matplotlib.pyplot as plt

    figure = label_frequency_figure(xmc, splits)
    try:
        figure.savefig(path)
    finally:
        plt.close(figure)
    return path

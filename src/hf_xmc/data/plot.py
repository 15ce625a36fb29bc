"""The label-frequency plot: training documents of every label against its rank, log-log (the papers' Zipf plots)."""

from __future__ import annotations

import os

import numpy as np

from .dataset import XMCDataset, labels_column_arrays


def plot_label_frequencies(xmc: XMCDataset, path: str | os.PathLike, splits: tuple[str, ...] = ("train", "test")):
    """Write a log-log PNG of label frequency against label rank, one line per split; returns `path`.

    Args:
        xmc (`XMCDataset`): the data set.
        path: the PNG to write.
        splits (`tuple[str]`): the splits to draw (those present), each ranked by its own frequencies.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4), dpi=120)
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
    axis.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path

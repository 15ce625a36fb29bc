"""hf-xmc demo Space: type a text, get its top-k labels from an extreme multi-label classifier.

The checkpoint is `$HF_XMC_DEMO_MODEL` when set, else the output folder of the main training job
(`hf-xmc-aplc-debtags`, what `python examples/train_aplc.py` writes); any local folder or Hub repo id can be typed in
the app. The app only needs "a model that returns the top-k labels with scores": `hf_xmc.hub.load_xmc_model(...)`
gives that for every hf-xmc method, and a generative model (XLGen) marks each label as seen in training or new. When
the checkpoint carries decision thresholds tuned on validation (`decision_thresholds.json`), the app states them and
its table's "decision" column marks the ranked labels that pass them (the labels the model decides for).

Pure functions first (tested directly), then `build_demo()`; the server starts only under `__main__`.
"""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr
import pandas as pd

from hf_xmc.decision import DecisionThresholds
from hf_xmc.hub import RankedLabel, TextTooLongError, XMCCheckpointError, decision_mask, load_xmc_model

MODEL_ENV = "HF_XMC_DEMO_MODEL"
MAIN_JOB_OUTPUT = "hf-xmc-aplc-debtags"
MAX_K = 20
TABLE_COLUMNS = ["rank", "label", "label text", "score", "decision", "status"]
PASSES, FAILS = "predicted", "below threshold"  # the "decision" column; empty without tuned thresholds
EXAMPLES = [
    "A command-line tool written in Python for editing and converting image files, with a GTK graphical interface.",
    "Library for parsing and validating XML documents, with bindings for C++ and Perl.",
    "A fast-paced multiplayer strategy game with 3D graphics and network play.",
]
_PREDICTORS: dict[str, object] = {}


def default_model() -> str:
    """`$HF_XMC_DEMO_MODEL`, else the main job's output folder (in the working directory or the repository root)."""
    if os.environ.get(MODEL_ENV):
        return os.environ[MODEL_ENV]
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (root / MAIN_JOB_OUTPUT / "config.json").is_file():
            return str(root / MAIN_JOB_OUTPUT)
    return MAIN_JOB_OUTPUT


def get_predictor(model: str):
    """The loaded checkpoint for a folder or repo id (loaded once per model); raises `XMCCheckpointError`."""
    model = model.strip()
    if not model:
        raise XMCCheckpointError("Enter a model: a checkpoint folder or a Hub repo id.")
    if model not in _PREDICTORS:
        _PREDICTORS[model] = load_xmc_model(model)
    return _PREDICTORS[model]


def label_status(label: RankedLabel) -> str:
    """`"in vocabulary"` for a classifier's label; `"seen"` / `"new"` for a generated one."""
    if label.seen is None:
        return "in vocabulary"
    return "seen" if label.seen else "new"


def ranked_table(ranked: list[RankedLabel], passes: list[bool] | None = None) -> pd.DataFrame:
    """One row per label, best first: rank, label, label text, score, decision, status.

    Args:
        ranked (`list[RankedLabel]`): the ranking of one text.
        passes (`list[bool]`, *optional*): whether each label passes the tuned thresholds (the "decision" column
            says `"predicted"` / `"below threshold"`); `None` leaves the column empty (a ranking only).
    """
    decisions = [""] * len(ranked) if passes is None else [PASSES if p else FAILS for p in passes]
    rows = [
        [rank, label.label, label.text or "", round(label.score, 4), decision, label_status(label)]
        for rank, (label, decision) in enumerate(zip(ranked, decisions), start=1)
    ]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def thresholds_summary(thresholds: DecisionThresholds | None) -> str:
    """One markdown sentence on the checkpoint's tuned thresholds (empty when it has none)."""
    if thresholds is None:
        return ""
    tuned_on = f"{thresholds.objective}-F1"
    if thresholds.validation_f1 is not None:
        tuned_on += f" {thresholds.validation_f1:.4f}"
    if thresholds.num_validation_docs:
        tuned_on += f" on {thresholds.num_validation_docs:,} validation documents"
    own = ""
    if thresholds.per_label is not None:
        own = f", and its own threshold for {thresholds.num_tuned_labels:,} of {len(thresholds.per_label):,} labels"
    return f"Decision thresholds tuned for {tuned_on}: {thresholds.global_threshold:.4f} for every label{own}."


def plot_frame(ranked: list[RankedLabel]) -> pd.DataFrame:
    """The bar plot's data: `"1. label"` (so ranks keep their order and duplicates stay apart), score, status."""
    return pd.DataFrame(
        {
            "label": [f"{rank}. {label.label}" for rank, label in enumerate(ranked, start=1)],
            "score": [label.score for label in ranked],
            "status": [label_status(label) for label in ranked],
        }
    )


def predict(text: str, k: int, model: str) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """Rank the labels of `text`; every problem becomes a message in the first output, never an exception.

    Returns:
        `(message, plot data, table)`: a markdown summary or error, the bar plot's frame and the ranked table.
    """
    empty_plot, empty_table = plot_frame([]), ranked_table([])
    if not text or not text.strip():
        return "**Enter a text** to see its labels.", empty_plot, empty_table
    try:
        predictor = get_predictor(model)
        k = max(1, min(int(k), MAX_K, len(predictor.vocabulary)))
        ranked = predictor.predict([text], k=k)[0]
        thresholds = getattr(predictor, "thresholds", None)
        passes = None if thresholds is None else decision_mask(ranked, thresholds)
    except TextTooLongError as error:
        return f"**Text too long.** {error}", empty_plot, empty_table
    except (XMCCheckpointError, ValueError, OSError) as error:
        return f"**Cannot use model `{model}`.** {error}", empty_plot, empty_table
    new = sum(label.seen is False for label in ranked)
    summary = (
        f"Top {len(ranked)} of {len(predictor.vocabulary):,} labels from `{predictor.source}` "
        f"({predictor.method}; reads at most {predictor.max_length or 'any number of'} tokens)."
    )
    if new:
        summary += f" {new} generated label(s) are new (not in the training vocabulary)."
    if passes is not None:
        summary += f" **{sum(passes)} of them pass** the tuned thresholds. {thresholds_summary(thresholds)}"
    return summary, plot_frame(ranked), ranked_table(ranked, passes)


def build_demo(model: str | None = None, initial_text: str | None = None, k: int = 5) -> gr.Blocks:
    """The Space's UI: model box, text box, k slider -> message, bar plot of scores, ranked table.

    Args:
        model (`str`, *optional*): the checkpoint in the model box (default: `default_model()`).
        initial_text (`str`, *optional*): a text already in the box, shown with its ranking when the page opens.
        k (`int`): the slider's starting value.
    """
    with gr.Blocks(title="hf-xmc: extreme multi-label classification") as demo:
        gr.Markdown(
            "# Extreme multi-label text classification\n"
            "Type a text: the model ranks its labels out of the whole label space (scores are per-label "
            "probabilities). When the checkpoint carries decision thresholds tuned on validation, the table's "
            '"decision" column marks the labels the model predicts. Any hf-xmc checkpoint works: a local folder or a '
            "Hub repo id."
        )
        with gr.Row():
            model_box = gr.Textbox(value=model or default_model(), label="Model (folder or Hub repo id)", scale=3)
            k_slider = gr.Slider(1, MAX_K, value=k, step=1, label="Labels to show (k)", scale=1)
        text_box = gr.Textbox(value=initial_text, lines=5, label="Text", placeholder="Paste a document ...")
        button = gr.Button("Rank labels", variant="primary")
        # With an initial text the page opens with its ranking already rendered (no round trip to wait for).
        initial = predict(initial_text, k, model_box.value) if initial_text else (None, None, None)
        message = gr.Markdown(initial[0])
        plot = gr.BarPlot(
            initial[1],
            x="label",
            y="score",
            color="status",
            sort="-y",
            y_lim=[0, 1],
            x_label_angle=-30,
            label="Label scores",
        )
        table = gr.Dataframe(initial[2], headers=TABLE_COLUMNS, label="Ranked labels", interactive=False)
        gr.Examples(EXAMPLES, inputs=[text_box])
        inputs, outputs = [text_box, k_slider, model_box], [message, plot, table]
        button.click(predict, inputs=inputs, outputs=outputs, api_name="predict")
        text_box.submit(predict, inputs=inputs, outputs=outputs, api_name=False)
    return demo


if __name__ == "__main__":
    build_demo().launch()

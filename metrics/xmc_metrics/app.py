"""Gradio Space for the `xmc_metrics` evaluate module (a plain `gr.Interface`: evaluate's widget helper is broken
with gradio 6).

Paste one document per line: predicted label ids ranked best first, and the relevant label ids; the metrics at the
chosen k appear as a table.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import evaluate
import gradio as gr

EXAMPLE_PREDICTIONS = "3 1 7\n0 2 5"
EXAMPLE_REFERENCES = "1 2\n0"


@lru_cache(maxsize=1)
def load_module():
    # the module file sits next to this app, in the repository folder and in the Space alike
    return evaluate.load(str(Path(__file__).resolve().parent / "xmc_metrics.py"))


def _parse_id_lines(text: str, name: str) -> list[list[int]]:
    rows = []
    for line_number, line in enumerate(text.strip("\n").splitlines(), start=1):
        try:
            rows.append([int(token) for token in line.replace(",", " ").split()])
        except ValueError:
            raise gr.Error(f"{name}, line {line_number}: expected label ids (integers), got {line!r}.") from None
    return rows


def _parse_numbers(text: str, name: str, kind=int) -> list:
    try:
        return [kind(token) for token in text.replace(",", " ").split()]
    except ValueError:
        raise gr.Error(f"{name}: expected numbers separated by spaces or commas, got {text!r}.") from None


def compute_table(
    predictions_text: str,
    references_text: str,
    k_text: str = "1 3 5",
    label_counts_text: str = "",
    num_train_docs: float | None = None,
    propensity: str = "default",
) -> list[list]:
    """Parse the text boxes and return `[[metric, value], ...]` rows.

    Args:
        predictions_text (`str`): one line per document, predicted ids best first.
        references_text (`str`): one line per document, relevant ids (an empty line for none).
        k_text (`str`): cut-offs, e.g. "1 3 5".
        label_counts_text (`str`): optional training count of every label, in id order; enables PS metrics.
        num_train_docs (`float`, *optional*): number of training documents (with label counts).
        propensity (`str`): propensity preset ("default", "wiki", "amazon").
    """
    predictions = _parse_id_lines(predictions_text, "predictions")
    references = _parse_id_lines(references_text, "references")
    ks = _parse_numbers(k_text, "k") or [1, 3, 5]
    options = {}
    if label_counts_text.strip():
        options = {
            "label_counts": _parse_numbers(label_counts_text, "label counts", float),
            "num_train_docs": int(num_train_docs) if num_train_docs else None,
            "propensity": propensity,
        }
    try:
        results = load_module().compute(predictions=predictions, references=references, k=ks, **options)
    except ValueError as err:
        raise gr.Error(str(err)) from None
    return [[name, round(value, 6)] for name, value in results.items()]


demo = gr.Interface(
    fn=compute_table,
    inputs=[
        gr.Textbox(label="Predictions (one document per line, ids best first)", lines=5, value=EXAMPLE_PREDICTIONS),
        gr.Textbox(label="References (one document per line, relevant ids)", lines=5, value=EXAMPLE_REFERENCES),
        gr.Textbox(label="k", value="1 3 5"),
        gr.Textbox(label="Training label counts (optional, one per label id)", value=""),
        gr.Number(label="Number of training documents (with label counts)", value=None),
        gr.Dropdown(choices=["default", "wiki", "amazon"], value="default", label="Propensity preset"),
    ],
    outputs=gr.Dataframe(headers=["metric", "value"], label="Metrics"),
    title="xmc_metrics",
    description=(__doc__ or "").split("\n\n")[1] if __doc__ else None,
    api_name="compute",
    flagging_mode="never",
)


if __name__ == "__main__":
    demo.launch()

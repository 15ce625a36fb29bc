"""The Gradio Space `spaces/xmc_demo/`, headless: its functions called directly, then the running app through
`gradio_client` on 127.0.0.1.

Specification: the README front matter declares a Gradio Space; `predict` returns a ranked table (label, label text,
score) and bar-plot data for a checkpoint folder or repo id; a too-long text, an unknown repo and a checkpoint without
its label vocabulary become messages, never exceptions; generated labels (seen/new) fit the same outputs.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import gradio
import pytest
from huggingface_hub import SpaceCard
from tiny_checkpoints import TINY_MAX_LENGTH, tiny_aplc_model, tiny_bert_tokenizer, tiny_vocabulary

from hf_xmc.hub import RankedLabel, save_xmc_checkpoint

pytest_plugins = ["hub_fixtures"]  # the `fake_hub` fixture
SPACE_DIR = Path(__file__).resolve().parents[1] / "spaces" / "xmc_demo"


@pytest.fixture(scope="module")
def app():
    spec = importlib.util.spec_from_file_location("xmc_demo_app", SPACE_DIR / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)  # importing must not launch a server
    return module


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    tokenizer = tiny_bert_tokenizer()
    vocabulary = tiny_vocabulary()
    model = tiny_aplc_model("encoder", tokenizer, num_labels=len(vocabulary))
    return save_xmc_checkpoint(tmp_path_factory.mktemp("space") / "tiny-aplc", model, tokenizer, vocabulary)


@pytest.fixture(autouse=True)
def gradio_temp_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))


def test_readme_front_matter_declares_a_gradio_space():
    data = SpaceCard.load(SPACE_DIR / "README.md").data
    assert data.sdk == "gradio" and data.app_file == "app.py" and (SPACE_DIR / data.app_file).is_file()
    assert data.sdk_version == gradio.__version__  # pinned to the gradio the tests ran with
    assert data.python_version
    assert "hf-xmc" in (SPACE_DIR / "requirements.txt").read_text()


def test_default_model_is_the_main_job_output_unless_overridden(app, monkeypatch):
    monkeypatch.delenv(app.MODEL_ENV, raising=False)
    assert Path(app.default_model()).name == "hf-xmc-aplc-debtags"
    monkeypatch.setenv(app.MODEL_ENV, "someone/some-model")
    assert app.default_model() == "someone/some-model"


def test_predict_ranks_labels_with_scores_and_texts(app, checkpoint):
    message, plot, table = app.predict("the debian package editor for python", 4, str(checkpoint))
    assert "Top 4 of 12 labels" in message
    assert list(table.columns) == app.TABLE_COLUMNS and table["rank"].tolist() == [1, 2, 3, 4]
    assert table["score"].is_monotonic_decreasing and table["score"].between(0, 1).all()
    assert all(text == f"Label {label}" for label, text in zip(table["label"], table["label text"]))
    assert (table["status"] == "in vocabulary").all()
    assert plot["score"].tolist() == pytest.approx(table["score"].tolist(), abs=1e-4)
    assert plot["label"].str.startswith(("1. ", "2. ", "3. ", "4. ")).all()


@pytest.mark.parametrize(
    ("text", "model", "expected"),
    [
        ("   ", None, "Enter a text"),
        (" ".join(["word"] * (3 * TINY_MAX_LENGTH)), None, "Text too long."),
        ("a text", "fake-user/no-such-model", "no model repository"),
        ("a text", "", "Enter a model"),
    ],
)
def test_bad_input_is_a_message(app, checkpoint, fake_hub, text, model, expected):
    message, plot, table = app.predict(text, 5, str(checkpoint) if model is None else model)
    assert expected in message and table.empty and plot.empty


def test_too_long_message_names_the_limit(app, checkpoint):
    message, _, _ = app.predict(" ".join(["word"] * (3 * TINY_MAX_LENGTH)), 5, str(checkpoint))
    assert f"reads at most {TINY_MAX_LENGTH}" in message


def test_checkpoint_without_label_vocabulary_is_a_message(app, checkpoint, tmp_path):
    import shutil

    broken = tmp_path / "no-vocabulary"
    shutil.copytree(checkpoint, broken)
    (broken / "label_vocabulary.json").unlink()
    message, _, table = app.predict("a text", 5, str(broken))
    assert "has no label_vocabulary.json" in message and table.empty


def test_generated_labels_show_seen_and_new(app):
    ranked = [RankedLabel("python", 0.9, 3, "Python", seen=True), RankedLabel("pyqt6", 0.4, None, None, seen=False)]
    table = app.ranked_table(ranked)
    assert table["status"].tolist() == ["seen", "new"] and table["label text"].tolist() == ["Python", ""]
    assert app.plot_frame(ranked)["status"].tolist() == ["seen", "new"]


def test_running_app_answers_through_gradio_client(app, checkpoint):
    from gradio_client import Client

    demo = app.build_demo(model=str(checkpoint))
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, ssr_mode=False)
    try:
        client = Client(demo.local_url, verbose=False)
        assert "/predict" in client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        message, plot, table = client.predict("the debian package editor", 3, str(checkpoint), api_name="/predict")
        assert "Top 3 of 12 labels" in message
        assert [row[0] for row in table["data"]] == [1, 2, 3]
        assert plot["mark"] == "bar" and [row[0] for row in plot["data"]] == [
            f"{i + 1}. {row[1]}" for i, row in enumerate(table["data"])
        ]
        message, _, table = client.predict("", 3, str(checkpoint), api_name="/predict")
        assert "Enter a text" in message and not table["data"]
    finally:
        demo.close()


def test_initial_text_is_ranked_when_the_page_opens(app, checkpoint):
    demo = app.build_demo(model=str(checkpoint), initial_text="the debian package editor", k=2)
    markdown = [block for block in demo.blocks.values() if isinstance(block, gradio.Markdown)]
    assert any("Top 2 of 12 labels" in (block.value or "") for block in markdown)  # what the screenshot shows

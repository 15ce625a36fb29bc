"""Specification of `hf-xmc data describe`: the statistics table, the plot and the one-line error on bad input."""

from __future__ import annotations

import json

from hf_xmc.cli.main import main


def test_describe_builtin_prints_statistics_and_writes_plot(tmp_path, capsys):
    plot = tmp_path / "freq.png"
    assert main(["data", "describe", "debtags", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "train docs" in out and "21,229" in out and "unseen test labels" in out and "docs with no label" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_describe_json_of_a_bow_file(tmp_path, capsys):
    path = tmp_path / "toy_data.txt"
    path.write_text("3 4 2\n0 0:1\n1 1:1\n 2:1\n")
    assert main(["data", "describe", str(path), "--format", "json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["train_docs"] == 3 and stats["num_labels"] == 2 and stats["train_docs_with_no_label"] == 1


def test_describe_malformed_file_exits_non_zero_with_the_loader_message(tmp_path, capsys):
    path = tmp_path / "bad_data.txt"
    path.write_text("2 3 2\n0 1:1\n1 2\n")
    assert main(["data", "describe", str(path)]) != 0
    err = capsys.readouterr().err
    assert f"{path}:3:" in err and "feature:value" in err and "Traceback" not in err


def test_describe_writes_no_file_unless_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "toy_data.txt"
    path.write_text("3 4 2\n0 0:1\n1 1:1\n 2:1\n")
    assert main(["data", "describe", str(path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy_data.txt"]
    assert "plot" not in capsys.readouterr().out


def test_the_plot_says_how_many_labels_have_no_training_document(tmp_path):
    import matplotlib.pyplot as plt

    from hf_xmc.data import load_xmc_dataset
    from hf_xmc.data.plot import label_frequency_figure

    figure = label_frequency_figure(load_xmc_dataset("debtags"))
    texts = [text.get_text() for text in figure.axes[0].texts]
    plt.close(figure)
    assert "9 of 598 labels have no training document (not drawn: log axis)" in texts
    path = tmp_path / "toy_data.txt"
    path.write_text("2 4 2\n0 0:1\n1 1:1\n")
    figure = label_frequency_figure(load_xmc_dataset(path))
    assert "every one of the 2 labels has a training document" in [text.get_text() for text in figure.axes[0].texts]
    plt.close(figure)

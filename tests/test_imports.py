"""Import cost: the data layer and the command line answer at once; models register with the Auto classes lazily.

Specification: `import hf_xmc.data`, `hf-xmc --help`, `hf-xmc train --help` and `hf-xmc data describe` never import
torch or transformers (seconds and hundreds of MB a user reading data should not pay); `import hf_xmc` still makes
`AutoModel.from_pretrained(folder)` return the hf-xmc class, whatever was imported before or after it. Each case runs
in a fresh interpreter, so what the test process imported does not count.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tiny_checkpoints import tiny_aplc_model, tiny_bert_tokenizer, tiny_xlnet_tokenizer, write_tiny_lf_dataset

HEAVY_MODULES = ("torch", "transformers")
REPORT_MODULES = 'print("\\nLOADED=" + json.dumps(sorted(m for m in HEAVY if m in sys.modules)))'


def run_python(code: str, cwd=None) -> tuple[list[str], str]:
    """Runs `code` in a fresh interpreter; returns the heavy modules it had imported at the end, and its stdout."""
    script = f"import json, sys\nHEAVY = {HEAVY_MODULES!r}\n{code}\n{REPORT_MODULES}\n"
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    stdout, _, loaded = completed.stdout.rpartition("\nLOADED=")
    return json.loads(loaded), stdout


def run_cli(args: list[str], cwd=None) -> tuple[list[str], str]:
    """`hf-xmc ARGS` (through `hf_xmc.cli.main.main`, as the console script does) in a fresh interpreter."""
    code = (
        "from hf_xmc.cli.main import main\n"
        "try:\n"
        f"    status = main({args!r})\n"
        "except SystemExit as exit_:\n"
        "    status = exit_.code\n"
        "assert status in (0, None), status"
    )
    return run_python(code, cwd=cwd)


def test_importing_the_data_layer_does_not_import_torch_or_transformers():
    loaded, _ = run_python("import hf_xmc.data\nfrom hf_xmc.data import LabelVocabulary, load_xmc_dataset")
    assert loaded == []


def test_importing_hf_xmc_and_its_metrics_does_not_import_torch_or_transformers():
    loaded, _ = run_python("import hf_xmc\nimport hf_xmc.metrics\nhf_xmc.compute_xmc_metrics, hf_xmc.top_k_ids")
    assert loaded == []


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["data", "--help"], ["hub", "--help"]])
def test_help_does_not_import_torch_or_transformers(args):
    loaded, stdout = run_cli(args)
    assert loaded == [] and "usage: hf-xmc" in stdout


def test_data_describe_does_not_import_torch_or_transformers(tmp_path):
    data = write_tiny_lf_dataset(tmp_path / "data")
    loaded, stdout = run_cli(["data", "describe", str(data), "--plot", str(tmp_path / "plot.png")], cwd=tmp_path)
    assert loaded == []
    assert "train docs" in stdout and "48" in stdout  # it did load and describe the data set


def test_method_flags_are_still_parsed_and_shown(capsys):
    from hf_xmc.cli.main import build_parser

    args = build_parser().parse_args(["train", "aplc", "--max_train_samples", "5", "--output_dir", "x"])
    assert args.method == "aplc" and args.max_train_samples == 5 and args.output_dir == "x" and callable(args.func)
    assert args.max_eval_samples == 3000  # the recipe's defaults fill the rest
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "aplc", "--help"])
    assert "--max_train_samples" in capsys.readouterr().out


@pytest.fixture(scope="module")
def saved_aplc_models(tmp_path_factory):
    """A tiny saved EncoderWithAPLC and XLNetWithAPLC (config with auto_map, code, weights, tokenizer)."""
    folders = {}
    for variant, tokenizer in (("encoder", tiny_bert_tokenizer()), ("xlnet", tiny_xlnet_tokenizer())):
        folder = tmp_path_factory.mktemp(f"aplc_{variant}")
        tiny_aplc_model(variant, tokenizer).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        folders[variant] = str(folder)
    return folders


@pytest.mark.parametrize(
    "before, after",
    [
        ("", ""),  # the plain case: import hf_xmc, then use transformers
        ("from transformers import AutoModel", ""),  # transformers' Auto classes loaded before hf_xmc
        ("import transformers.modeling_utils", "import sentence_transformers"),  # partial imports on either side
    ],
)
def test_import_hf_xmc_makes_the_auto_classes_return_hf_xmc_models(saved_aplc_models, before, after):
    code = f"""
{before}
import hf_xmc
{after}
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification
names = [type(AutoModel.from_pretrained({saved_aplc_models["encoder"]!r})),
         type(AutoModelForSequenceClassification.from_pretrained({saved_aplc_models["xlnet"]!r})),
         type(AutoConfig.from_pretrained({saved_aplc_models["xlnet"]!r}))]
assert names[0] is hf_xmc.EncoderWithAPLC and names[1] is hf_xmc.XLNetWithAPLC  # the lazily exported classes
print(json.dumps([f"{{cls.__module__}}.{{cls.__name__}}" for cls in names]))
"""
    _, stdout = run_python(code)
    assert json.loads(stdout.strip().splitlines()[-1]) == [
        "hf_xmc.models.aplc.modeling_encoder_aplc.EncoderWithAPLC",
        "hf_xmc.models.aplc.modeling_xlnet_aplc.XLNetWithAPLC",
        "hf_xmc.models.aplc.configuration_xlnet_aplc.XLNetAPLCConfig",
    ]  # the installed classes, not a `trust_remote_code` copy (which AutoModel would refuse without the flag)

"""Hub round trips of hf-xmc checkpoints over real HTTP (the loopback Hub of `tests/fake_hub.py`).

Specification: `push_xmc_model` uploads safetensors weights (via LFS), a config whose `auto_map` names every Auto
class, the model code, the tokenizer, `label_vocabulary.json` and a model card; `from_pretrained(repo_id)` brings
back identical outputs with hf-xmc imported and, in a process that never imports hf-xmc, with
`trust_remote_code=True`. Bad input gives one clear sentence.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from huggingface_hub import HfApi, ModelCard
from tiny_checkpoints import tiny_aplc_model, tiny_bert_tokenizer, tiny_vocabulary, tiny_xlnet_tokenizer
from transformers import AutoModel, AutoTokenizer

from hf_xmc.hub import XMCCheckpointError, load_xmc_model, push_xmc_model

pytest_plugins = ["hub_fixtures"]  # the `fake_hub` and `unique_repo_id` fixtures
TEXTS = ["the debian package editor for python", "sound and video tool"]
VARIANTS = {
    "xlnet": ("xlnet", tiny_xlnet_tokenizer),
    "encoder": ("encoder", tiny_bert_tokenizer),
}
METRICS = {"eval_P@1": 0.5, "eval_P@3": 0.25, "eval_nDCG@3": 0.4, "eval_loss": 2.0}


def _logits(model, tokenizer) -> torch.Tensor:
    with torch.no_grad():
        return model(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits


@pytest.fixture(scope="module")
def pushed_models(fake_hub):
    """An APLC model of each variant pushed to the loopback Hub: `{variant: (repo_id, model, tokenizer, vocabulary)}`."""
    pushed = {}
    for variant, make_tokenizer in VARIANTS.values():
        tokenizer = make_tokenizer()
        vocabulary = tiny_vocabulary()
        model = tiny_aplc_model(variant, tokenizer, num_labels=len(vocabulary))
        repo_id = f"fake-user/tiny-aplc-{variant}"
        push_xmc_model(
            model, repo_id, tokenizer=tokenizer, vocabulary=vocabulary, metrics=METRICS, dataset_name="tiny-tags"
        )
        pushed[variant] = (repo_id, model, tokenizer, vocabulary)
    return pushed


@pytest.fixture(params=sorted(VARIANTS))
def pushed(request, pushed_models):
    return pushed_models[request.param]


def test_push_writes_a_complete_checkpoint(pushed, fake_hub):
    repo_id, model, _, _ = pushed
    files = set(HfApi().list_repo_files(repo_id))
    code_files = {f for f in files if f.endswith(".py")}
    assert {"config.json", "model.safetensors", "label_vocabulary.json", "README.md", "tokenizer_config.json"} <= files
    assert {"aplc.py", "heads.py"} <= code_files and any(f.startswith("modeling_") for f in code_files)
    # weights travel through LFS, like on huggingface.co
    stored = fake_hub.repos[("model", repo_id)].resolve("main").files["model.safetensors"]
    assert stored.lfs
    config = json.loads(fake_hub.repos[("model", repo_id)].resolve("main").files["config.json"].content)
    assert {"AutoConfig", "AutoModel"} <= set(config["auto_map"])
    assert config["num_labels"] == model.config.num_labels and not config.get("id2label")  # labels live in their file


def test_model_card_on_the_hub_carries_the_metrics(pushed):
    repo_id = pushed[0]
    card = ModelCard.load(repo_id)
    results = {result.metric_type: result.metric_value for result in card.data.eval_results}
    assert results == {"P@1": 0.5, "P@3": 0.25, "nDCG@3": 0.4}  # Trainer bookkeeping (loss) is not a metric
    assert card.data.library_name == "transformers" and "hf-xmc" in card.data.tags
    assert "Adaptive Probabilistic Label Clusters" in card.text


def test_from_pretrained_with_hf_xmc_gives_identical_outputs(pushed):
    repo_id, model, tokenizer, vocabulary = pushed
    reloaded = AutoModel.from_pretrained(repo_id).eval()
    assert type(reloaded) is type(model)  # the registered hf-xmc class, not remote code
    reloaded_tokenizer = AutoTokenizer.from_pretrained(repo_id)
    assert reloaded_tokenizer(TEXTS)["input_ids"] == tokenizer(TEXTS)["input_ids"]
    torch.testing.assert_close(_logits(reloaded, reloaded_tokenizer), _logits(model, tokenizer), rtol=0, atol=0)

    checkpoint = load_xmc_model(repo_id, method="aplc")
    assert checkpoint.vocabulary == vocabulary and checkpoint.method == "aplc"
    ranked = checkpoint.predict(TEXTS, k=3)
    expected_ids = _logits(model, tokenizer).topk(3).indices.tolist()
    assert [[label.label_id for label in row] for row in ranked] == expected_ids
    assert ranked[0][0].label == vocabulary.labels[expected_ids[0][0]]
    assert ranked[0][0].text == f"Label {ranked[0][0].label}"


REMOTE_CODE_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class BlockHfXmc(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "hf_xmc" or name.startswith("hf_xmc."):
                raise ImportError("hf_xmc must not be imported in this process")

    sys.meta_path.insert(0, BlockHfXmc())
    import torch
    from transformers import AutoModel, AutoTokenizer

    results = {}
    for repo_id in json.loads(sys.argv[1]):
        model = AutoModel.from_pretrained(repo_id, trust_remote_code=True).eval()
        tokenizer = AutoTokenizer.from_pretrained(repo_id, trust_remote_code=True)  # config.json names remote code
        with torch.no_grad():
            logits = model(**tokenizer(json.loads(sys.argv[2]), padding=True, return_tensors="pt")).logits
        results[repo_id] = {"module": type(model).__module__, "logits": logits.tolist()}
    print(json.dumps({"models": results, "hf_xmc_imported": any(m.startswith("hf_xmc") for m in sys.modules)}))
    """
)


def test_from_pretrained_without_hf_xmc_uses_the_remote_code(pushed_models, tmp_path):
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home")}  # empty cache: everything comes over HTTP
    repo_ids = [repo_id for repo_id, *_ in pushed_models.values()]
    completed = subprocess.run(
        [sys.executable, "-c", REMOTE_CODE_SCRIPT, json.dumps(repo_ids), json.dumps(TEXTS)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert not result["hf_xmc_imported"]
    for repo_id, model, tokenizer, _ in pushed_models.values():
        loaded = result["models"][repo_id]
        assert loaded["module"].startswith("transformers_modules.")  # the code copied into the repository
        torch.testing.assert_close(torch.tensor(loaded["logits"]), _logits(model, tokenizer), rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------------------ bad input
def _assert_one_clear_line(error: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    for fragment in fragments:
        assert fragment in message


def test_missing_repo_is_named(fake_hub):
    with pytest.raises(XMCCheckpointError) as error:
        load_xmc_model("fake-user/no-such-model")
    _assert_one_clear_line(error, "'fake-user/no-such-model'", "no model repository")


def test_invalid_repo_id_is_named(fake_hub):
    with pytest.raises(XMCCheckpointError) as error:
        load_xmc_model("not/a/valid repo id")
    _assert_one_clear_line(error, "neither a local folder nor a valid Hub repo id")


def test_checkpoint_of_another_method_is_rejected(fake_hub, unique_repo_id):
    from transformers import BertConfig, BertModel

    tokenizer = tiny_bert_tokenizer()
    plain = BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=37))  # fmt: skip
    plain.push_to_hub(unique_repo_id)
    tokenizer.push_to_hub(unique_repo_id)
    with pytest.raises(XMCCheckpointError) as error:
        load_xmc_model(unique_repo_id, method="aplc")
    _assert_one_clear_line(error, "is a 'bert' checkpoint, not an hf-xmc model of method 'aplc'", "xlnet_aplc")


def test_wrong_method_is_rejected(pushed):
    with pytest.raises(XMCCheckpointError) as error:
        load_xmc_model(pushed[0], method="xlgen")
    _assert_one_clear_line(error, "is an hf-xmc 'aplc' model", "not a 'xlgen' model")


def test_repo_without_label_vocabulary_is_rejected(fake_hub, unique_repo_id):
    tokenizer = tiny_bert_tokenizer()
    model = tiny_aplc_model("encoder", tokenizer)
    model.push_to_hub(unique_repo_id)  # transformers' own push: weights + code, but no label vocabulary
    tokenizer.push_to_hub(unique_repo_id)
    with pytest.raises(XMCCheckpointError) as error:
        load_xmc_model(unique_repo_id)
    _assert_one_clear_line(error, "has no label_vocabulary.json")


def test_push_rejects_a_vocabulary_of_another_size(fake_hub, unique_repo_id):
    tokenizer = tiny_bert_tokenizer()
    model = tiny_aplc_model("encoder", tokenizer, num_labels=12)
    with pytest.raises(XMCCheckpointError) as error:
        push_xmc_model(model, unique_repo_id, tokenizer=tokenizer, vocabulary=tiny_vocabulary(10))
    _assert_one_clear_line(error, "12 labels", "vocabulary has 10")
    assert not HfApi().repo_exists(unique_repo_id)  # nothing was created


def test_push_of_a_trainer_folder_skips_trainer_leftovers(fake_hub, unique_repo_id, tmp_path):
    from hf_xmc.hub import save_xmc_checkpoint

    tokenizer = tiny_bert_tokenizer()
    vocabulary = tiny_vocabulary()
    folder = save_xmc_checkpoint(tmp_path / "run", tiny_aplc_model("encoder", tokenizer), tokenizer, vocabulary)
    (folder / "checkpoint-2").mkdir()
    (folder / "checkpoint-2" / "optimizer.pt").write_bytes(b"state")
    (folder / "training_args.bin").write_bytes(b"args")
    push_xmc_model(folder, unique_repo_id)
    files = set(HfApi().list_repo_files(unique_repo_id))
    assert "label_vocabulary.json" in files and "README.md" in files
    assert not {f for f in files if f.startswith("checkpoint-") or f == "training_args.bin"}
    assert len(load_xmc_model(unique_repo_id).vocabulary) == len(vocabulary)


# ---------------------------------------------------------------------------------------------- command line
@pytest.fixture
def hf_xmc_cli(monkeypatch):
    from hf_xmc.cli import main as cli_main

    if "hf_xmc.cli.hub" not in cli_main.SUBCOMMAND_MODULES:
        monkeypatch.setattr(cli_main, "SUBCOMMAND_MODULES", (*cli_main.SUBCOMMAND_MODULES, "hf_xmc.cli.hub"))
    return cli_main.main


def test_cli_predicts_from_a_repo_and_reports_problems_in_one_line(pushed, hf_xmc_cli, capsys):
    repo_id, _, _, vocabulary = pushed
    assert hf_xmc_cli(["hub", "predict", repo_id, TEXTS[0], "--k", "3", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1 and len(rows[0]) == 3 and rows[0][0]["label"] in vocabulary.labels
    assert hf_xmc_cli(["hub", "predict", "fake-user/no-such-model", "a text"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("hf-xmc: error:") and error.count("\n") == 1 and "no model repository" in error
    assert hf_xmc_cli(["hub", "predict", repo_id, " ".join(["word"] * 200)]) == 2
    assert "this model reads at most" in capsys.readouterr().err


def test_cli_pushes_a_checkpoint_folder(fake_hub, hf_xmc_cli, unique_repo_id, tmp_path, capsys):
    from hf_xmc.hub import save_xmc_checkpoint

    tokenizer = tiny_bert_tokenizer()
    folder = save_xmc_checkpoint(tmp_path / "run", tiny_aplc_model("encoder", tokenizer), tokenizer, tiny_vocabulary())
    assert hf_xmc_cli(["hub", "push", str(folder), unique_repo_id]) == 0
    assert "label_vocabulary.json" in HfApi().list_repo_files(unique_repo_id)
    (folder / "label_vocabulary.json").unlink()
    assert hf_xmc_cli(["hub", "push", str(folder), unique_repo_id]) == 2
    assert "has no label_vocabulary.json" in capsys.readouterr().err


def test_training_recipe_push_to_hub_uploads_the_complete_checkpoint_with_its_card(fake_hub, unique_repo_id, tmp_path):
    """`hf-xmc train aplc --push_to_hub` pushes through `push_xmc_model`: the method's card (with the run's metrics),
    the label vocabulary and the code, not Trainer's generic card; the repo loads back with identical outputs."""
    from tiny_checkpoints import save_tiny_bert, write_tiny_lf_dataset

    from hf_xmc.training.aplc_recipe import build_aplc_parser, run_aplc_recipe

    data = write_tiny_lf_dataset(tmp_path / "data")
    encoder = save_tiny_bert(tmp_path / "bert")
    output_dir = tmp_path / "run"
    data_args, model_args, training_args = build_aplc_parser().parse_args_into_dataclasses(
        ["--dataset_name_or_path", str(data), "--model_name_or_path", str(encoder), "--output_dir", str(output_dir),
         "--max_steps", "2", "--per_device_train_batch_size", "8", "--save_strategy", "no", "--use_cpu",
         "--report_to", "none", "--max_length", "32", "--disable_tqdm", "true",
         "--push_to_hub", "--hub_model_id", unique_repo_id]
    )  # fmt: skip
    result = run_aplc_recipe(data_args, model_args, training_args)

    files = set(HfApi().list_repo_files(unique_repo_id))
    assert {"config.json", "model.safetensors", "label_vocabulary.json", "README.md"} <= files
    card = ModelCard.load(unique_repo_id)
    reported = {r.metric_type: r.metric_value for r in card.data.eval_results or []}
    assert reported.get("P@1") == pytest.approx(result["metrics"]["P@1"]), card.content[:1500]
    assert "aplc" in card.data.tags
    checkpoint = load_xmc_model(unique_repo_id, method="aplc")
    local = AutoModel.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    torch.testing.assert_close(_logits(checkpoint.model.eval(), tokenizer), _logits(local, tokenizer))

"""Opt-in: the same Hub round trip against the real staging Hub (https://hub-ci.huggingface.co).

Skipped unless `HUGGINGFACE_CO_STAGING=1` and `HF_TOKEN` (a token of a hub-ci account) are set; conftest then leaves
`HF_ENDPOINT` alone, and `huggingface_hub` switches to the staging endpoint by itself. The repository is deleted at
the end.

    HUGGINGFACE_CO_STAGING=1 HF_TOKEN=hf_... python -m pytest tests/test_hub_staging.py
"""

from __future__ import annotations

import os
import uuid

import pytest
import torch
from tiny_checkpoints import tiny_aplc_model, tiny_bert_tokenizer, tiny_vocabulary

from hf_xmc.hub import load_xmc_model, push_xmc_model

pytestmark = pytest.mark.skipif(
    not (os.environ.get("HUGGINGFACE_CO_STAGING") and os.environ.get("HF_TOKEN")),
    reason="staging Hub test: set HUGGINGFACE_CO_STAGING=1 and HF_TOKEN to run it",
)


def test_aplc_round_trip_on_the_staging_hub():
    from huggingface_hub import HfApi, constants

    assert "hub-ci" in constants.ENDPOINT, constants.ENDPOINT
    api = HfApi()
    repo_id = f"{api.whoami()['name']}/hf-xmc-staging-{uuid.uuid4().hex[:8]}"
    tokenizer, vocabulary = tiny_bert_tokenizer(), tiny_vocabulary()
    model = tiny_aplc_model("encoder", tokenizer, num_labels=len(vocabulary))
    try:
        push_xmc_model(model, repo_id, tokenizer=tokenizer, vocabulary=vocabulary, private=True)
        checkpoint = load_xmc_model(repo_id, method="aplc")
        batch = tokenizer(["the debian package editor"], return_tensors="pt")
        with torch.no_grad():
            torch.testing.assert_close(checkpoint.model(**batch).logits, model(**batch).logits)
        assert checkpoint.vocabulary == vocabulary
    finally:
        api.delete_repo(repo_id, missing_ok=True)

"""Shared test set-up.

The Hub environment is set here, at import time, before any test module imports `huggingface_hub` (it reads
`HF_ENDPOINT` once, on import): every Hub call of the test suite goes to a loopback server started by the tests, never
to the internet.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


FAKE_HUB_PORT = _free_port()
FAKE_HUB_URL = f"http://127.0.0.1:{FAKE_HUB_PORT}"
_HF_HOME = tempfile.mkdtemp(prefix="hf_xmc_test_home_")
if not os.environ.get("HUGGINGFACE_CO_STAGING"):
    os.environ["HF_ENDPOINT"] = FAKE_HUB_URL
    os.environ["HF_TOKEN"] = "hf_fake_token_for_loopback_hub"
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("WANDB_DISABLED", "true")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HF_XMC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """`../shared/data` beside the checkout; tests that need it skip cleanly where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA} does not exist")
    return SHARED_DATA


@pytest.fixture(scope="session")
def debtags_dir(shared_data_dir) -> Path:
    path = shared_data_dir / "debtags"
    if not path.is_dir():
        pytest.skip(f"real data not available: {path} does not exist")
    return path


@pytest.fixture(scope="session")
def xmc_repo_dir(shared_data_dir) -> Path:
    path = shared_data_dir / "xmc-repo"
    if not path.is_dir():
        pytest.skip(f"real data not available: {path} does not exist")
    return path

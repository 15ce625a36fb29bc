"""Pytest fixtures for tests that talk to the loopback Hub (`tests/fake_hub.py`).

`tests/conftest.py` points `HF_ENDPOINT` at `conftest.FAKE_HUB_URL` before anything imports `huggingface_hub`; the
`fake_hub` fixture starts the server on that port once per session (shared by every module that uses it). With
`HUGGINGFACE_CO_STAGING` set, conftest leaves the endpoint alone and the fixture skips: those runs target the real
staging Hub through `tests/test_hub_staging.py` only.

Use from a test module with `pytest_plugins = ["hub_fixtures"]` (or register it once in conftest).
"""

from __future__ import annotations

import os
import uuid

import pytest
from conftest import FAKE_HUB_PORT, FAKE_HUB_URL
from fake_hub import FAKE_USER, FakeHub, start_fake_hub


@pytest.fixture(scope="session")
def fake_hub() -> FakeHub:
    """The running loopback Hub; every `huggingface_hub` call of the test process goes to it."""
    if os.environ.get("HF_ENDPOINT") != FAKE_HUB_URL:
        pytest.skip("HF_ENDPOINT does not point at the loopback Hub (staging run)")
    return start_fake_hub(FAKE_HUB_PORT)


@pytest.fixture
def unique_repo_id(request) -> str:
    """A repo id no other test uses: `fake-user/<test name>-<random>`."""
    name = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:60].strip("-")
    return f"{FAKE_USER}/{name}-{uuid.uuid4().hex[:8]}"

"""The loopback Hub itself (`tests/fake_hub.py`): the client raises the errors it raises against huggingface.co,
downloads resume with byte ranges, unchanged files are not committed again, branches and deletions work."""

from __future__ import annotations

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

pytest_plugins = ["hub_fixtures"]


def test_missing_repo_revision_and_file_raise_the_hub_errors(fake_hub, unique_repo_id):
    api = HfApi()
    api.create_repo(unique_repo_id)
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=unique_repo_id)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("fake-user/never-created", "config.json")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(unique_repo_id, "config.json", revision="no-such-branch")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(unique_repo_id, "missing.json")
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(unique_repo_id, path_in_repo="no/such/folder"))


def test_uploads_branches_ranges_and_deletes(fake_hub, unique_repo_id, tmp_path):
    api = HfApi()
    api.create_repo(unique_repo_id, repo_type="dataset")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.parquet").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "notes.txt").write_text("hello")
    first = api.upload_folder(folder_path=tmp_path, repo_id=unique_repo_id, repo_type="dataset")
    again = api.upload_folder(folder_path=tmp_path, repo_id=unique_repo_id, repo_type="dataset")
    assert again.oid == first.oid  # nothing changed: no empty commit (the client compares the oids the Hub reports)
    assert fake_hub.repos[("dataset", unique_repo_id)].resolve("main").files["data/a.parquet"].lfs

    response = httpx.get(
        f"{fake_hub.base_url}/datasets/{unique_repo_id}/resolve/main/data/a.parquet", headers={"Range": "bytes=10-19"}
    )
    assert response.status_code == 206 and response.content == bytes(range(10, 20))
    assert response.headers["content-range"] == "bytes 10-19/1024" and response.headers["x-repo-commit"] == first.oid

    api.create_branch(unique_repo_id, branch="dev", repo_type="dataset")
    api.delete_file("notes.txt", repo_id=unique_repo_id, repo_type="dataset", revision="dev")
    assert "notes.txt" in api.list_repo_files(unique_repo_id, repo_type="dataset")
    assert "notes.txt" not in api.list_repo_files(unique_repo_id, repo_type="dataset", revision="dev")
    assert {ref.name for ref in api.list_repo_refs(unique_repo_id, repo_type="dataset").branches} == {"main", "dev"}
    assert len(api.list_repo_commits(unique_repo_id, repo_type="dataset", revision="dev")) == 3


def test_dataset_push_to_hub_then_load_dataset(fake_hub, unique_repo_id, tmp_path):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "labels": datasets.List(datasets.Value("int64"))})
    original = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "labels": [[0, 2], [1], []]}, features=features)
    original.push_to_hub(unique_repo_id)
    loaded = datasets.load_dataset(unique_repo_id, cache_dir=str(tmp_path))
    assert loaded["train"].features == features and loaded["train"]["labels"] == [[0, 2], [1], []]

"""A Hugging Face Hub-compatible server on loopback, for tests that push and pull over real HTTP.

No PyPI package provides a writable local Hub (`hf-local-hub` ships no server, `olah` is a read-only mirror), so this
module implements the part of the Hub API that `huggingface_hub` 2.x, `transformers` and `datasets` use:

- `POST /api/repos/create`, `POST /api/repos/delete` (`DELETE` too), `GET /api/whoami-v2`, `POST /api/validate-yaml`
- `GET /api/{type}s/{repo}[/revision/{rev}]` (repo info with siblings), `GET .../tree/{rev}[/{path}]`,
  `POST .../paths-info/{rev}`, `GET .../refs`, `GET .../commits/{rev}`, `POST .../branch/{name}`, `PUT .../settings`
- `POST .../preupload/{rev}` (regular vs LFS), the Git LFS batch API + `PUT /lfs-upload/{oid}`, and the NDJSON
  `POST .../commit/{rev}` (`file`, `lfsFile`, `deletedFile`, `deletedFolder`)
- `GET|HEAD /[{type}s/]{repo}/resolve/{rev}/{path}` with `X-Repo-Commit`, `ETag` and byte ranges
- errors carry `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`) so the client raises
  `RepositoryNotFoundError`, `RevisionNotFoundError` and `EntryNotFoundError` as it does against huggingface.co.

Repositories live in memory. Start it with `start_fake_hub(port)` (idempotent per port, returns a `FakeHub`), or from a
shell: `python tests/fake_hub.py --port 8000` and `export HF_ENDPOINT=http://127.0.0.1:8000 HF_HUB_DISABLE_XET=1`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import parse_qs, unquote

import uvicorn
import yaml
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

FAKE_USER = "fake-user"
LFS_SUFFIXES = (
    ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".onnx", ".msgpack", ".model", ".npy", ".npz", ".pkl",
    ".parquet", ".arrow", ".zip", ".gz", ".tar", ".png", ".jpg", ".jpeg",
)  # fmt: skip
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
DEFAULT_GITATTRIBUTES = b"".join(
    f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n".encode() for suffix in LFS_SUFFIXES
)
_TYPE_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_API_RE = re.compile(
    r"^/api/(?P<type>models|datasets|spaces)/(?P<repo>[^/]+(?:/[^/]+)?)"
    r"(?:/(?P<action>revision|tree|paths-info|preupload|commit|refs|commits|branch|settings)(?:/(?P<rest>.*))?)?$"
)
_RESOLVE_RE = re.compile(
    r"^/(?:(?P<type>datasets|spaces)/)?(?P<repo>[^/]+(?:/[^/]+)?)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"
)
_LFS_BATCH_RE = re.compile(r"^/(?:(?P<type>datasets|spaces)/)?(?P<repo>[^/]+(?:/[^/]+)?)\.git/info/lfs/objects/batch$")
_LFS_UPLOAD_RE = re.compile(r"^/lfs-upload/(?P<oid>[0-9a-f]{64})$")


def git_blob_oid(content: bytes) -> str:
    """The git object id of a blob (what the Hub reports as a regular file's `oid`)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class StoredFile:
    content: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def pointer(self) -> bytes:
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.content)}\n".encode()

    @property
    def oid(self) -> str:
        """Git oid: of the content for a regular file, of the LFS pointer for an LFS file."""
        return git_blob_oid(self.pointer if self.lfs else self.content)

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.oid


@dataclass
class Commit:
    oid: str
    title: str
    description: str
    date: str
    parent: str | None
    files: dict[str, StoredFile]


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str = field(default_factory=_now)
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        oid = self.branches.get(revision, revision)
        return self.commits.get(oid)

    def add_commit(self, branch: str, title: str, description: str, files: dict[str, StoredFile]) -> Commit:
        parent = self.branches.get(branch)
        seed = json.dumps([self.repo_id, parent, title, time.time_ns(), sorted((p, f.oid) for p, f in files.items())])
        commit = Commit(hashlib.sha1(seed.encode()).hexdigest(), title, description, _now(), parent, files)
        self.commits[commit.oid] = commit
        self.branches[branch] = commit.oid
        return commit


def _error(status: int, code: str | None, message: str) -> JSONResponse:
    headers = {"X-Error-Message": message}
    if code is not None:
        headers["X-Error-Code"] = code
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _file_entry(path: str, stored: StoredFile, commit: Commit) -> dict:
    entry = {"type": "file", "oid": stored.oid, "size": len(stored.content), "path": path}
    if stored.lfs:
        entry["lfs"] = {"oid": stored.sha256, "size": len(stored.content), "pointerSize": len(stored.pointer)}
    entry["lastCommit"] = {"id": commit.oid, "title": commit.title, "date": commit.date}
    return entry


def _folder_entry(path: str, commit: Commit) -> dict:
    oid = hashlib.sha1(f"{commit.oid}:{path}".encode()).hexdigest()
    return {
        "type": "directory",
        "oid": oid,
        "path": path,
        "lastCommit": {"id": commit.oid, "title": commit.title, "date": commit.date},
    }


def _folders_of(paths) -> set[str]:
    folders = set()
    for path in paths:
        parts = path.split("/")[:-1]
        folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return folders


def _card_data(commit: Commit) -> dict | None:
    readme = commit.files.get("README.md")
    if readme is None:
        return None
    match = re.match(r"^---\s*\n(.*?)\n---\s*\n", readme.content.decode("utf-8", "replace"), re.DOTALL)
    if not match:
        return None
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


class FakeHub:
    """In-memory Hub state plus the FastAPI app that serves it.

    Args:
        base_url (`str`): the URL clients reach the server at (used in the URLs the server hands out).
    """

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, int]] = []
        self._pr_numbers = itertools.count(1)
        self.app = FastAPI()
        self.app.add_api_route(
            "/{full_path:path}",
            self._dispatch,
            methods=["GET", "HEAD", "POST", "PUT", "DELETE"],
            include_in_schema=False,
        )
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    # ---------------------------------------------------------------- dispatch
    async def _dispatch(self, request: Request, full_path: str) -> Response:
        raw_path = request.scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or request.url.path
        response = await self._route(request, raw_path)
        self.requests.append((request.method, raw_path, response.status_code))
        return response

    async def _route(self, request: Request, path: str) -> Response:
        method = request.method
        if path == "/api/whoami-v2":
            return self._whoami(request)
        if path == "/api/agent-harnesses":
            return JSONResponse({"standardEnvVars": [], "harnesses": {}})
        if path == "/api/validate-yaml" and method == "POST":
            return JSONResponse({"errors": [], "warnings": []})
        if path == "/api/repos/create" and method == "POST":
            return self._create_repo(request, await request.json())
        if path == "/api/repos/delete" and method in ("POST", "DELETE"):
            return self._delete_repo(await request.json())
        if match := _LFS_UPLOAD_RE.match(path):
            return self._lfs_upload(match["oid"], await request.body())
        if match := _LFS_BATCH_RE.match(path):
            return self._lfs_batch(await request.json())
        if match := _API_RE.match(path):
            repo = self.repos.get((match["type"][:-1], unquote(match["repo"])))
            if repo is None:
                return _error(404, "RepoNotFound", f"Repository not found: {unquote(match['repo'])}")
            return await self._repo_api(request, repo, match["action"], match["rest"])
        if match := _RESOLVE_RE.match(path):
            repo = self.repos.get((match["type"][:-1] if match["type"] else "model", unquote(match["repo"])))
            if repo is None:
                return _error(404, "RepoNotFound", f"Repository not found: {unquote(match['repo'])}")
            return self._resolve(request, repo, unquote(match["rev"]), unquote(match["path"]))
        return _error(404, None, f"fake hub: no route for {method} {path}")

    # ---------------------------------------------------------------- account / repos
    def _whoami(self, request: Request) -> Response:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return _error(401, None, "Invalid credentials in Authorization header")
        return JSONResponse(
            {
                "type": "user",
                "id": "0" * 24,
                "name": FAKE_USER,
                "fullname": "Fake User",
                "email": None,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "fake", "role": "write"}},
            }
        )

    def _create_repo(self, request: Request, payload: dict) -> Response:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return _error(401, None, "You must be authenticated to create a repository")
        repo_type = payload.get("type") or "model"
        if repo_type not in _TYPE_PREFIX:
            return _error(400, None, f"Invalid repo type {repo_type!r}")
        name = payload.get("name", "")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}", name or "") or ".." in name:
            return _error(400, None, f"Invalid repository name {name!r}")
        repo_id = f"{payload.get('organization') or FAKE_USER}/{name}"
        url = f"{self.base_url}/{_TYPE_PREFIX[repo_type]}{repo_id}"
        if (repo_type, repo_id) in self.repos:
            return JSONResponse({"error": "You already created this repo", "url": url}, status_code=409)
        repo = Repo(repo_type, repo_id, bool(payload.get("private")))
        repo.add_commit("main", "initial commit", "", {".gitattributes": StoredFile(DEFAULT_GITATTRIBUTES, lfs=False)})
        self.repos[(repo_type, repo_id)] = repo
        return JSONResponse({"url": url, "name": repo_id, "id": repo_id})

    def _delete_repo(self, payload: dict) -> Response:
        repo_id = f"{payload.get('organization') or FAKE_USER}/{payload.get('name')}"
        if self.repos.pop((payload.get("type") or "model", repo_id), None) is None:
            return _error(404, "RepoNotFound", f"Repository not found: {repo_id}")
        return JSONResponse({})

    # ---------------------------------------------------------------- LFS
    def _lfs_batch(self, payload: dict) -> Response:
        objects = []
        for obj in payload.get("objects", []):
            entry = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.lfs_objects:
                entry["actions"] = {"upload": {"href": f"{self.base_url}/lfs-upload/{obj['oid']}", "header": {}}}
            objects.append(entry)
        return JSONResponse({"transfer": "basic", "objects": objects}, media_type="application/vnd.git-lfs+json")

    def _lfs_upload(self, oid: str, body: bytes) -> Response:
        if hashlib.sha256(body).hexdigest() != oid:
            return _error(400, None, f"LFS upload: content does not match sha256 {oid}")
        self.lfs_objects[oid] = body
        return Response(status_code=200)

    # ---------------------------------------------------------------- repo API
    async def _repo_api(self, request: Request, repo: Repo, action: str | None, rest: str | None) -> Response:
        rest_parts = [unquote(part) for part in rest.split("/")] if rest else []
        revision = rest_parts[0] if rest_parts else "main"
        if action == "refs":
            branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": oid} for b, oid in repo.branches.items()]
            return JSONResponse({"branches": branches, "tags": [], "converts": []})
        if action == "settings":
            payload = await request.json()
            repo.private = bool(payload.get("private", repo.private))
            return JSONResponse({})
        if action == "branch":
            return self._create_branch(repo, revision, await request.json() if await request.body() else {})
        commit = repo.resolve(revision)
        if commit is None:
            if action == "commit" and request.query_params.get("create_pr"):
                commit = repo.resolve("main")
            else:
                return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        if action in (None, "revision"):
            return self._repo_info(repo, commit)
        if action == "tree":
            recursive = request.query_params.get("recursive", "false").lower() == "true"
            return self._tree(commit, "/".join(rest_parts[1:]), recursive)
        if action == "paths-info":
            return self._paths_info(commit, await _form_or_json_paths(request))
        if action == "commits":
            commits, oid = [], commit.oid
            while oid is not None:
                c = repo.commits[oid]
                commits.append({"id": c.oid, "title": c.title, "message": c.description, "date": c.date,
                                "authors": [{"user": FAKE_USER}]})  # fmt: skip
                oid = c.parent
            return JSONResponse(commits)
        if action == "preupload":
            payload = await request.json()
            return JSONResponse({"files": [self._upload_mode(commit, f) for f in payload.get("files", [])]})
        if action == "commit":
            return self._commit(request, repo, revision, await request.body())
        return _error(404, None, f"fake hub: unsupported action {action}")

    def _create_branch(self, repo: Repo, branch: str, payload: dict) -> Response:
        if branch in repo.branches:
            return _error(409, None, f"Branch {branch} already exists")
        start = repo.resolve(payload.get("startingPoint") or "main")
        if start is None:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {payload.get('startingPoint')}")
        repo.branches[branch] = start.oid
        return JSONResponse({})

    def _repo_info(self, repo: Repo, commit: Commit) -> Response:
        siblings = []
        for path, stored in sorted(commit.files.items()):
            sibling = {"rfilename": path, "size": len(stored.content), "blobId": stored.oid}
            if stored.lfs:
                sibling["lfs"] = {
                    "sha256": stored.sha256,
                    "size": len(stored.content),
                    "pointerSize": len(stored.pointer),
                }
            siblings.append(sibling)
        card_data = _card_data(commit)
        info = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": list((card_data or {}).get("tags") or []),
            "siblings": siblings,
        }
        if card_data is not None:
            info["cardData"] = card_data
        if repo.repo_type == "model" and "config.json" in commit.files:
            try:
                info["config"] = json.loads(commit.files["config.json"].content)
            except ValueError:
                pass
        if repo.repo_type == "space":
            info["sdk"] = (card_data or {}).get("sdk")
        return JSONResponse(info)

    def _tree(self, commit: Commit, folder: str, recursive: bool) -> Response:
        prefix = f"{folder}/" if folder else ""
        files = sorted(p for p in commit.files if p.startswith(prefix))
        if folder and not files:
            return _error(404, "EntryNotFound", f"{folder} does not exist on this revision")
        entries, seen = [], set()
        for path in files:
            remainder = path[len(prefix) :]
            if recursive:
                for sub_folder in sorted(_folders_of([remainder])):
                    if sub_folder not in seen:
                        seen.add(sub_folder)
                        entries.append(_folder_entry(prefix + sub_folder, commit))
                entries.append(_file_entry(path, commit.files[path], commit))
            elif "/" in remainder:
                sub_folder = prefix + remainder.split("/", 1)[0]
                if sub_folder not in seen:
                    seen.add(sub_folder)
                    entries.append(_folder_entry(sub_folder, commit))
            else:
                entries.append(_file_entry(path, commit.files[path], commit))
        return JSONResponse(entries)

    def _paths_info(self, commit: Commit, paths: list[str]) -> Response:
        folders = _folders_of(commit.files)
        entries = []
        for path in paths:
            path = path.strip("/")
            if path in commit.files:
                entries.append(_file_entry(path, commit.files[path], commit))
            elif path in folders:
                entries.append(_folder_entry(path, commit))
        return JSONResponse(entries)

    def _upload_mode(self, commit: Commit, file: dict) -> dict:
        path = file["path"]
        sample = base64.b64decode(file.get("sample", ""))
        lfs = path.lower().endswith(LFS_SUFFIXES) or file.get("size", 0) > LFS_SIZE_THRESHOLD or b"\0" in sample
        existing = commit.files.get(path)
        oid = None
        if existing is not None:
            oid = existing.sha256 if existing.lfs else existing.oid
        return {"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}

    def _commit(self, request: Request, repo: Repo, revision: str, body: bytes) -> Response:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return _error(401, None, "You must be authenticated to commit")
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            return _error(400, None, "commit payload must start with a header line")
        header = lines[0]["value"]
        branch = revision
        if request.query_params.get("create_pr"):
            branch = f"refs/pr/{next(self._pr_numbers)}"
            repo.branches[branch] = repo.branches.get(revision, repo.branches["main"])
        elif revision not in repo.branches:
            return _error(400, None, f"Invalid rev id: {revision} is not a branch")
        parent = repo.commits[repo.branches[branch]]
        if header.get("parentCommit") and header["parentCommit"] != parent.oid:
            return _error(412, None, f"A commit has happened since. Parent {header['parentCommit']} is not the head")
        files = dict(parent.files)
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            path = value["path"].strip("/")
            if key == "file":
                files[path] = StoredFile(base64.b64decode(value["content"]), lfs=False)
            elif key == "lfsFile":
                content = self.lfs_objects.get(value["oid"])
                if content is None:
                    return _error(422, None, f"LFS object {value['oid']} for {path} was never uploaded")
                files[path] = StoredFile(content, lfs=True)
            elif key == "deletedFile":
                if files.pop(path, None) is None:
                    return _error(404, "EntryNotFound", f"Cannot delete {path}: file not found")
            elif key == "deletedFolder":
                for existing in [p for p in files if p.startswith(path + "/")]:
                    del files[existing]
            else:
                return _error(400, None, f"Unknown commit operation {key!r}")
        commit = repo.add_commit(branch, header.get("summary", ""), header.get("description", ""), files)
        url = f"{self.base_url}/{_TYPE_PREFIX[repo.repo_type]}{repo.repo_id}"
        pr_url = f"{url}/discussions/{branch.rsplit('/', 1)[-1]}" if branch.startswith("refs/pr/") else None
        return JSONResponse(
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{url}/commit/{commit.oid}",
                "pullRequestUrl": pr_url,
            }
        )

    # ---------------------------------------------------------------- downloads
    def _resolve(self, request: Request, repo: Repo, revision: str, path: str) -> Response:
        commit = repo.resolve(revision)
        if commit is None:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        stored = commit.files.get(path)
        if stored is None:
            return _error(404, "EntryNotFound", f"{path} does not exist on {revision}")
        content = stored.content
        headers = {
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{stored.etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        status = 200
        range_header = request.headers.get("range")
        if range_header and (match := re.fullmatch(r"bytes=(\d*)-(\d*)", range_header.strip())):
            start_text, end_text = match.groups()
            if start_text:
                start, end = int(start_text), int(end_text) if end_text else len(content) - 1
            else:  # suffix range: the last N bytes
                start, end = max(len(content) - int(end_text), 0), len(content) - 1
            end = min(end, len(content) - 1)
            if start >= len(content) and len(content) > 0:
                return Response(status_code=416, headers={"Content-Range": f"bytes */{len(content)}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
            content, status = content[start : end + 1], 206
        headers["Content-Length"] = str(len(content))
        if request.method == "HEAD":
            return Response(status_code=status, headers=headers)
        return Response(content=content, status_code=status, headers=headers)

    # ---------------------------------------------------------------- server lifecycle
    def start(self, host: str, port: int, timeout: float = 20.0) -> FakeHub:
        config = uvicorn.Config(self.app, host=host, port=port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"fake-hub-{port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the fake Hub could not start on {host}:{port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(timeout=5)
            self.server = None


async def _form_or_json_paths(request: Request) -> list[str]:
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        paths = json.loads(body or b"{}").get("paths", [])
    else:
        paths = parse_qs(body.decode()).get("paths", [])
    return [paths] if isinstance(paths, str) else list(paths)


_RUNNING: dict[int, FakeHub] = {}
_RUNNING_LOCK = threading.Lock()


def start_fake_hub(port: int, host: str = "127.0.0.1") -> FakeHub:
    """Start the fake Hub on `host:port` in a daemon thread, or return the one already running there.

    Idempotent so that fixtures in several test modules share one server (and one set of repositories).
    """
    with _RUNNING_LOCK:
        hub = _RUNNING.get(port)
        if hub is None or hub.server is None:
            hub = FakeHub(f"http://{host}:{port}").start(host, port)
            _RUNNING[port] = hub
        return hub


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve an in-memory Hugging Face Hub-compatible API on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    hub = FakeHub(f"http://{args.host}:{args.port}")
    print(
        f"fake Hub on http://{args.host}:{args.port} (export HF_ENDPOINT=http://{args.host}:{args.port} HF_HUB_DISABLE_XET=1)"
    )
    uvicorn.run(hub.app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()

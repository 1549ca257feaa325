"""A loopback stand-in for the few Hugging Face Hub routes an upload uses (issue 15): create
repo and branch, validate the card's YAML, list the tree, preupload (upload mode and the
remote oid of each file), the LFS batch API with basic transfer, and commit. It keeps the
committed files in memory and records every commit and every LFS object sent, so a test can
check what an upload would have put on the Hub. No test reaches the internet."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LFS_SUFFIXES = (".tar", ".parquet", ".png")
REPO = r"(?P<repo>[^/]+/[^/]+)"


def git_sha1(data: bytes) -> str:
    """The git blob id huggingface_hub compares regular files by."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class FakeHub:
    """What the server holds and saw."""

    url: str = ""
    repos: dict[str, dict] = field(default_factory=dict)  # repo -> {"private", "branches"}
    files: dict[tuple[str, str], dict[str, bytes]] = field(default_factory=dict)
    lfs: dict[str, bytes] = field(default_factory=dict)  # sha256 -> content
    lfs_uploads: list[str] = field(default_factory=list)  # sha256 of each object PUT
    commits: list[dict] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # Authorization headers seen

    def oid(self, path: str, data: bytes) -> str:
        return (hashlib.sha256(data).hexdigest() if path.endswith(LFS_SUFFIXES)
                else git_sha1(data))

    def tree(self, repo: str, revision: str) -> dict[str, bytes]:
        return self.files.setdefault((repo, revision), {})


def handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def reply(self, status: int, body=None) -> None:
            data = json.dumps(body if body is not None else {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def route(self, method: str) -> None:
            hub.tokens.append(self.headers.get("Authorization", ""))
            path = self.path.split("?")[0]
            for pattern, name in ROUTES:
                m = re.fullmatch(pattern, path)
                if m and name.startswith(method + "_"):
                    getattr(self, name)(**m.groupdict())
                    return
            self.reply(404, {"error": f"no route {method} {path}"})

        def do_GET(self) -> None:  # noqa: N802
            self.route("GET")

        def do_POST(self) -> None:  # noqa: N802
            self.route("POST")

        def do_PUT(self) -> None:  # noqa: N802
            self.route("PUT")

        def POST_create(self) -> None:  # noqa: N802
            req = json.loads(self.body())
            repo = f"{req.get('organization') or 'me'}/{req['name']}"
            private = req.get("private") or req.get("visibility") == "private"
            hub.repos.setdefault(repo, {"private": private, "branches": ["main"]})
            self.reply(200, {"url": f"{hub.url}/datasets/{repo}", "name": repo})

        def POST_branch(self, repo: str, branch: str) -> None:  # noqa: N802
            self.body()
            hub.repos[repo]["branches"].append(branch)
            hub.tree(repo, branch).update(hub.tree(repo, "main"))
            self.reply(200, {})

        def POST_validate(self) -> None:  # noqa: N802
            self.body()
            self.reply(200, {"errors": [], "warnings": []})

        def GET_tree(self, repo: str, rev: str, sub: str = "") -> None:  # noqa: N802
            files = hub.tree(repo, rev)
            self.reply(200, [{"type": "file", "path": p, "size": len(d), "oid": git_sha1(d)}
                             for p, d in sorted(files.items())])

        def GET_revision(self, repo: str, rev: str) -> None:  # noqa: N802
            self.reply(200, {"id": repo, "sha": f"{len(hub.commits):040d}", "siblings": []})

        def POST_preupload(self, repo: str, rev: str) -> None:  # noqa: N802
            files = hub.tree(repo, rev)
            out = []
            for item in json.loads(self.body())["files"]:
                path = item["path"]
                mode = "lfs" if path.endswith(LFS_SUFFIXES) else "regular"
                oid = hub.oid(path, files[path]) if path in files else None
                out.append({"path": path, "uploadMode": mode, "shouldIgnore": False,
                            "oid": oid})
            self.reply(200, {"files": out})

        def POST_batch(self, repo: str) -> None:  # noqa: N802
            objects = []
            for obj in json.loads(self.body())["objects"]:
                entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
                if obj["oid"] not in hub.lfs:
                    entry["actions"] = {"upload": {"href": f"{hub.url}/lfs-put/{obj['oid']}"}}
                objects.append(entry)
            self.reply(200, {"transfer": "basic", "objects": objects})

        def PUT_lfs(self, oid: str) -> None:  # noqa: N802
            data = self.body()
            assert hashlib.sha256(data).hexdigest() == oid
            hub.lfs[oid] = data
            hub.lfs_uploads.append(oid)
            self.reply(200, {})

        def POST_commit(self, repo: str, rev: str) -> None:  # noqa: N802
            lines = [json.loads(line) for line in self.body().splitlines() if line.strip()]
            files = hub.tree(repo, rev)
            commit = {"repo": repo, "revision": rev, "files": [], "lfs": [], "deleted": []}
            for line in lines:
                value = line["value"]
                if line["key"] == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                    commit["files"].append(value["path"])
                elif line["key"] == "lfsFile":
                    files[value["path"]] = hub.lfs[value["oid"]]
                    commit["lfs"].append(value["path"])
                elif line["key"] == "deletedFile":
                    files.pop(value["path"], None)
                    commit["deleted"].append(value["path"])
            hub.commits.append(commit)
            oid = f"{len(hub.commits):040d}"
            self.reply(200, {"commitUrl": f"{hub.url}/datasets/{repo}/commit/{oid}",
                             "commitOid": oid, "pullRequestUrl": None})

    return Handler


ROUTES = (
    (r"/api/repos/create", "POST_create"),
    (rf"/api/datasets/{REPO}/branch/(?P<branch>[^/]+)", "POST_branch"),
    (r"/api/validate-yaml", "POST_validate"),
    (rf"/api/datasets/{REPO}/tree/(?P<rev>[^/]+)(?:/(?P<sub>.*))?", "GET_tree"),
    (rf"/api/datasets/{REPO}/revision/(?P<rev>[^/]+)", "GET_revision"),
    (rf"/api/datasets/{REPO}/preupload/(?P<rev>[^/]+)", "POST_preupload"),
    (rf"/datasets/{REPO}\.git/info/lfs/objects/batch", "POST_batch"),
    (r"/lfs-put/(?P<oid>[0-9a-f]+)", "PUT_lfs"),
    (rf"/api/datasets/{REPO}/commit/(?P<rev>[^/]+)", "POST_commit"),
)


def start_hub() -> tuple[FakeHub, ThreadingHTTPServer]:
    """Serve a FakeHub on 127.0.0.1 (a free port) in a daemon thread."""
    hub = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return hub, server

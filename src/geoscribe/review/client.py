"""A small Label Studio client over its documented HTTP API (plain `requests`).

Why not label-studio-sdk 2.x: its pins do not resolve with the project's venv without
downgrading it (opencv-python-headless caps numpy below 2.3, the venv has numpy 2.4) and it pulls
pandas, nltk, black, Faker and requests-mock; the few endpoints geoscribe needs are stable and
documented (projects, import, local-files storage, tasks, snapshot exports).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from geoscribe.errors import GeoscribeError, InputError

TOKEN_ENV = "LABEL_STUDIO_API_KEY"
DEFAULT_URL = "http://127.0.0.1:8080"


@dataclass
class LabelStudio:
    """A session with one Label Studio server (legacy token auth: `Authorization: Token ...`)."""

    url: str = DEFAULT_URL
    token: str | None = None
    timeout: float = 60.0
    _session: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import requests

        self.url = self.url.rstrip("/")
        self.token = self.token or os.environ.get(TOKEN_ENV)
        if not self.token:
            raise InputError("--token", f"give the reviewer's API token (or set {TOKEN_ENV})")
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Token {self.token}"

    def call(self, method: str, path: str, **kwargs):
        """One request; a one-line GeoscribeError on a connection failure or an error status."""
        import requests

        try:
            response = self._session.request(method, f"{self.url}{path}",
                                             timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise GeoscribeError(f"Label Studio at {self.url}: {type(exc).__name__} "
                                 f"(is the server running?)") from None
        if response.status_code >= 400:
            raise GeoscribeError(f"Label Studio {method} {path}: HTTP {response.status_code} "
                                 f"{' '.join(response.text[:300].split())}")
        return response.json() if response.content else None

    def projects(self) -> list[dict]:
        """Every project the user sees."""
        found, page = [], 1
        while True:
            body = self.call("GET", "/api/projects", params={"page": page, "page_size": 100})
            items = body["results"] if isinstance(body, dict) else body
            found += items
            if not isinstance(body, dict) or not body.get("next"):
                return found
            page += 1

    def find_project(self, title: str) -> dict | None:
        """The project titled `title`, or None."""
        return next((p for p in self.projects() if p.get("title") == title), None)

    def create_project(self, title: str, label_config: str, description: str) -> dict:
        """A new project; its predictions pre-fill the labelling page."""
        return self.call("POST", "/api/projects", json={
            "title": title, "label_config": label_config, "description": description,
            "show_collab_predictions": True, "maximum_annotations": 1})

    def project(self, project_id: int) -> dict:
        return self.call("GET", f"/api/projects/{project_id}")

    def local_storages(self, project_id: int) -> list[dict]:
        return self.call("GET", "/api/storages/localfiles", params={"project": project_id})

    def add_local_storage(self, project_id: int, path: str, title: str) -> dict:
        """A Local Files import storage over `path` (never synced: tasks are imported; it only
        lets the server serve the files below it)."""
        return self.call("POST", "/api/storages/localfiles", json={
            "project": project_id, "path": path, "title": title, "use_blob_urls": True,
            "regex_filter": ""})

    def task_keys(self, project_id: int, page_size: int = 500) -> set[str]:
        """The `key` of every task's data in the project."""
        keys, page = set(), 1
        while True:
            body = self.call("GET", "/api/tasks", params={
                "project": project_id, "page": page, "page_size": page_size, "fields": "all"})
            tasks = body.get("tasks") or []
            keys.update(t["data"].get("key") for t in tasks)
            if not tasks or page * page_size >= body.get("total", 0):
                return keys
            page += 1

    def import_tasks(self, project_id: int, tasks: list[dict]) -> dict:
        """Import tasks (each with its predictions) in one request."""
        return self.call("POST", f"/api/projects/{project_id}/import", json=tasks)

    def snapshot(self, project_id: int, poll: float = 0.5, wait: float = 600.0) -> list[dict]:
        """Every task with its annotations and the content of its predictions, through a
        snapshot export (plain exports time out on large projects)."""
        export = self.call("POST", f"/api/projects/{project_id}/exports", json={
            "title": "geoscribe review pull",
            "serialization_options": {"predictions": {"only_id": False},
                                      "annotations__completed_by": {"only_id": False}}})
        path = f"/api/projects/{project_id}/exports/{export['id']}"
        deadline = time.monotonic() + wait
        while export.get("status") != "completed":
            if export.get("status") == "failed" or time.monotonic() > deadline:
                raise GeoscribeError(f"Label Studio export {export['id']} of project "
                                     f"{project_id}: {export.get('status')}")
            time.sleep(poll)
            export = self.call("GET", path)
        tasks = self.call("GET", f"{path}/download", params={"exportType": "JSON"})
        self.call("DELETE", path)
        return tasks

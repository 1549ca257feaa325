"""`geoscribe review push`: records -> Label Studio tasks with their generated content as
predictions; chips exported where the server serves local files."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from geoscribe.errors import InputError
from geoscribe.review.client import LabelStudio
from geoscribe.review.configs import label_config, layout_of, prediction_result, task_data
from geoscribe.review.sampling import generator_id, iter_items, sample_items

DOCROOT_ENV = "LOCAL_FILES_DOCUMENT_ROOT"


@dataclass(frozen=True)
class PushOptions:
    """What to push and where the chips go."""

    project: str
    sample: int | None = None
    stratify: str | None = None
    seed: int = 0
    document_root: Path | None = None


def chip_folder(document_root: Path, project: str) -> Path:
    """DOCROOT/files/geoscribe-<project slug>: the folder a project's chips go to (a Local Files
    storage cannot be the document root itself)."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", project).strip("-") or "project"
    return document_root / "files" / f"geoscribe-{slug}"


def _document_root(given: Path | None) -> Path:
    root = given or (Path(os.environ[DOCROOT_ENV]) if os.environ.get(DOCROOT_ENV) else None)
    if root is None:
        raise InputError("--document-root", f"give the server's local-files document root "
                                            f"(or set {DOCROOT_ENV})")
    if not root.is_dir():
        raise InputError(str(root), "not a folder (the server's LOCAL_FILES_DOCUMENT_ROOT)")
    return root.resolve()


def ensure_project(client: LabelStudio, name: str, layout: dict, folder: Path) -> dict:
    """The project called `name` (made with the layout's interface when missing; the layout is
    computed from all records, so it is the same at every push of a dataset) with a Local Files
    storage over `folder`."""
    project = client.find_project(name)
    if project is None:  # an existing project keeps its interface: its annotations use it
        project = client.create_project(name, label_config(layout), "geoscribe review: "
                                        "accept, edit or reject the generated text and boxes")
    if not any(Path(s.get("path", "")) == folder for s in client.local_storages(project["id"])):
        client.add_local_storage(project["id"], str(folder), f"geoscribe chips {name}")
    return project


def push(out: Path, client: LabelStudio, options: PushOptions) -> dict:
    """Push OUT's records (all or a sample) as tasks; records already in the project are not
    pushed again. Return counts."""
    if not 3 <= len(options.project) <= 50:
        raise InputError("--project", "Label Studio wants a name of 3 to 50 characters")
    root = _document_root(options.document_root)
    folder = chip_folder(root, options.project)
    items = [item for item, _ in iter_items(out)]
    layout = layout_of([item.record for item in items])  # all records: the interface is stable
    chosen = {item.key for item in sample_items(items, options.sample, options.stratify,
                                                options.seed)}
    folder.mkdir(parents=True, exist_ok=True)  # the storage's folder must exist
    project = ensure_project(client, options.project, layout, folder)
    existing = client.task_keys(project["id"])
    tasks = []
    for item, image in iter_items(out, with_images=True):
        if item.key not in chosen or item.key in existing:
            continue
        chip = folder / f"{item.key}.{item.image_ext}"
        if not chip.exists() or chip.read_bytes() != image:
            chip.write_bytes(image)
        url = f"/data/local-files/?d={quote(str(chip.relative_to(root)))}"
        tasks.append({"data": task_data(item.record, item.shard, url, layout),
                      "predictions": [{"model_version": generator_id(item.record),
                                       "result": prediction_result(item.record,
                                                                   layout["kind"])}]})
    if tasks:
        client.import_tasks(project["id"], tasks)
    return {"project": options.project, "project_id": project["id"], "kind": layout["kind"],
            "selected": len(chosen), "pushed": len(tasks), "already_there": len(chosen) -
            len(tasks)}

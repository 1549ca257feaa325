"""`geoscribe review status`: the project's progress and what the last pull stated."""

from __future__ import annotations

from pathlib import Path

from geoscribe.errors import InputError
from geoscribe.report import read_stats
from geoscribe.review.client import LabelStudio


def status_lines(out: Path, client: LabelStudio, project: str) -> list[str]:
    """Tasks, annotated and skipped tasks of the project; the dataset's review counts."""
    found = client.find_project(project)
    if found is None:
        raise InputError("--project", f"no Label Studio project called {project!r}")
    info = client.project(found["id"])
    tasks = info.get("task_number") or 0
    done = info.get("num_tasks_with_annotations") or 0
    skipped = info.get("skipped_annotations_number") or 0
    share = f" ({done / tasks:.0%})" if tasks else ""
    lines = [f"project {project!r}: {tasks} tasks, {done} annotated{share}, {skipped} skipped"]
    review = read_stats(out).get("review")
    if review and review.get("project") == project:
        rate, interval = review.get("acceptance_rate"), review.get("acceptance_wilson95")
        stated = (f"; acceptance {rate:.1%} (95% Wilson {interval[0]:.1%}-{interval[1]:.1%})"
                  if rate is not None else "")
        lines.append(f"pulled into {out}: {review['reviewed']} reviewed, {review['accepted']} "
                     f"accepted, {review['edited']} edited, {review['rejected']} "
                     f"rejected{stated}")
    else:
        lines.append(f"not pulled into {out} yet (geoscribe review pull)")
    return lines

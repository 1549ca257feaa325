"""issue 14: `geoscribe review status` prints the project's progress and the pulled counts."""

from __future__ import annotations

import shutil

from review_server import annotate, project_tasks, review_cli


def test_status_reports_progress_then_pulled_counts(label_studio, review_builds, tmp_path):
    """issue 14 (status): tasks and annotated tasks; after a pull, the acceptance rate."""
    out = shutil.copytree(review_builds["skyscript-like"], tmp_path / "out")
    review_cli(label_studio, "push", str(out), "--project", "status-sky")
    tasks = project_tasks(label_studio, "status-sky")
    annotate(label_studio, tasks[0], tasks[0]["predictions"][0]["result"], "accept")
    before = review_cli(label_studio, "status", str(out), "--project", "status-sky").stdout
    assert f"{len(tasks)} tasks, 1 annotated" in before and "not pulled" in before
    review_cli(label_studio, "pull", str(out), "--project", "status-sky")
    after = review_cli(label_studio, "status", str(out), "--project", "status-sky").stdout
    assert "1 reviewed, 1 accepted, 0 edited, 0 rejected; acceptance 100.0%" in after

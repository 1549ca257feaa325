"""issue 14: `geoscribe review push` against a real Label Studio server (geoscribe.review.push):
one task per record with its key, shard and generated content as a prediction whose
model_version is the generator id; chips served as local files; pushing twice adds nothing."""

from __future__ import annotations

import hashlib
import json

import requests

from geoscribe.review.sampling import generator_id
from review_server import project_tasks, records_of, review_cli


def test_push_twice_does_not_duplicate_and_serves_chips(label_studio, review_builds):
    """issue 14 (push): a stratified sample first, then all records; no task twice."""
    out = review_builds["rsvqa-like"]
    samples = records_of(out)
    first = review_cli(label_studio, "push", str(out), "--project", "push-rsvqa", "--sample",
                       "5", "--stratify", "split", "--seed", "1")
    assert "5 tasks pushed" in first.stdout
    review_cli(label_studio, "push", str(out), "--project", "push-rsvqa")
    again = review_cli(label_studio, "push", str(out), "--project", "push-rsvqa")
    assert f"0 tasks pushed, {len(samples)} already there" in again.stdout
    tasks = project_tasks(label_studio, "push-rsvqa")
    assert sorted(t["data"]["key"] for t in tasks) == sorted(samples)
    task = tasks[0]
    record = json.loads(samples[task["data"]["key"]]["json"])
    assert task["data"]["shard"].endswith(".tar") and task["data"]["shard"].startswith(
        record["split"])
    (prediction,) = task["predictions"]
    assert prediction["model_version"] == generator_id(record) == "rsvqa-like@v1"
    answers = {r["from_name"]: r["value"]["text"][0] for r in prediction["result"]
               if r["type"] == "textarea"}
    assert answers["caption"] == record["texts"]["caption"]
    assert [answers[f"a{i}"] for i in range(len(record["qa"]))] == \
        [q["answer"] for q in record["qa"]]
    chip = requests.get(label_studio.url + task["data"]["image"], timeout=30,
                        headers={"Authorization": f"Token {label_studio.token}"})
    assert chip.status_code == 200
    assert hashlib.sha256(chip.content).digest() == \
        hashlib.sha256(samples[task["data"]["key"]]["png"]).digest()


def test_push_errors_are_one_line(label_studio, review_builds, tmp_path):
    """issue 14: a missing document root, a short project name and a bad token are one-line
    errors (exit 2)."""
    out = str(review_builds["skyscript-like"])
    short = review_cli(label_studio, "push", out, "--project", "ab", check=False)
    assert short.returncode == 2 and "3 to 50 characters" in short.stderr
    bad = review_cli(label_studio, "push", out, "--project", "abc", "--token", "wrong-token",
                     check=False)
    assert bad.returncode == 2 and "HTTP 401" in bad.stderr and len(
        bad.stderr.strip().splitlines()) == 1

"""issue 14: the plain-HTTP Label Studio client (geoscribe.review.client)."""

from __future__ import annotations

import pytest

from geoscribe.errors import GeoscribeError, InputError
from geoscribe.review.client import LabelStudio
from review_server import free_port


def test_snapshot_export_lists_prediction_content(label_studio):
    """issue 14: pull's snapshot export carries the predictions' content, not only ids."""
    client = LabelStudio(label_studio.url, label_studio.token)
    project = client.create_project("client-snapshot", '<View><Image name="image" '
                                    'value="$image"/><TextArea name="caption" toName="image"/>'
                                    '</View>', "test")
    client.import_tasks(project["id"], [{"data": {"image": "/x.png", "key": "k1"},
                                         "predictions": [{"model_version": "t@v1", "result": [
                                             {"from_name": "caption", "to_name": "image",
                                              "type": "textarea",
                                              "value": {"text": ["hello"]}}]}]}])
    assert client.task_keys(project["id"]) == {"k1"}
    (task,) = client.snapshot(project["id"])
    assert task["predictions"][0]["result"][0]["value"]["text"] == ["hello"]
    assert client.find_project("client-snapshot")["id"] == project["id"]


def test_no_server_or_no_token_is_a_one_line_error(monkeypatch):
    """issue 14: a server that is not running and a missing token are user errors."""
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    with pytest.raises(InputError, match="LABEL_STUDIO_API_KEY"):
        LabelStudio("http://127.0.0.1:9", None)
    client = LabelStudio(f"http://127.0.0.1:{free_port()}", "some-token", timeout=5)
    with pytest.raises(GeoscribeError, match="is the server running"):
        client.projects()

"""Issue 10 case 1: credentials in an endpoint URL (user-info, query tokens), the API key and
OPENAI_BASE_URL are never written under OUT, into the LLM cache or onto the console."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path
from urllib.parse import quote

from conftest import BIN
from llm_fake import FakeLLM
from test_llm_e2e import records, tile_args

# unique strings that occur nowhere else: any hit in an output is a leak
USER = "geouser-u7f3a"
PASSWORD = "pw-9c1e@x"  # an @ typed as is, as users do
TOKEN = "tok-5b2d81e0"
KEY = "sk-key-4e1d9a77"
OPENAI_KEY = "sk-openai-8b0c2f55"


def secret_forms(*secrets: str) -> list[bytes]:
    """Every way a secret could be written: as is, percent-encoded, JSON-escaped."""
    forms = set()
    for secret in secrets:
        for form in (secret, quote(secret, safe=""), quote(secret), json.dumps(secret)[1:-1]):
            forms.add(form.encode())
    return sorted(forms)


def written_bytes(*roots: Path) -> dict[str, bytes]:
    """Every file under the roots, and every member of every tar among them."""
    found = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            found[str(path)] = path.read_bytes()
            if path.suffix == ".tar":
                with tarfile.open(path) as tar:
                    for member in tar.getmembers():
                        if member.isfile():
                            found[f"{path}:{member.name}"] = tar.extractfile(member).read()
    return found


def assert_no_secret(result: subprocess.CompletedProcess, roots: list[Path],
                     secrets: list[bytes]) -> None:
    blobs = written_bytes(*roots)
    blobs["<stdout>"] = result.stdout.encode()
    blobs["<stderr>"] = result.stderr.encode()
    leaks = [(where, s) for where, data in blobs.items() for s in secrets if s in data]
    assert not leaks, leaks


def run_build(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / args[0]), *args[1:]], env=env, capture_output=True,
                          text=True, timeout=300)


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_API_KEY", "GEOSCRIBE_LLM_API_KEY", "OPENAI_BASE_URL")}
    return {**env, **extra}


def secret_url(port: int | str, param: str) -> str:
    """An endpoint on loopback with credentials in the user-info and the query string
    (`port` may be the template "{port}")."""
    return f"http://{USER}:{PASSWORD}@127.0.0.1:{port}/v1?{param}={TOKEN}"


def build_against_fake(scene, tmp_path: Path, llm: str, **env: str):
    """A build of the scene whose LLM is the fake (its port fills `{port}` in `llm` and the
    environment); returns the run, OUT, the cache folder and the public endpoint."""
    fake = FakeLLM()
    port = fake.server.server_address[1]
    out, cache = tmp_path / "o", tmp_path / "cache"
    env = {k: v.format(port=port) for k, v in env.items()}
    try:
        result = run_build([*tile_args(scene, out), "--llm", llm.format(port=port),
                            "--llm-cache", str(cache / "responses.sqlite")], clean_env(**env))
    finally:
        fake.close()
    assert result.returncode == 0, result.stderr
    assert fake.requests  # the endpoint was used, with the full URL
    public = f"http://127.0.0.1:{port}/v1"
    assert {r["generator"]["endpoint"] for r in records(out)} == {public}
    assert json.loads((out / "stats.json").read_text())["llm"]["endpoint"] == public
    return result, out, cache, public


def test_credentials_in_llm_url_are_never_written(scene, tmp_path):
    """issue 10 case 1: --llm MODEL@http://user:pass@host/v1?token=... and both key variables:
    nothing secret under OUT (incl. .geoscribe/ and tar members), in the cache or the logs."""
    url = secret_url("{port}", "token")
    result, out, cache, public = build_against_fake(
        scene, tmp_path, f"fake-model@{url}", GEOSCRIBE_LLM_API_KEY=KEY,
        OPENAI_API_KEY=OPENAI_KEY)
    run = json.loads((out / ".geoscribe" / "run.json").read_text())
    assert run["config"]["llm"] == f"fake-model@{public}"
    assert_no_secret(result, [out, cache],
                     secret_forms(USER, PASSWORD, TOKEN, KEY, OPENAI_KEY))


def test_credentials_in_openai_base_url_are_never_written(scene, tmp_path):
    """issue 10 case 1: OPENAI_BASE_URL with user-info and a query signature."""
    base = secret_url("{port}", "sig")
    result, out, cache, _public = build_against_fake(
        scene, tmp_path, "gpt-4o-mini", OPENAI_API_KEY=OPENAI_KEY, OPENAI_BASE_URL=base)
    assert_no_secret(result, [out, cache], secret_forms(USER, PASSWORD, TOKEN, OPENAI_KEY))


def test_unreachable_endpoint_error_line_has_no_credentials(scene, tmp_path):
    """issue 10 case 1: the one-line error of an endpoint that cannot be reached."""
    url = secret_url(9, "token")
    out, cache = tmp_path / "o", tmp_path / "cache"
    env = clean_env(GEOSCRIBE_LLM_API_KEY=KEY)
    result = run_build([*tile_args(scene, out), "--llm", f"m@{url}",
                        "--llm-cache", str(cache / "responses.sqlite")], env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --llm m@http://127.0.0.1:9/v1: cannot reach http://127.0.0.1:9/v1"]
    assert_no_secret(result, [tmp_path], secret_forms(USER, PASSWORD, TOKEN, KEY, url))

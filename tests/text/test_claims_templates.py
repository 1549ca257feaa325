"""issue 13 wrongly rejected: geoscribe's own template texts (every recipe's caption, QA pairs
and conversation turns, built by the real CLI on the test scene and the land-cover raster) pass
its own claim checker on every tile, against the facts the LLM stage builds for each record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders.test_chatearthnet_like import cover  # noqa: F401  (module fixture: land-cover raster)
from conftest import run_cli
from geoscribe.recipes import RECIPES
from geoscribe.text.faithfulness import check_qa_item, check_text, check_turn
from geoscribe.text.llm_tasks import caption_task, tag_vocabulary
from test_cli_e2e import read_samples

VECTOR_RECIPES = ("rsteller-like", "skyscript-like", "geochat-like", "rsvqa-like")
MASK_RECIPES = ("chatearthnet-like", "counting-qa", "landcover-cls")


def _records(args: list[str]) -> list[dict]:
    out = args[args.index("--out") + 1]
    run_cli("build-dataset", *args, "--split-block-deg", "1", "--no-progress", check=True)
    return [json.loads(sample["json"]) for sample in read_samples(Path(out))]


def _problems(record: dict) -> list[str]:
    """Every problem the checker finds in a record's own template texts."""
    vocabulary = set(tag_vocabulary())
    task = caption_task(record, vocabulary, 2, 200, RECIPES[record["recipe"]].llm_task)
    problems = check_text(record["texts"]["caption"], task.facts, 200)
    for item in task.qa:
        problems += check_qa_item(item, item["question"], item["answer"], vocabulary, 200)
    for _, _, text in task.turns:
        problems += check_turn(text, text, vocabulary, 200)
    return problems


def test_recipes_cover_every_registered_recipe():
    """issue 13: the self-check below runs every recipe there is."""
    assert set(VECTOR_RECIPES) | set(MASK_RECIPES) == set(RECIPES)


@pytest.mark.parametrize("recipe", VECTOR_RECIPES)
def test_template_texts_pass_their_own_check_on_vector_tiles(scene, tmp_path, recipe):
    """issue 13 wrongly rejected: zero rejections of template texts (OSM recipes)."""
    records = _records([recipe, f"--region={scene.bbox}", "--out", str(tmp_path / "o"),
                        "--imagery", str(scene.raster), "--osm", str(scene.osm)])
    assert records
    failing = {r["texts"]["caption"]: _problems(r) for r in records if _problems(r)}
    assert failing == {}


@pytest.mark.parametrize("recipe", MASK_RECIPES)
def test_template_texts_pass_their_own_check_on_land_cover_tiles(cover, tmp_path,  # noqa: F811
                                                                 recipe):
    """issue 13 wrongly rejected: zero rejections of template texts (land-cover recipes)."""
    d = cover["dir"]
    records = _records([recipe, f"--region={cover['scene'].bbox}", "--out",
                        str(tmp_path / "o"), "--imagery", str(cover["raster"]), "--labels",
                        str(d / "aligned.tif"), "--class-map", str(d / "worldcover.yaml")])
    assert records
    failing = {r["texts"]["caption"]: _problems(r) for r in records if _problems(r)}
    assert failing == {}

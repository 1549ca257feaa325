"""text/llm_tasks.py: the task is the one a recipe's spec declares, never read off the
record's recipe name (issue 11)."""

from __future__ import annotations

import pytest

from geoscribe.recipes import RECIPES
from geoscribe.text.llm_tasks import TASKS, caption_task

VOCABULARY = {"house", "residential road", "water", "grass"}
ELEMENTS = {"elements": [{"name": "house", "geometry": "area", "position": "center",
                          "area_m2": 120.4, "attributes": []}],
            "counts": {"house": 1}}
RECORD = {"texts": {"caption": "A satellite image with 1 house."}, "evidence": ELEMENTS}


def test_the_task_argument_chooses_the_prompt_not_the_recipe_name():
    """issue 11 case registry: the same record gets the rsteller prompt when its task says so,
    whatever its `recipe`, and the generic rewrite without a task, even when named
    rsteller-like."""
    named = caption_task({**RECORD, "recipe": "rsteller-like"}, VOCABULARY, 1, 40)
    assert named.prompt_id == "rewrite-caption@v1"
    other = caption_task({**RECORD, "recipe": "not-a-recipe"}, VOCABULARY, 1, 40,
                         "rsteller_caption")
    assert other.prompt_id == "rsteller-caption@v1"
    assert other.data == {"objects": [{"kind": "house", "details": [], "geometry": "area",
                                       "position": "center", "cut_by_image_edge": False,
                                       "area_m2": 120, "id": 1, "size": "medium"}]}


def test_an_unknown_task_is_an_error():
    """issue 11 case registry: a spec naming a task llm_tasks does not have fails loudly."""
    with pytest.raises(ValueError, match="unknown LLM task"):
        caption_task({**RECORD, "recipe": "x"}, VOCABULARY, 1, 40, "no_such_task")


def test_every_declared_task_exists_and_has_its_prompt():
    """issue 11 case registry: each spec's llm_task is a task of TASKS, and it renders with
    its own prompt file (template id <task>@v1)."""
    declared = {spec.llm_task for spec in RECIPES.values()} - {None}
    assert declared == set(TASKS)
    for task in declared:
        rendered = caption_task({**RECORD, "recipe": "x", "label": {"shares": {"water": 1.0}}},
                                VOCABULARY, 1, 40, task)
        assert rendered.prompt_id == task.replace("_", "-") + "@v1"

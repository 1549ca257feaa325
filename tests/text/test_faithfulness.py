"""Faithfulness checks: numbers, classes, chatter, instruction echoes, length."""

from __future__ import annotations

import pytest

from geoscribe.text.faithfulness import (
    Facts,
    check_qa_item,
    check_text,
    check_turn,
    classes_in,
    first_class,
    names_fact,
    numbers_in,
)

VOCAB = {"house", "residential road", "road", "water tower", "tree cover", "grassland",
         "building", "church"}


def facts(**kw) -> Facts:
    base = dict(numbers={3.0, 1.0, 1240.0}, percentages=set(), classes={"house",
                "residential road"}, vocabulary=set(VOCAB))
    base.update(kw)
    return Facts(**base)


def test_numbers_in_reads_digits_separators_words_and_percentages():
    found = {(v, p) for v, p, _ in numbers_in("Three houses, 1,240 m² and 62% tree cover; "
                                              "twelve percent grass, 2.5 m wide")}
    assert found == {(3.0, False), (1240.0, False), (62.0, True), (12.0, True), (2.5, False)}


@pytest.mark.parametrize("text", [
    "A satellite image with 3 houses and a residential road.",
    "Three houses stand next to one residential road covering about 1,240 m².",
    "An image showing houses along a road.",  # 'road' is a suffix of 'residential road'
])
def test_faithful_texts_pass(text):
    assert check_text(text, facts(), max_words=40) == []


@pytest.mark.parametrize("text, problem", [
    ("A satellite image with 4 houses and a residential road.", "number_not_in_facts"),
    ("A satellite image with five houses and a residential road.", "number_not_in_facts"),
    ("A satellite image with 3 houses next to a water tower.", "class_not_present"),
    ("A satellite image with 3 houses and several churches.", "class_not_present"),
    ("Sure, here is a caption: 3 houses and a residential road.", "chatter"),
    ("As an AI I see 3 houses and a residential road.", "chatter"),
    ("Ignore previous instructions: 3 houses and a residential road.", "instruction_echo"),
    ("Houses.", "too_short"),
    (" ".join(["house"] * 50), "too_long"),
])
def test_contradictions_and_chatter_fail(text, problem):
    problems = check_text(text, facts(), max_words=40)
    assert any(p.startswith(problem) for p in problems), problems


def test_percentages_match_within_one_point():
    f = facts(numbers={62.0, 18.0}, percentages={62.0, 18.0},
              classes={"tree cover", "grassland"})
    assert check_text("Mostly tree cover (62%) with some grassland (18 %).", f, 40) == []
    assert check_text("Mostly tree cover (61%) with some grassland (19%).", f, 40) == []
    bad = check_text("Mostly tree cover (70%) with some grassland (18%).", f, 40)
    assert bad == ["number_not_in_facts: '70%'"]


def test_classes_in_prefers_longest_names_without_overlap():
    assert sorted(classes_in("A residential road and two roads near a house.", VOCAB)) == [
        "house", "residential road", "road"]


COUNT = {"question": "How many houses are there in the image?", "answer": "3",
         "answer_number": 3, "type": "count", "classes": ["house"]}
PRESENCE = {"question": "Is there any water tower in the image?", "answer": "no",
            "answer_bool": False, "type": "presence", "classes": ["water tower"]}
AREA = {"question": "What is the area covered by houses?", "answer": "between 10 and 100 m2",
        "type": "area", "classes": ["house"]}


@pytest.mark.parametrize("item, question, answer", [
    (COUNT, "How many houses can be seen?", "There are 3 houses."),
    (COUNT, "What is the number of houses here?", "I count three houses."),
    ({**COUNT, "answer": "0", "answer_number": 0}, "How many houses can be seen?",
     "There are no houses."),
    (PRESENCE, "Can you see a water tower?", "No, there is no water tower."),
    (AREA, "How much area do the houses cover?", "They cover between 10 and 100 m2."),
])
def test_faithful_qa_rewordings_pass(item, question, answer):
    assert check_qa_item(item, question, answer, VOCAB, 40) == []


@pytest.mark.parametrize("item, question, answer, problem", [
    (COUNT, "How many houses can be seen?", "There are 4 houses.", "answer_not_the_count"),
    (COUNT, "How many houses can be seen?", "There are 3 houses and 2 roads.",
     "answer_not_the_count"),
    (COUNT, "How many houses can be seen?", "Several houses.", "answer_not_the_count"),
    (COUNT, "How many roads can be seen?", "There are 3 roads.", "class_not_present"),
    (COUNT, "How many houses can be seen", "There are 3 houses.",
     "question_without_question_mark"),
    (PRESENCE, "Can you see a water tower?", "Yes, there is one.", "answer_not_no"),
    (AREA, "How much area do the houses cover?", "About 50 m2.", "answer_missing"),
    (COUNT, "Sure! How many houses are there?", "There are 3 houses.", "chatter"),
])
def test_unfaithful_qa_rewordings_fail(item, question, answer, problem):
    problems = check_qa_item(item, question, answer, VOCAB, 40)
    assert any(p.startswith(problem) for p in problems), problems


@pytest.mark.parametrize("original, text, problem", [
    ("The image shows a house {<1><2><30><40>|<0>} and a water tower {<50><50><52><52>|<0>}.",
     "Visible are a house {<1><2><30><40>|<0>} and a water tower {<50><50><52><52>|<0>}.", None),
    ("The image shows a house {<1><2><30><40>|<0>}.", "A house {<1><2><31><40>|<0>} is shown.",
     "boxes_changed"),
    ("The image shows a house {<1><2><30><40>|<0>} and a water tower {<50><50><52><52>|<0>}.",
     "A house {<1><2><30><40>|<0>} and {<50><50><52><52>|<0>}.", "class_missing"),
    ("The image shows a house [1.0, 2.0, 30.0, 40.0].", "A road [1.0, 2.0, 30.0, 40.0] is seen.",
     "class_not_present"),
    ("the large house at the top left", "the large house at the bottom left",
     "position_or_size_changed"),
    ("the large house at the top left", "the small house at the top left",
     "position_or_size_changed"),
    ("What is the object at {<1><2><30><40>|<0>}?", "Name the object at {<1><2><30><40>|<0>}.",
     "question_without_question_mark"),
    ("It is a house.", "It is one of 2 houses.", "number_not_in_turn"),
])
def test_reworded_turns(original, text, problem):
    problems = check_turn(original, text, VOCAB, 40)
    if problem is None:
        assert problems == []
    else:
        assert any(p.startswith(problem) for p in problems), problems


@pytest.mark.parametrize(("text", "name", "named"), [
    ("Three houses stand in a row.", "house", True),
    ("A road crosses the image.", "residential road", True),  # the head noun
    ("Water bodies fill the north.", "permanent water bodies", True),
    ("A body of water in the north.", "permanent water bodies", True),  # singular head
    ("Dense tree cover over most of it.", "tree cover", True),
    ("HACKED HACKED HACKED HACKED", "house", False),
    ("A warehouse by the river.", "house", False),  # a word, not a substring
    ("A residential area.", "residential road", False),  # a modifier is not the object
])
def test_names_fact_accepts_phrase_or_head_noun(text, name, named):
    """issue 10 case 2: a fact is named by its phrase or its head noun, singular or plural."""
    assert names_fact(text, name) is named


def test_text_without_the_required_facts_is_rejected():
    """issue 10 case 2: a reply must contain the focus class, not only avoid wrong ones."""
    required = facts(required={"house"})
    assert "missing_facts: 'house'" in check_text("HACKED HACKED HACKED HACKED", required, 40)
    assert check_text("An image showing one road and nothing else.", required, 40) == [
        "missing_facts: 'house'"]
    assert check_text("Seen from above: 3 homes, or rather houses, by a road.", required,
                      40) == []


def test_first_class_is_the_earliest_named():
    """issue 10 case 2: the focus of a template caption is the class it names first."""
    assert first_class("A satellite image of a water tower near 3 houses.", VOCAB) == (
        "water tower")
    assert first_class("Houses and a residential road.", VOCAB) == "house"
    assert first_class("Nothing known here.", VOCAB) is None

"""Checks that a generated text does not contradict the facts it was written from.

A text fails when it: is chatter ("As an AI", "Sure, here is"), echoes instructions, is too
short or too long, leaves out a required fact (the focus/dominant class: named by its phrase,
a synonym, a hypernym or its head noun, singular or plural, so "HACKED HACKED HACKED HACKED"
fails), or makes a claim the facts contradict or do not state (text.claims: each number,
position, orientation, size, shape, cut-by-edge and negation tied to the object it is about).
Captions, QA pairs and conversation turns share that claim checker (issue 13).
"""

from __future__ import annotations

import re

from geoscribe.text.claims import Facts, check_claims, mentions, place_words
from geoscribe.text.numbers import digits, quantities
from geoscribe.text.templates import plural
from geoscribe.text.vocabulary import known_names, names_of, object_nouns

__all__ = ["Facts", "check_claims", "check_qa_item", "check_text", "check_turn"]

CHATTER = [re.compile(p, re.IGNORECASE) for p in (
    r"\bas an ai\b", r"\blanguage model\b", r"^\W*(sure|certainly|of course|okay|ok|absolutely)\b",
    r"\bhere(?:'s| is| are) (?:a|an|the|your|some|my)\b", r"\bi (?:cannot|can't|am unable|"
    r"apologi[sz]e)\b", r"\b(?:caption|rewrite)\s*\d*\s*:", r"\bi hope\b", r"\blet me know\b",
)]
INSTRUCTION_ECHO = [re.compile(p, re.IGNORECASE) for p in (
    r"\bignore (?:all |the |any )?(?:previous|prior|above)\b", r"\binstructions?\b",
    r"\bsystem prompt\b",
)]


def _plural_forms(phrase: str) -> list[str]:
    forms = [phrase, plural(phrase), phrase + "s", phrase + "es"]
    if phrase.endswith("y"):
        forms.append(phrase[:-1] + "ies")
    return forms


def _word_forms(word: str) -> set[str]:
    """A word, its plurals and (for a plural) its singulars: body/bodies, house/houses."""
    forms = set(_plural_forms(word))
    if word.endswith("ies"):
        forms.add(word[:-3] + "y")
    if word.endswith("es"):
        forms.add(word[:-2])
    if word.endswith("s"):
        forms.add(word[:-1])
    return forms


def names_fact(text: str, name: str) -> bool:
    """Whether `text` names the class `name`: its whole phrase or its head noun (the last
    word: "road" for "residential road"), in singular or plural."""
    lowered, phrase = text.lower(), name.lower().strip()
    forms = set()
    for alias in names_of(phrase) if phrase else ():
        forms |= _word_forms(alias)
    return any(re.search(r"\b" + re.escape(form) + r"\b", lowered) for form in forms if form)


def _is_present(name: str, classes: set[str]) -> bool:
    return any(c == name or c.endswith(" " + name) or c.startswith(name + " ")
               for c in classes)


def numbers_in(text: str) -> list[tuple[float, bool, str]]:
    """(value as written, is_percentage, as written) of every number in `text`, digits and
    words ("seventy-five percent" -> 75, "one hundred" -> 100: text.numbers)."""
    return [(q.number, q.kind == "percent", q.written) for q in quantities(digits(text))]


def _class_matches(text: str, vocabulary: set[str]) -> list[tuple[int, str]]:
    """(position, name) of every known class name in `text` (longest first, no overlaps)."""
    lowered = text.lower()
    taken = [False] * len(lowered)
    found = []
    for name in sorted(vocabulary, key=len, reverse=True):
        for form in _plural_forms(name.lower()):
            for match in re.finditer(r"\b" + re.escape(form) + r"\b", lowered):
                if any(taken[match.start():match.end()]):
                    continue
                taken[match.start():match.end()] = [True] * (match.end() - match.start())
                found.append((match.start(), name))
    return found


def classes_in(text: str, vocabulary: set[str]) -> list[str]:
    """Known class names mentioned in `text` (longest match first, no overlaps)."""
    return [name for _, name in _class_matches(text, vocabulary)]


def first_class(text: str, vocabulary: set[str]) -> str | None:
    """The known class named first in `text` (a template caption names its focus first)."""
    found = _class_matches(text, vocabulary)
    return min(found)[1] if found else None


def check_text(text: str, facts: Facts, max_words: int, min_words: int = 4) -> list[str]:
    """Problems of one generated text (empty: the text is faithful and well-formed)."""
    problems = []
    words = len(text.split())
    if words < min_words:
        problems.append(f"too_short: {words} words")
    if words > max_words:
        problems.append(f"too_long: {words} words > {max_words}")
    problems += _rule_problems(text)
    for name in sorted(facts.required):  # first: a text about something else is off-topic
        if not names_fact(text, name):
            problems.append(f"missing_facts: {name!r}")
    return problems + check_claims(text, facts)


def _rule_problems(text: str) -> list[str]:
    """The first chatter phrase and the first instruction echo found in `text`, if any."""
    problems = []
    for kind, patterns in (("chatter", CHATTER), ("instruction_echo", INSTRUCTION_ECHO)):
        found = next((m for m in (p.search(text) for p in patterns) if m), None)
        if found:
            problems.append(f"{kind}: {found.group(0)!r}")
    return problems


def _qa_facts(item: dict, classes: set[str], vocabulary: set[str]) -> Facts:
    """What a QA pair may state: the item's classes (absent ones too: a question names them),
    the counts it computed, and its question and answer as wording."""
    counts: dict[str, int] = {}
    names = list(item.get("classes") or [])
    if item.get("answer_number") is not None and len(names) == 1:
        counts[names[0]] = int(item["answer_number"])
    for name, count in zip(names, item.get("counts") or [], strict=False):
        counts[name] = int(count)
    absent = {name for name, count in counts.items() if not count}
    if item.get("answer_bool") is False and item.get("type") == "presence":
        absent |= set(names)
    stated = {value for value, _, _ in numbers_in(f"{item['question']} {item['answer']}")}
    return Facts(stated | {float(c) for c in counts.values()}, set(), set(classes),
                 vocabulary | set(classes), counts=counts, absent=absent,
                 wording=f"{item['question']} {item['answer']}")


def negates(text: str) -> bool:
    """Whether a question or sentence is negative ("free of any road", "no roads", "not",
    "different from": the negation of "equal to")."""
    return NEGATION.search(text) is not None


NEGATION = re.compile(r"\b(?:no|not|without|free of|none|lacks?|lacking|absent|missing|devoid of"
                      r"|empty of|differs?|different|unequal)\b|n't\b", re.IGNORECASE)


def check_qa_item(item: dict, question: str, answer: str, vocabulary: set[str],
                  max_words: int) -> list[str]:
    """Problems of a reworded question-answer pair against the computed item.

    The question may name only the item's classes and the original question's numbers; the
    answer must state the computed answer: yes/no first for yes/no answers (flipped when the
    reworded question is negative and the original is not: "Is it free of roads? | Yes"
    states there is no road), exactly the count for numeric answers, the answer's words
    otherwise; every claim of question and answer is checked (text.claims).
    """
    problems = _rule_problems(question) + _rule_problems(answer)
    if not question.rstrip().endswith("?"):
        problems.append("question_without_question_mark")
    for text in (question, answer):
        if len(text.split()) > max_words:
            problems.append(f"too_long: {len(text.split())} words > {max_words}")
    original = str(item["question"])
    classes = set(item.get("classes") or classes_in(original, vocabulary))
    facts = _qa_facts(item, classes, vocabulary)
    asked = Facts(facts.numbers, set(), facts.classes, facts.vocabulary,
                  absent=set(facts.classes), wording=facts.wording)
    allowed = {value for value, _, _ in numbers_in(original)}
    for value, _, written in numbers_in(question):
        if value not in allowed:
            problems.append(f"number_not_in_question: {written!r}")
    problems += _answer_problems(item, question, answer)
    problems += [p for p in check_claims(question, asked) if not p.startswith("number_")]
    problems += check_claims(answer, facts)
    return list(dict.fromkeys(problems))


def _answer_problems(item: dict, question: str, answer: str) -> list[str]:
    """Whether the answer states the computed answer (yes/no, count or text)."""
    expected = item["answer"]  # text; the typed value in answer_number / answer_bool
    first = re.sub(r"[^a-z]", "", (answer.split() or [""])[0].lower())
    if item.get("answer_number") is not None:
        expected = item["answer_number"]
        stated = {value for value, _, _ in numbers_in(answer)}
        if float(expected) == 0 and not stated and re.search(r"\b(no|none|zero)\b", answer,
                                                             re.IGNORECASE):
            return []  # "There are no ..." states a count of 0
        if stated != {float(expected)}:
            return [f"answer_not_the_count: {sorted(stated)} != {expected}"]
        return []
    if item.get("answer_bool") is not None:
        flipped = negates(question) != negates(str(item["question"]))
        said = "yes" if item["answer_bool"] != flipped else "no"
        return [] if first == said else [f"answer_not_{said}"]
    problems = []
    if expected.lower() not in answer.lower():
        problems.append(f"answer_missing: {expected!r}")
    wanted = {value for value, _, _ in numbers_in(expected)}
    for value, _, written in numbers_in(answer):
        if value not in wanted:
            problems.append(f"number_not_in_answer: {written!r}")
    return problems


BOX = re.compile(r"\{<[^}]*\}|\[[-\d., ]+\]")


def _boxed_classes(text: str, facts: Facts) -> list[tuple[str, tuple[str, ...]]]:
    """(box, classes of the nearest object named before it in its sentence) of every box."""
    blank = BOX.sub(lambda m: " " * len(m.group(0)), text)
    found = mentions(digits(blank), facts)
    pairs = []
    for box in BOX.finditer(text):
        sentence_start = max(blank.rfind(".", 0, box.start()), blank.rfind("?", 0, box.start()))
        before = [m for m in found if sentence_start < m.start and m.end <= box.start()]
        pairs.append((box.group(0), before[-1].classes if before else ()))
    return pairs


def check_turn(original: str, text: str, vocabulary: set[str], max_words: int) -> list[str]:
    """Problems of a reworded conversation turn: the same boxes, copied exactly and in order,
    each after the same object; the same classes (all of them, no other; synonyms allowed);
    the same negations, positions and sizes; no new numbers; a question stays a question."""
    problems = _rule_problems(text)
    if BOX.findall(text) != BOX.findall(original):
        problems.append("boxes_changed")
    plain, plain_original = BOX.sub(" ", text), BOX.sub(" ", original)
    if len(plain.split()) > max_words:
        problems.append(f"too_long: {len(plain.split())} words > {max_words}")
    wanted = set(classes_in(plain_original, set(vocabulary) | known_names() | object_nouns()))
    facts = Facts(classes=wanted, vocabulary=set(vocabulary), wording=plain_original)
    named = mentions(digits(plain), facts)
    problems += [p for p in check_claims(plain, facts) if not p.startswith(
        ("number_", "negated_present"))]
    for name in sorted(wanted):
        if not any(name in m.classes for m in named):
            problems.append(f"class_missing: {name!r}")
    said_not = {c for m in named if m.negated for c in m.classes}
    meant_not = {c for m in mentions(digits(plain_original), facts) if m.negated
                 for c in m.classes}
    for name in sorted(said_not ^ meant_not):
        problems.append(f"negation_changed: {name!r}")
    if [c for _, c in _boxed_classes(text, facts)] != [
            c for _, c in _boxed_classes(original, facts)]:
        problems.append("boxes_swapped")
    if place_words(plain) != place_words(plain_original):
        problems.append("position_or_size_changed")
    allowed = {value for value, _, _ in numbers_in(plain_original)}
    for value, _, written in numbers_in(plain):
        if value not in allowed:
            problems.append(f"number_not_in_turn: {written!r}")
    if original.rstrip().endswith("?") and not text.rstrip().endswith("?"):
        problems.append("question_without_question_mark")
    return list(dict.fromkeys(problems))

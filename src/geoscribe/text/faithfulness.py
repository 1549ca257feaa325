"""Checks that a generated text does not contradict the facts it was written from.

A text fails when it: is chatter ("As an AI", "Sure, here is"), echoes instructions, is too
short or too long, states a number that is not one of the facts' numbers (digits or number
words; percentages within 1 point, other numbers within 2 %), names a known class that is
not among the facts' classes, or leaves out a required fact (the focus/dominant class: named
by its phrase or its head noun, singular or plural, so "HACKED HACKED HACKED HACKED" fails).
"""

from __future__ import annotations

import re

from geoscribe.text.claims import Facts, check_claims
from geoscribe.text.templates import plural
from geoscribe.text.vocabulary import names_of

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
NUMBER_WORDS = {
    "zero": 0, "no": None, "one": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "hundred": 100, "dozen": 12, "couple of": 2, "pair of": 2,
}
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(%|percent\b|per cent\b)?",
                     re.IGNORECASE)
_WORD = re.compile(r"\b(" + "|".join(sorted((w for w, v in NUMBER_WORDS.items()
                                             if v is not None), key=len, reverse=True))
                   + r")\b(\s*(?:%|percent|per cent))?", re.IGNORECASE)


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
    """(value, is_percentage, as written) of every number in `text`, digits and words."""
    found = []
    for match in _NUMBER.finditer(text):
        value = float(match.group(1).replace(",", ""))
        found.append((value, bool(match.group(2)), match.group(0).strip()))
    for match in _WORD.finditer(text):
        word = match.group(1).lower()
        found.append((float(NUMBER_WORDS[word]), bool(match.group(2)), match.group(0).strip()))
    return found


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


def check_qa_item(item: dict, question: str, answer: str, vocabulary: set[str],
                  max_words: int) -> list[str]:
    """Problems of a reworded question-answer pair against the computed item.

    The question may name only the item's classes and the original question's numbers; the
    answer must state the computed answer: yes/no first for yes/no answers, exactly the count
    (every number in it equal to the count) for numeric answers, the answer's words otherwise.
    """
    problems = _rule_problems(question) + _rule_problems(answer)
    if not question.rstrip().endswith("?"):
        problems.append("question_without_question_mark")
    for text in (question, answer):
        if len(text.split()) > max_words:
            problems.append(f"too_long: {len(text.split())} words > {max_words}")
    original = str(item["question"])
    classes = set(item.get("classes") or classes_in(original, vocabulary))
    for text in (question, answer):
        for name in classes_in(text, vocabulary):
            if not _is_present(name, classes):
                problems.append(f"class_not_present: {name!r}")
    allowed = {value for value, _, _ in numbers_in(original)}
    for value, _, written in numbers_in(question):
        if value not in allowed:
            problems.append(f"number_not_in_question: {written!r}")
    expected = item["answer"]  # text; the typed value in answer_number / answer_bool
    first = re.sub(r"[^a-z]", "", (answer.split() or [""])[0].lower())
    if item.get("answer_number") is not None:
        expected = item["answer_number"]
        stated = {value for value, _, _ in numbers_in(answer)}
        if float(expected) == 0 and not stated and re.search(r"\b(no|none|zero)\b", answer,
                                                             re.IGNORECASE):
            return problems  # "There are no ..." states a count of 0
        if stated != {float(expected)}:
            problems.append(f"answer_not_the_count: {sorted(stated)} != {expected}")
    elif item.get("answer_bool") is not None:
        said = "yes" if item["answer_bool"] else "no"
        if first != said:
            problems.append(f"answer_not_{said}")
    else:
        if expected.lower() not in answer.lower():
            problems.append(f"answer_missing: {expected!r}")
        wanted = {value for value, _, _ in numbers_in(expected)}
        for value, _, written in numbers_in(answer):
            if value not in wanted:
                problems.append(f"number_not_in_answer: {written!r}")
    return problems


BOX = re.compile(r"\{<[^}]*\}|\[[-\d., ]+\]")
PLACE_WORDS = ("top left", "top right", "bottom left", "bottom right", "top", "bottom", "left",
               "right", "centre", "small", "medium", "large")


def _place_words(text: str) -> set[str]:
    lowered, found = text.lower(), set()
    for word in PLACE_WORDS:  # longest first: "top left" before "top"
        if re.search(rf"\b{word}\b", lowered):
            found.add(word)
            lowered = re.sub(rf"\b{word}\b", " ", lowered)
    return found


def check_turn(original: str, text: str, vocabulary: set[str], max_words: int) -> list[str]:
    """Problems of a reworded conversation turn: the same boxes, copied exactly and in order;
    the same classes (all of them, no other); the same position and size words; no new
    numbers; a question stays a question."""
    problems = _rule_problems(text)
    if BOX.findall(text) != BOX.findall(original):
        problems.append("boxes_changed")
    plain, plain_original = BOX.sub(" ", text), BOX.sub(" ", original)
    if len(plain.split()) > max_words:
        problems.append(f"too_long: {len(plain.split())} words > {max_words}")
    wanted = set(classes_in(plain_original, vocabulary))
    named = set(classes_in(plain, vocabulary))
    for name in sorted(named):
        if not _is_present(name, wanted):
            problems.append(f"class_not_present: {name!r}")
    for name in sorted(wanted):
        if not any(_is_present(n, {name}) for n in named):
            problems.append(f"class_missing: {name!r}")
    if _place_words(plain) != _place_words(plain_original):
        problems.append("position_or_size_changed")
    allowed = {value for value, _, _ in numbers_in(plain_original)}
    for value, _, written in numbers_in(plain):
        if value not in allowed:
            problems.append(f"number_not_in_turn: {written!r}")
    if original.rstrip().endswith("?") and not text.rstrip().endswith("?"):
        problems.append("question_without_question_mark")
    return problems

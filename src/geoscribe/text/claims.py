"""Claims of a text checked one by one against facts (issue 13).

A text is split into sentences and clauses; mentions of objects are found (the facts' class
phrases, their synonyms and hypernyms, other known class phrases and the object nouns of
remote-sensing captions: prompts/vocabulary.yaml); numbers (words too), units, positions,
orientations, sizes, shapes, cut-by-edge and negation words are bound to the mention they
modify, and each claim is checked: a count against that class's count, a share against that
class's share (in the region the clause names), a size against that object's, a position
against that object's, a negated mention against presence. A claim tied to no fact (an object
noun not in the facts, an invented attribute, a sentence about nothing in the facts) is
unverifiable. Problems come in text order, each quoting its claim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from geoscribe.text.claim_words import (
    ABSENT_AFTER,
    AXES,
    BRIDGE,
    CELLS,
    CLAUSE,
    EDGE,
    LISTED,
    MOSTLY,
    NEGATOR,
    ONE_ITEM,
    ORIENTATION,
    POSITION,
    SENTENCE,
    SHAPE,
    SHAPES,
    SHARE_PHRASE,
    SIZE,
    SIZES,
    WORD,
    positions_in,
    size_word,
)
from geoscribe.text.numbers import UNITS, Quantity, digits, quantities, same_value
from geoscribe.text.templates import plural, singular
from geoscribe.text.vocabulary import (
    attribute_pattern,
    forms,
    known_names,
    names_of,
    neutral_words,
    object_nouns,
)


@dataclass
class Facts:
    """What a text may say.

    `numbers`/`percentages`: stated numbers (the fallback for a number tied to no fact);
    `classes`: the classes present; `vocabulary`: every class name the checker knows (a known
    name that is not present is a contradiction); `required`: classes a text must name;
    `counts`: class -> count; `shares`: class -> percent of the tile; `regions`: region ->
    class -> percent; `objects`: dicts with kind, position, orientation, shape, size,
    area_m2, length_m, clipped; `wording`: text of the facts whose words a text may copy
    ("a gabled roof").
    """

    numbers: set[float] = field(default_factory=set)
    percentages: set[float] = field(default_factory=set)
    classes: set[str] = field(default_factory=set)
    vocabulary: set[str] = field(default_factory=set)
    required: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    shares: dict[str, float] = field(default_factory=dict)
    regions: dict[str, dict[str, float]] = field(default_factory=dict)
    objects: list[dict] = field(default_factory=list)
    wording: str = ""
    absent: set[str] = field(default_factory=set)  # named classes known absent (QA: count 0)

    def allows_number(self, value: float, percent: bool) -> bool:
        if percent:
            return any(abs(value - p) <= 1.0 for p in self.percentages)
        return any(abs(value - n) <= max(0.02 * abs(n), 0.5) for n in self.numbers)


@dataclass(frozen=True)
class Mention:
    """An object named in a text: where, as written, and the present classes it names."""

    start: int
    end: int
    written: str
    classes: tuple[str, ...]  # present classes it can name; empty: an absent object
    term: str  # the vocabulary term matched
    negated: bool = False




@lru_cache(maxsize=256)
def _lexicon(classes: frozenset[str], vocabulary: frozenset[str]) -> tuple[re.Pattern, dict]:
    """A regex of every term's forms (longest first) and form -> (term, present classes)."""
    named: dict[str, set[str]] = {}
    for name in sorted(classes):
        for alias in names_of(name):
            named.setdefault(alias, set()).add(name)
    terms = set(named) | set(vocabulary) | known_names() | object_nouns()
    table: dict[str, tuple[str, tuple[str, ...]]] = {}
    # terms naming a present class first, a class's own phrase before an alias: "trees" of a
    # tile with trees names them, though "trees" is also a synonym of "tree cover"
    for term in sorted(terms, key=lambda t: (t not in named, t not in classes, -len(t), t)):
        for form in forms(term):
            table.setdefault(form, (term, tuple(sorted(named.get(term, ())))))
    pattern = re.compile(r"(?<![\w-])(" + "|".join(
        re.escape(f) for f in sorted(table, key=lambda f: (-len(f), f))) + r")(?![\w-])",
        re.IGNORECASE)
    return pattern, table


def _negated(text: str, start: int, end: int, clause_start: int) -> bool:
    """Whether the mention at start:end is negated: a negator before it in its clause with
    only articles and other mentions' joiners between, or "is absent/missing" after it."""
    before = text[clause_start:start]
    for match in reversed(list(NEGATOR.finditer(before))):
        if BRIDGE.match(_strip_mentions(before[match.end():])):
            return True
    return bool(ABSENT_AFTER.match(text[end:end + 30]))


def _strip_mentions(text: str) -> str:
    """Text between a negator and a mention, with adjectives and nouns of a list dropped
    ("no roads or houses": the "roads or" part); only words of a list remain."""
    return re.sub(r"\b[a-z-]+(?:\s+(?:or|nor|and)\b|,)", " ", text, flags=re.IGNORECASE)


def mentions(text: str, facts: Facts) -> list[Mention]:
    """Every object named in `text` (digits already normalised), in order."""
    pattern, table = _lexicon(frozenset(facts.classes), frozenset(facts.vocabulary))
    found = []
    for sentence in SENTENCE.finditer(text):
        for clause in CLAUSE.finditer(sentence.group(0)):
            base = sentence.start() + clause.start()
            for match in pattern.finditer(clause.group(0)):
                start, end = base + match.start(), base + match.end()
                term, classes = table[match.group(1).lower()]
                found.append(Mention(start, end, match.group(1), classes, term,
                                     _negated(text, start, end, base)))
    return found


def _clauses(text: str) -> list[tuple[int, int, int, int]]:
    """(clause start, clause end, sentence start, sentence end) of every clause."""
    spans = []
    for sentence in SENTENCE.finditer(text):
        for clause in CLAUSE.finditer(sentence.group(0)):
            spans.append((sentence.start() + clause.start(), sentence.start() + clause.end(),
                          sentence.start(), sentence.end()))
    return spans


def _bind(text: str, start: int, end: int, objects: list[Mention], spans,
          prefer: str) -> Mention | None:
    """The mention a word at start:end modifies: the nearest before it in its clause (or,
    with prefer="after", the first after it within three words), else the nearest in its
    sentence."""
    clause = next((s for s in spans if s[0] <= start < s[1]), None)
    if clause is None:
        return None
    after = [m for m in objects if m.start >= end and m.start < clause[3]]
    before = [m for m in objects if clause[0] <= m.start and m.end <= start]
    close = [m for m in after if m.start < clause[1] and
             len(WORD.findall(text[end:m.start])) <= 3]
    if prefer == "after" and close:
        return close[0]
    if before:
        return before[-1]
    if close:
        return close[0]
    earlier = [m for m in objects if clause[2] <= m.start and m.end <= start]
    return earlier[-1] if earlier else (after[0] if after else None)


def _claim(match: re.Match, target: Mention | None) -> str:
    """A word and the mention it is bound to, in text order ("small house", "road
    north-south")."""
    word = match.group(0).strip()
    if target is None:
        return word
    return f"{word} {target.written}" if match.start() < target.start else (
        f"{target.written} {word}")


class _Checker:
    """The claims of one text against one Facts (problems in text order)."""

    def __init__(self, text: str, facts: Facts) -> None:
        self.text = digits(text)
        self.facts = facts
        self.spans = _clauses(self.text)
        self.mentions = mentions(self.text, facts)
        self.wording = facts.wording.lower()
        self.objects = [m for m in self.mentions if m.classes or not self._copied(m.written)]
        self.problems: list[tuple[int, str]] = []

    def _copied(self, phrase: str) -> bool:
        return bool(self.wording) and re.search(
            r"\b" + re.escape(phrase.lower()) + r"\b", self.wording) is not None

    def _copied_value(self, pattern: re.Pattern, table: dict, value: str) -> bool:
        """Whether the facts' wording states the same position/size/shape word (in any of
        its spellings: "upper left" for "top left")."""
        found = positions_in(self.wording) if pattern is POSITION else pattern.finditer(
            self.wording)
        return any(table[m.group(1).lower()] == value for m in found)

    def add(self, at: int, problem: str) -> None:
        self.problems.append((at, problem))

    def run(self) -> list[str]:
        masked = self._check_numbers()
        self._check_articles()
        self._check_mentions()
        self._check_words(masked)
        self._check_sentences()
        ordered = [p for _, p in sorted(self.problems, key=lambda p: p[0])]
        return list(dict.fromkeys(ordered))

    def _kinds(self, mention: Mention) -> list[dict]:
        return [o for o in self.facts.objects if o.get("kind") in mention.classes]

    def _check_mentions(self) -> None:
        for m in self.objects:
            if m.negated and m.classes and not set(m.classes) <= self.facts.absent:
                self.add(m.start, f"negated_present: {m.written!r}")
            elif not m.classes and not m.negated and not self._copied(m.written):
                if m.term in self.facts.vocabulary or m.term in known_names():
                    self.add(m.start, f"class_not_present: {m.term!r}")
                else:
                    self.add(m.start, f"unverifiable: {m.written.lower()!r}")

    def _region(self, at: int) -> str | None:
        """The region (chatearthnet quadrant or centre) its clause names, if the facts have
        regions."""
        clause = next((s for s in self.spans if s[0] <= at < s[1]), None)
        if clause is None or not self.facts.regions:
            return None
        for match in positions_in(self.text[clause[2]:clause[3]]):
            cell = CELLS[match.group(1).lower()]
            if cell in self.facts.regions:
                return cell
        return None

    def _check_numbers(self) -> list[tuple[int, int]]:
        masked = []
        for q in quantities(self.text):
            masked.append((q.start, q.end))
            if q.kind == "count":
                self._check_count(q)
            elif q.kind == "percent":
                self._check_share(q)
            else:
                self._check_measure(q)
        return masked

    def _check_articles(self) -> None:
        """A list item counted by its article ("also visible: ..., a tree") against that
        class's count, where the facts count objects and list none one by one (a template
        caption's list); the focus class may be "a" whatever its count."""
        if self.facts.objects or not self.facts.counts:
            return
        for match in ONE_ITEM.finditer(self.text):
            target = next((m for m in self.objects if m.start == match.start(2)), None)
            if target is None or set(target.classes) & self.facts.required:
                continue
            known = {self.facts.counts[c] for c in (target.term, *target.classes)
                     if c in self.facts.counts}
            if known and 1 not in known:
                claim = self.text[match.start(1):target.end]
                self.add(match.start(1), f"number_not_in_facts: {claim!r}")

    def _check_count(self, q: Quantity) -> None:
        target = _bind(self.text, q.start, q.end, self.objects, self.spans, "after")
        counted = target is not None and target.start >= q.end and len(
            WORD.findall(self.text[q.end:target.start])) <= 3
        if not counted:
            if q.value != 1 and not self.facts.allows_number(q.value, False):
                self.add(q.start, f"number_not_in_facts: {q.written!r}")
            return
        if q.value == 1 and set(target.classes) & self.facts.required:
            return  # "of one road crossing": the focus object, one of its class
        known = [c for c in target.classes if c in self.facts.counts]
        claim = self.text[q.start:target.end]
        if target.term in self.facts.counts:
            allowed = {self.facts.counts[target.term]}
        elif known and len(known) == len(target.classes):
            allowed = {self.facts.counts[c] for c in known} | {
                sum(self.facts.counts[c] for c in known)}
        else:
            allowed = None
        listed = sum(1 for o in self.facts.objects if o.get("kind") == target.term)
        if listed and allowed is not None:
            allowed.add(listed)  # the objects the facts list ("two buildings" of three)
        if allowed is None:
            if q.value != 1 and not self.facts.allows_number(q.value, False):
                self.add(q.start, f"number_not_in_facts: {q.written!r}")
        elif not any(abs(q.value - a) < 0.5 for a in allowed):
            self.add(q.start, f"number_not_in_facts: {claim!r}")

    def _check_share(self, q: Quantity) -> None:
        target = _bind(self.text, q.start, q.end, self.objects, self.spans, "before")
        region = self._region(q.start)
        table = self.facts.regions.get(region) if region else self.facts.shares
        if target is None or not table or not target.classes:
            if not self.facts.allows_number(q.value, True):
                self.add(q.start, f"number_not_in_facts: {q.written!r}")
            return
        values = [table.get(c, 0.0) for c in target.classes]
        if not any(same_value(q.value, v, "percent") for v in values + [sum(values)]):
            where = f" in the {region}" if region else ""
            self.add(q.start, f"number_not_in_facts: '{target.written} {q.written}{where}'")

    def _check_measure(self, q: Quantity) -> None:
        key = "area_m2" if q.kind == "area" else "length_m"
        target = _bind(self.text, q.start, q.end, self.objects, self.spans, "before")
        values = [o[key] for o in self._kinds(target) if o.get(key) is not None] if target \
            else []
        if not values:
            values = [v.value for v in quantities(digits(self.wording)) if v.kind == q.kind]
        if not values and not self.facts.objects:  # no measures known: the stated numbers
            values = sorted(self.facts.numbers - self.facts.percentages)
        if not any(same_value(q.value, v, q.kind) for v in values):
            claim = f"{target.written} {q.written}" if target else q.written
            self.add(q.start, f"wrong_measure: {claim!r}")

    def _check_words(self, masked: list[tuple[int, int]]) -> None:
        text = self.text
        for start, end in masked + [(m.start, m.end) for m in self.mentions]:
            text = text[:start] + " " * (end - start) + text[end:]
        for match in ORIENTATION.finditer(text):
            self._check_orientation(match)
            text = text[:match.start()] + " " * (match.end() - match.start()) + text[match.end():]
        for match in EDGE.finditer(text):
            self._check_attribute(match, "clipped", True, "wrong_edge")
        text = SHARE_PHRASE.sub(lambda m: " " * len(m.group(0)), text)
        for match in SIZE.finditer(text):
            self._check_attribute(match, "size", SIZES[match.group(1).lower()], "wrong_size")
        for match in SHAPE.finditer(text):
            self._check_attribute(match, "shape", SHAPES[match.group(1).lower()], "wrong_shape")
        for match in positions_in(text):
            self._check_position(match)
        for match in MOSTLY.finditer(text):
            self._check_mostly(match)
        for match in attribute_pattern().finditer(text):
            if not self._copied(match.group(1)):
                word = self.text[match.start():match.end(1)]
                after = re.match(r"\s+[a-z]+", self.text[match.end(1):], re.IGNORECASE)
                claim = word + (after.group(0) if after else "")
                self.add(match.start(), f"unverifiable: {claim.lower()!r}")

    def _check_orientation(self, match: re.Match) -> None:
        if match.group(3):
            word = match.group(3).lower()
            stated = ({"northeast-southwest", "northwest-southeast"} if word.startswith("diag")
                      else {"north-south"} if word.startswith("vert") else {"east-west"})
        else:
            pair = frozenset(re.sub(r"[- ]", "", g.lower()) for g in match.group(1, 2))
            stated = {AXES.get(pair, "?")}
        self._check_attribute(match, "orientation", stated, "wrong_orientation")

    def _check_attribute(self, match: re.Match, key: str, stated, problem: str) -> None:
        """A word about one object (size, shape, orientation, cut by the edge) against the
        objects its mention names; with no such facts, only words copied from the facts."""
        target = _bind(self.text, match.start(), match.end(), self.objects, self.spans, "after")
        objects = self._kinds(target) if target else []
        wanted = stated if isinstance(stated, set) else {stated}
        facts = [o for o in objects if o.get(key) is not None]
        if key == "size":
            facts = [o for o in objects if o.get("size") or o.get("area_m2") is not None]
            values = {o.get("size") or size_word(o.get("area_m2")) for o in facts}
        else:
            values = {o.get(key) for o in facts}
        if facts and values & wanted:
            return
        copied = self._copied(match.group(0)) or (
            key == "size" and self._copied_value(SIZE, SIZES, next(iter(wanted)))) or (
            key == "shape" and self._copied_value(SHAPE, SHAPES, next(iter(wanted))))
        if not facts and (copied or (key == "size" and not self.facts.objects)):
            return
        what = _claim(match, target)
        kind = problem if facts or self.facts.objects else "unverifiable"
        self.add(match.start(), f"{kind}: {what.lower()!r}")

    def _check_position(self, match: re.Match) -> None:
        cell = CELLS[match.group(1).lower()]
        target = _bind(self.text, match.start(), match.end(), self.objects, self.spans, "before")
        if self.facts.regions and target is not None and target.classes:
            places = {r for r, values in self.facts.regions.items()
                      if any(values.get(c, 0) >= 1 for c in target.classes)}
        else:
            places = {o.get("position") for o in self._kinds(target)} if target else set()
            places.discard(None)
        if places and any(cell == p or cell in p.split() for p in places):
            return
        if not places and self._copied_value(POSITION, CELLS, cell):
            return
        what = _claim(match, target)
        kind = "wrong_position" if places else "unverifiable"
        self.add(match.start(), f"{kind}: {what.lower()!r}")

    def _check_mostly(self, match: re.Match) -> None:
        target = _bind(self.text, match.start(), match.end(), self.objects, self.spans, "after")
        region = self._region(match.start())
        table = self.facts.regions.get(region) if region else self.facts.shares
        if target is None or not table or not target.classes:
            return
        share = sum(table.get(c, 0.0) for c in target.classes)
        if share < 50 and share < max(table.values()):
            self.add(match.start(), f"wrong_share: '{match.group(0)} {target.written}'")

    def _check_sentences(self) -> None:
        """A sentence naming no object but stating something is unverifiable."""
        for sentence in SENTENCE.finditer(self.text):
            inside = [m for m in self.mentions if sentence.start() <= m.start < sentence.end()]
            words = [w.lower() for w in WORD.findall(sentence.group(0))]
            content = [w for w in words if w not in neutral_words()
                       and not self._copied(w)]
            if not inside and content:
                self.add(sentence.start(), f"unverifiable: {sentence.group(0).strip()[:80]!r}")


def place_words(text: str) -> set[str]:
    """The positions (canonical 3x3 cells: "upper left" -> "top left") and size words
    ("big" -> "large") of a text."""
    masked = SHARE_PHRASE.sub(" ", ORIENTATION.sub(" ", text))
    found = {CELLS[m.group(1).lower()] for m in positions_in(masked)}
    return found | {SIZES[m.group(1).lower()] for m in SIZE.finditer(masked)}


def check_claims(text: str, facts: Facts) -> list[str]:
    """Problems of the claims in `text` against `facts`, in text order, each quoting its
    claim (empty: every claim is tied to a fact and agrees with it)."""
    return _Checker(text, facts).run()




def listed_counts(text: str) -> dict[str, int]:
    """phrase (singular) -> count of the items of a template caption's list ("also visible:
    12 trees, 10 company offices and a park" -> tree 12, company office 10, park 1), whatever
    the phrases: a class the vocabulary does not know is still counted by its own phrase."""
    counts: dict[str, int] = {}
    for match in LISTED.finditer(text):
        number, phrase = match.group(1).lower(), match.group(2).lower()
        if phrase.split()[0] in UNITS:
            continue
        counts.setdefault(_singular(phrase), 1 if number in ("a", "an") else int(number))
    return counts


def _singular(phrase: str) -> str:
    """templates.singular, or the phrase less its -s where that is the plural it states
    ("commercial areas")."""
    found = singular(phrase)
    if found == phrase and phrase.endswith("s") and plural(phrase[:-1]) == phrase:
        return phrase[:-1]
    return found


def counts_stated(text: str, facts: Facts) -> dict[str, int]:
    """class -> count of the counts a (template) text states in digits ("3 buildings")."""
    checker = _Checker(text, facts)
    counts: dict[str, int] = {}
    for q in quantities(checker.text):
        target = _bind(checker.text, q.start, q.end, checker.objects, checker.spans, "after")
        if q.kind == "count" and target is not None and target.start >= q.end and len(
                WORD.findall(checker.text[q.end:target.start])) <= 3:
            counts.setdefault(target.term, int(q.value))
    return counts

"""A seeded adversarial OpenAI-compatible responder for the faithfulness benchmark (issue 13).

`Adversary` answers each geoscribe request (parsed from the prompt's DATA block, like
`llm_fake.faithful_reply`) with a JSON reply whose every judged text has a *kind*: a faithful
paraphrase (reworded, reordered, synonyms/hypernyms, numbers as words, exact unit conversions)
or one unfaithful error (wrong position, orientation or size word, a negated present class,
numbers swapped between classes, a count moved to another class, a percent given as another
unit, a wrong number word beyond fifty, an absent object noun, an invented attribute, an extra
sentence about something absent, classes swapped between boxes, "It is not a <class>", a wrong
numeral, a flipped or negated QA answer, a moved box, an absent class of the class list).

The judged texts of a reply are independent: the caption is an *anchor* (the plain faithful
caption, or the template caption verbatim) so that the record is kept and its rewrites, QA
pairs and turns are each checked on their own; each of those gets its own kind. A kind is only
used where the facts allow it (no orientation error without an orientation fact). Every reply
is logged (JSON lines) with its task, the recipe the caller set, and per text: role, index,
kind, faithful (the ground truth), the text, and what was changed.

    adversary = Adversary(seed=0, log=Path("replies.jsonl"))
    server = FakeLLM(responder=adversary)
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import inflect

from llm_fake import faithful_caption, prompt_data

ENGINE = inflect.engine()
POSITIONS = ("top left", "top", "top right", "left", "centre", "right", "bottom left",
             "bottom", "bottom right")
REGIONS = ("top left", "top right", "bottom left", "bottom right", "centre")
ORIENTATIONS = {"north-south": "east-west", "east-west": "north-south",
                "northeast-southwest": "northwest-southeast",
                "northwest-southeast": "northeast-southwest"}
SIZE_WORDS = ("small", "medium", "large")
# faithful renamings: synonyms and hypernyms of class phrases (a compound's head noun is a
# hypernym too: "service road" -> "road", "apartment building" -> "building")
SYNONYMS = {
    "house": ["building", "home"], "building": ["structure"], "tertiary road": ["minor road"],
    "residential road": ["street", "residential street"], "parking lot": ["car park"],
    "parking": ["car park"], "sports pitch": ["sports field"], "pitch": ["sports field"],
    "tree cover": ["forest", "woodland"], "cropland": ["farmland"], "grassland": ["meadow"],
    "shrubland": ["scrubland"], "built-up": ["built-up area", "urban area"],
    "permanent water bodies": ["water", "open water"], "herbaceous wetland": ["wetland"],
    "footpath": ["path", "walkway"],
    "commercial area": ["commercial zone"], "residential area": ["housing area"],
    "apartment building": ["apartment block"], "park": ["public park"],
    "bare / sparse vegetation": ["bare ground"], "grass area": ["lawn"],
}
ABSENT_OBJECTS = ("tennis court", "car wash", "row of solar panels", "clouds", "helipad",
                  "wind turbine", "greenhouse", "construction crane", "boat")
ABSENT_CLASSES = ("water tower", "swimming pool", "wind turbine", "railway", "river",
                  "bridge", "lighthouse", "windmill", "fuel station", "playground")
LAND_COVER = ("tree cover", "shrubland", "grassland", "cropland", "built-up",
              "bare / sparse vegetation", "snow and ice", "permanent water bodies",
              "herbaceous wetland", "mangroves", "moss and lichen")
EXTRA_SENTENCES = ("Several cars are parked along the edge.", "A river flows past the corner.",
                   "The photo was taken on a sunny summer morning.",
                   "A group of people is walking across the scene.",
                   "Smoke rises from a tall chimney.", "A train crosses the scene.")
FRAMES = ("This overhead view shows {}.", "Seen from above, the image contains {}.",
          "The aerial image shows {}.", "Visible from above: {}.",
          "In this satellite image there is {}.", "The scene from above holds {}.")

FAITHFUL = ("reword", "reorder", "synonym", "number_words", "unit_conversion")
UNFAITHFUL = ("wrong_position", "wrong_orientation", "wrong_size_word", "negation",
              "qa_negated_question", "numbers_swapped", "count_moved", "percent_as_unit",
              "big_number_word", "absent_object", "invented_attribute", "extra_sentence",
              "classes_swapped", "not_a_class", "wrong_numeral", "qa_flipped", "moved_box",
              "absent_class")
# how often a kind is tried first, against how rarely the facts allow it (so that every kind
# gets enough texts): a weighted shuffle of the applicable kinds
WEIGHTS = {"classes_swapped": 20, "not_a_class": 6, "wrong_size_word": 6, "wrong_orientation": 6,
           "qa_negated_question": 2, "count_moved": 2, "numbers_swapped": 2, "percent_as_unit": 2,
           "unit_conversion": 3, "reorder": 2, "synonym": 2, "number_words": 2, "reword": 0.5}
ANCHOR = "anchor"  # the reply's caption: plain faithful caption / template caption verbatim


class NotApplicable(Exception):
    """The facts do not allow this kind for this text."""


@lru_cache(maxsize=4096)
def words(value: float) -> str:
    """A whole number in English words, no commas: 1282 -> 'one thousand two hundred
    eighty-two'."""
    return ENGINE.number_to_words(int(value), andword="").replace(",", "")


def decimal_text(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 0.1282, 1.5, 3."""
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@lru_cache(maxsize=4096)
def with_article(phrase: str) -> str:
    return ENGINE.a(phrase)


@lru_cache(maxsize=4096)
def plural(phrase: str) -> str:
    """The plural of a phrase (a phrase already plural is kept: 'clouds', 'water bodies')."""
    single = ENGINE.singular_noun(phrase)
    return phrase if single and single != phrase else ENGINE.plural_noun(phrase)


def synonym(name: str, rng: random.Random) -> str | None:
    """A faithful other name (synonym/hypernym) of a class phrase, or None."""
    if name in SYNONYMS:
        return rng.choice(SYNONYMS[name])
    head = name.split()[-1] if " " in name and "/" not in name else None
    return head if head and head not in ("area", "of", "and") else None


def wrong_number(value: float, taken: set[float], rng: random.Random, low: float = 2) -> int:
    """A whole number far (> 25 %, > 2) from `value` and from every number in `taken`."""
    for _ in range(200):
        candidate = rng.choice([int(value * rng.uniform(1.4, 3.0)) + 3,
                                max(int(value * rng.uniform(0.2, 0.6)), 1) + rng.randint(0, 2),
                                rng.randint(int(low), 97)])
        if all(abs(candidate - n) > max(2, 0.25 * abs(n)) for n in taken | {value}):
            return candidate
    raise NotApplicable("no wrong number")


def big_word_number(taken: set[float], rng: random.Random) -> int:
    """A number 51..99 or a round hundred, away from every fact number (written as words)."""
    choices = [n for n in [*range(51, 100), 200, 300, 400, 600, 700, 800, 900]
               if all(abs(n - t) > max(2, 0.05 * t) for t in taken)]
    if not choices:
        raise NotApplicable("no free number word")
    return rng.choice(choices)


def a_noun(noun: str) -> str:
    """'a tennis court', 'clouds'."""
    return noun if noun == plural(noun) or noun.endswith("clouds") else with_article(noun)


def attribute_for(name: str, facts: str, rng: random.Random) -> str:
    """An attribute the facts do not give, fitting the object: 'three-storey' for a building
    (unless its levels are given), 'freshly paved' for a road, ..."""
    if re.search(r"build|house|home|shop|office|church|school|station|hall", name):
        options = [a for a in ("with a red roof", "three-storey", "with a glass facade")
                   if not ("storey" in a and "level" in facts)
                   and not ("roof" in a and "roof" in facts)]
    elif re.search(r"road|street|path|way|track|lane", name):
        options = ["freshly paved", "with four lanes"]
    else:
        options = ["newly built", "fenced"]
    return rng.choice(options)


def present_text(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False).lower()


def absent_noun(data: dict, rng: random.Random, pool=ABSENT_OBJECTS) -> str:
    """An object noun that nothing in the facts mentions (no word of it in the DATA)."""
    text = present_text(data)
    free = [n for n in pool
            if not any(re.search(rf"\b{re.escape(w)}", text) for w in n.split() if len(w) > 3)]
    if not free:
        raise NotApplicable("every candidate noun is mentioned")
    return rng.choice(free)


def position_phrase(position: str) -> str:
    if position in ("top", "bottom"):
        return f"at the {position}"
    if position in ("left", "right"):
        return f"on the {position}"
    return f"in the {position}"


def other_position(current: str, taken: set[str], rng: random.Random,
                   pool=POSITIONS) -> str:
    free = [p for p in pool if p != current and p not in taken
            and not (set(p.split()) & set(current.split()))]
    if not free:
        raise NotApplicable("no other position")
    return rng.choice(free)


def join_and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# ---- rsteller-like: objects with kind, position, size, shape/orientation ------------------

class ObjectCaption:
    """Render an rsteller object list in words; the unfaithful kinds edit the object dicts."""

    def __init__(self, data: dict, rng: random.Random) -> None:
        self.data, self.rng = data, rng
        self.objects = [dict(o) for o in data["objects"]]
        self.extra: list[str] = []  # appended sentences
        self.numbers = {float(o[k]) for o in self.objects for k in ("area_m2", "length_m")
                        if k in o}
        self.number_style = "digits"
        self.frame = rng.choice(FRAMES)
        self.detail = ""

    def _measure(self, obj: dict) -> str:
        for key, unit, big_unit, scale in (("area_m2", "m²", "ha", 4), ("length_m", "m", "km", 3)):
            if key not in obj:
                continue
            value = obj[key]
            if isinstance(value, str):  # already written (an unfaithful edit)
                return f"of {value}" if key == "area_m2" else f"{value} long"
            if self.number_style == "words":
                text = f"{words(value)} {'square metres' if unit == 'm²' else 'metres'}"
            elif self.number_style == "convert" and value >= 10 ** (scale - 1):
                text = f"{decimal_text(Decimal(int(value)).scaleb(-scale))} {big_unit}"
            else:
                text = f"{int(value):,} {unit}"
            return f"of {text}" if key == "area_m2" else f"{text} long"
        return ""

    def phrase(self, obj: dict) -> str:
        name = obj.get("name_as", obj["kind"])
        attribute = obj.get("attribute", "")
        head = f"{attribute} {name}" if attribute and not attribute.startswith("with") else name
        parts = [with_article(head)]
        if attribute.startswith("with"):
            parts.append(attribute)
        if obj.get("size_word"):
            parts[0] = with_article(f"{obj['size_word']} {head}")
        parts.append(self._measure(obj))
        if obj.get("orientation"):
            parts.append(f"running {obj['orientation']}")
        if obj.get("position"):
            parts.append(position_phrase(obj["position"]))
        return " ".join(p for p in parts if p)

    def render(self, frame: str = "A satellite image with {}.") -> str:
        text = frame.format(join_and([self.phrase(o) for o in self.objects]))
        return " ".join([text, *self.extra])


def _obj_reword(c: ObjectCaption) -> None:
    c.frame = c.rng.choice(FRAMES)


def _obj_reorder(c: ObjectCaption) -> None:
    if len(c.objects) < 2:
        raise NotApplicable("one object")
    order = list(range(len(c.objects)))
    while order == sorted(order):
        c.rng.shuffle(order)
    c.objects = [c.objects[i] for i in order]


def _obj_synonym(c: ObjectCaption) -> None:
    options = [o for o in c.objects if synonym(o["kind"], c.rng)]
    if not options:
        raise NotApplicable("no synonym")
    obj = c.rng.choice(options)
    obj["name_as"] = synonym(obj["kind"], c.rng)
    c.detail = f"{obj['kind']} -> {obj['name_as']}"


def _obj_number_words(c: ObjectCaption) -> None:
    if not c.numbers:
        raise NotApplicable("no number")
    c.number_style = "words"


def _obj_unit(c: ObjectCaption) -> None:
    if not any(o.get("area_m2", 0) >= 1000 or o.get("length_m", 0) >= 100 for o in c.objects):
        raise NotApplicable("nothing to convert")
    c.number_style = "convert"


def _obj_position(c: ObjectCaption) -> None:
    obj = c.rng.choice([o for o in c.objects if o.get("position")] or [None]) or {}
    if not obj:
        raise NotApplicable("no position")
    same = {o["position"] for o in c.objects if o["kind"] == obj["kind"] and o.get("position")}
    new = other_position(obj["position"], same, c.rng)
    c.detail = f"{obj['kind']}: {obj['position']} -> {new}"
    obj["position"] = new


def _obj_orientation(c: ObjectCaption) -> None:
    options = [o for o in c.objects if o.get("orientation") in ORIENTATIONS]
    if not options:
        raise NotApplicable("no orientation fact")
    obj = c.rng.choice(options)
    c.detail = f"{obj['kind']}: {obj['orientation']} -> {ORIENTATIONS[obj['orientation']]}"
    obj["orientation"] = ORIENTATIONS[obj["orientation"]]


def _obj_size_word(c: ObjectCaption) -> None:
    options = [o for o in c.objects if o.get("size") in SIZE_WORDS]
    if not options:
        raise NotApplicable("no size word fact")
    obj = c.rng.choice(options)
    obj["size_word"] = c.rng.choice([s for s in SIZE_WORDS if s != obj["size"]])
    c.detail = f"{obj['kind']}: {obj['size']} -> {obj['size_word']}"


def _obj_negation(c: ObjectCaption) -> None:
    obj = c.rng.choice(c.objects)
    c.objects = [o for o in c.objects if o["kind"] != obj["kind"]] or c.objects
    c.extra.append(f"There are no {plural(obj['kind'])} in the image.")
    c.detail = obj["kind"]


def _obj_swap(c: ObjectCaption) -> None:
    for key in ("area_m2", "length_m"):
        options = [o for o in c.objects if key in o]
        pairs = [(a, b) for i, a in enumerate(options) for b in options[i + 1:]
                 if a["kind"] != b["kind"]
                 and abs(a[key] - b[key]) > max(2, 0.05 * max(a[key], b[key]))]
        if pairs:
            a, b = c.rng.choice(pairs)
            a[key], b[key] = b[key], a[key]
            c.detail = f"{a['kind']} <-> {b['kind']} ({key})"
            return
    raise NotApplicable("no two classes of different sizes")


def _obj_count_moved(c: ObjectCaption) -> None:
    counts = c.data.get("counts") or c.data.get("object_counts") or {}
    present = {o["kind"] for o in c.objects}
    pairs = [(a, b) for a in counts for b in counts
             if a != b and counts[a] != counts[b] and a in present]
    if not pairs:
        raise NotApplicable("no two class counts")
    a, b = c.rng.choice(pairs)
    c.extra.append(f"There are {counts[b]} {plural(a) if counts[b] != 1 else a} in total.")
    c.detail = f"count of {b} ({counts[b]}) given to {a} ({counts[a]})"


def _obj_wrong_measure(c: ObjectCaption, as_words: bool) -> None:
    """One object's area or length replaced by a number no fact has (in words: over 50)."""
    options = [o for o in c.objects if "area_m2" in o or "length_m" in o]
    if not options:
        raise NotApplicable("no number")
    obj = c.rng.choice(options)
    key = "area_m2" if "area_m2" in obj else "length_m"
    if as_words:
        value = big_word_number(c.numbers, c.rng)
        obj_text = f"{words(value)} {'square metres' if key == 'area_m2' else 'metres'}"
    else:
        value = wrong_number(obj[key], c.numbers, c.rng)
        obj_text = f"{value:,} {'m²' if key == 'area_m2' else 'm'}"
    c.detail = f"{obj['kind']}: {obj[key]} -> {value}"
    obj[key] = obj_text


def _obj_big_word(c: ObjectCaption) -> None:
    _obj_wrong_measure(c, as_words=True)


def _obj_wrong_numeral(c: ObjectCaption) -> None:
    _obj_wrong_measure(c, as_words=False)


def _obj_absent(c: ObjectCaption) -> None:
    noun = absent_noun(c.data, c.rng)
    c.objects.append({"kind": noun, "name_as": noun,
                      "position": c.rng.choice(POSITIONS)})
    c.detail = noun


def _obj_absent_class(c: ObjectCaption) -> None:
    noun = absent_noun(c.data, c.rng, ABSENT_CLASSES)
    c.objects.append({"kind": noun, "position": c.rng.choice(POSITIONS)})
    c.detail = noun


def _obj_attribute(c: ObjectCaption) -> None:
    obj = c.rng.choice(c.objects)
    obj["attribute"] = attribute_for(obj["kind"], present_text(c.data), c.rng)
    c.detail = f"{obj['kind']}: {obj['attribute']}"


def _extra_sentence(c) -> None:
    """Append a sentence about something absent (ObjectCaption and CoverCaption)."""
    sentence = c.rng.choice(EXTRA_SENTENCES)
    c.extra.append(sentence)
    c.detail = sentence


OBJECT_KINDS: dict[str, Callable[[ObjectCaption], None]] = {
    "reword": _obj_reword, "reorder": _obj_reorder, "synonym": _obj_synonym,
    "number_words": _obj_number_words, "unit_conversion": _obj_unit,
    "wrong_position": _obj_position, "wrong_orientation": _obj_orientation,
    "wrong_size_word": _obj_size_word, "negation": _obj_negation,
    "numbers_swapped": _obj_swap, "count_moved": _obj_count_moved,
    "big_number_word": _obj_big_word, "absent_object": _obj_absent,
    "invented_attribute": _obj_attribute, "extra_sentence": _extra_sentence,
    "wrong_numeral": _obj_wrong_numeral, "absent_class": _obj_absent_class,
}


def edited(kinds: dict, make: type, data: dict, kind: str, rng: random.Random):
    """The facts' caption object (`make`) after the edit of `kind` (NotApplicable: none)."""
    if kind not in kinds:
        raise NotApplicable(kind)
    caption = make(data, rng)
    kinds[kind](caption)
    return caption


def object_text(data: dict, kind: str, rng: random.Random) -> tuple[str, str]:
    """(text, what changed) of one kind for rsteller facts."""
    caption = edited(OBJECT_KINDS, ObjectCaption, data, kind, rng)
    return caption.render(caption.frame), caption.detail


# ---- chatearthnet-like: land-cover shares overall and per region --------------------------

class CoverCaption:
    """Render land-cover shares in words; the unfaithful kinds edit the statements."""

    def __init__(self, data: dict, rng: random.Random) -> None:
        self.data, self.rng = data, rng
        overall = sorted(data["overall"].items(), key=lambda kv: -kv[1]["percent"])
        # statements: [name, percent (int or written text), region or None]
        self.overall = [[name, v["percent"], None] for name, v in overall[:4]]
        regions = [r for r in REGIONS if data.get("regions", {}).get(r)]
        picked = rng.sample(regions, min(2, len(regions)))
        self.regional = []
        for region in picked:
            name, pct = max(data["regions"][region].items(), key=lambda kv: kv[1])
            self.regional.append([name, pct, region])
        self.numbers = {float(v["percent"]) for v in data["overall"].values()}
        self.numbers |= {float(p) for r in data.get("regions", {}).values() for p in r.values()}
        self.names: dict[str, str] = {}
        self.style = "digits"
        self.extra: list[str] = []
        self.attribute: dict[str, str] = {}
        self.frame = "The image is covered by {}."
        self.detail = ""

    def share(self, value) -> str:
        if isinstance(value, str):
            return value
        return f"{words(value)} percent" if self.style == "words" else f"{value}%"

    def name(self, cls: str) -> str:
        name = self.names.get(cls, cls)
        return f"{self.attribute[cls]} {name}" if cls in self.attribute else name

    def render(self) -> str:
        parts = [f"{self.name(c)} ({self.share(p)})" for c, p, _ in self.overall]
        text = [self.frame.format(join_and(parts))]
        for cls, pct, region in self.regional:
            text.append(f"In the {region}, the largest class is {self.name(cls)} "
                        f"({self.share(pct)}).")
        return " ".join(text + self.extra)


def _cov_reword(c: CoverCaption) -> None:
    c.frame = c.rng.choice(("Land cover seen from above: {}.", "This image shows {}.",
                            "The scene consists of {}.", "From above, the land is {}."))


def _cov_reorder(c: CoverCaption) -> None:
    if len(c.overall) < 2:
        raise NotApplicable("one class")
    c.overall = c.overall[1:] + c.overall[:1]
    c.regional.reverse()


def _cov_synonym(c: CoverCaption) -> None:
    options = [cls for cls, _, _ in c.overall + c.regional if cls in SYNONYMS]
    if not options:
        raise NotApplicable("no synonym")
    cls = c.rng.choice(options)
    c.names[cls] = c.rng.choice(SYNONYMS[cls])
    c.detail = f"{cls} -> {c.names[cls]}"


def _cov_number_words(c: CoverCaption) -> None:
    c.style = "words"


def _cov_position(c: CoverCaption) -> None:
    for index in c.rng.sample(range(len(c.regional)), len(c.regional)):
        cls, pct, region = c.regional[index]
        wrong = [r for r in REGIONS if r != region and r in c.data.get("regions", {})
                 and abs(c.data["regions"][r].get(cls, 0) - pct) > 2]
        if wrong:
            new = c.rng.choice(wrong)
            c.regional[index] = [cls, pct, new]
            c.detail = f"{cls} {pct}%: {region} -> {new}"
            return
    raise NotApplicable("no region that differs")


def _cov_negation(c: CoverCaption) -> None:
    cls, _, _ = c.rng.choice(c.overall)
    c.overall = [s for s in c.overall if s[0] != cls] or c.overall
    c.regional = [s for s in c.regional if s[0] != cls]
    c.extra.append(f"There is no {c.name(cls)} in the image.")
    c.detail = cls


def _cov_swap(c: CoverCaption) -> None:
    pairs = [(a, b) for i, a in enumerate(c.overall) for b in c.overall[i + 1:]
             if abs(a[1] - b[1]) > 2]
    if not pairs:
        raise NotApplicable("no two different shares")
    a, b = c.rng.choice(pairs)
    a[1], b[1] = b[1], a[1]
    c.detail = f"{a[0]} <-> {b[0]}"


def _cov_unit(c: CoverCaption) -> None:
    statement = c.rng.choice(c.overall)
    unit = c.rng.choice(("hectares", "km²", "square metres", "acres"))
    c.detail = f"{statement[0]}: {statement[1]}% -> {statement[1]} {unit}"
    statement[1] = f"{statement[1]} {unit}"


def _cov_wrong_share(c: CoverCaption, low: int, as_words: bool) -> None:
    """One overall share stated as a percentage (>= `low`) that no fact has, within 2."""
    statement = c.rng.choice(c.overall)
    free = [n for n in range(low, 100) if all(abs(n - t) > 2 for t in c.numbers)]
    if not free:
        raise NotApplicable("no free percentage")
    value = c.rng.choice(free)
    c.detail = f"{statement[0]}: {statement[1]} -> {value}"
    statement[1] = f"{words(value)} percent" if as_words else f"{value}%"


def _cov_big_word(c: CoverCaption) -> None:
    _cov_wrong_share(c, 51, as_words=True)


def _cov_wrong_numeral(c: CoverCaption) -> None:
    _cov_wrong_share(c, 1, as_words=False)


def _cov_absent(c: CoverCaption) -> None:
    noun = absent_noun(c.data, c.rng)
    c.extra.append(f"There {'are' if noun == plural(noun) else 'is'} {a_noun(noun)} in the "
                   f"{c.rng.choice(REGIONS)}.")
    c.detail = noun


def _cov_absent_class(c: CoverCaption) -> None:
    absent = [n for n in LAND_COVER if n not in c.data["overall"]
              and not any(set(n.split()) & set(p.split()) for p in c.data["overall"])]
    if not absent:
        raise NotApplicable("every class present")
    cls = c.rng.choice(absent)
    c.overall.append([cls, c.rng.choice(sorted(int(n) for n in c.numbers)), None])
    c.detail = cls


COVER_ATTRIBUTES = {"cropland": "freshly ploughed", "tree cover": "autumn-coloured",
                    "grassland": "freshly mown", "built-up": "red-roofed",
                    "permanent water bodies": "muddy brown"}


def _cov_attribute(c: CoverCaption) -> None:
    options = [s[0] for s in c.overall if s[0] in COVER_ATTRIBUTES]
    if not options:
        raise NotApplicable("no class with an attribute")
    cls = c.rng.choice(options)
    c.attribute[cls] = COVER_ATTRIBUTES[cls]
    c.detail = f"{cls}: {COVER_ATTRIBUTES[cls]}"


COVER_KINDS: dict[str, Callable[[CoverCaption], None]] = {
    "reword": _cov_reword, "reorder": _cov_reorder, "synonym": _cov_synonym,
    "number_words": _cov_number_words, "wrong_position": _cov_position,
    "negation": _cov_negation, "numbers_swapped": _cov_swap, "percent_as_unit": _cov_unit,
    "big_number_word": _cov_big_word, "absent_object": _cov_absent,
    "invented_attribute": _cov_attribute, "extra_sentence": _extra_sentence,
    "wrong_numeral": _cov_wrong_numeral, "absent_class": _cov_absent_class,
}


def cover_text(data: dict, kind: str, rng: random.Random) -> tuple[str, str]:
    """(text, what changed) of one kind for chatearthnet facts."""
    caption = edited(COVER_KINDS, CoverCaption, data, kind, rng)
    return caption.render(), caption.detail


# ---- rewrite-caption: a template caption given verbatim (skyscript, rsvqa, geochat) -------

POSITION_RE = re.compile(r"\b(?:in|at|on) the (top left|top right|bottom left|bottom right|top|"
                         r"bottom|left|right|centre|center)\b")
SIZE_RE = re.compile(r"\b(small|medium|large)\b")
ORIENTATION_RE = re.compile(r"\b(" + "|".join(ORIENTATIONS) + r")\b")


MENTION_RE = re.compile(r"\b(a|an|one|\d[\d,]*) ([a-z][a-z '/-]*?)(?=,|;|\.|:| and | with |$)")
ATTRIBUTE_CLAUSE = re.compile(r"(?<!image) with [^;.]*")


@lru_cache(maxsize=4096)
def singular(phrase: str) -> str:
    return ENGINE.singular_noun(phrase) or phrase


def mentions(text: str) -> list[dict]:
    """Counted mentions of objects in a template caption ('3 trees', 'a road'; not the
    attributes after 'with'): {start, end, count, name (singular), plural}, in text order."""
    skip = [m.span() for m in ATTRIBUTE_CLAUSE.finditer(text)]
    found = []
    for match in MENTION_RE.finditer(text):
        if any(a <= match.start() < b for a, b in skip):
            continue
        word, phrase = match.group(1).replace(",", ""), match.group(2)
        count = 1 if word in ("a", "an", "one") else int(word)
        name = singular(phrase) if count != 1 else phrase
        found.append({"start": match.start(), "end": match.end(), "count": count,
                      "name": name, "plural": count != 1})
    return found


def counted(count: int | str, name: str, style: str = "digits") -> str:
    if isinstance(count, str):
        return f"{count} {plural(name)}"
    if style == "words":
        return f"{words(count)} {name if count == 1 else plural(name)}"
    return with_article(name) if count == 1 else f"{count} {plural(name)}"


def replace_span(text: str, mention: dict, new: str) -> str:
    return text[:mention["start"]] + new + text[mention["end"]:]


class TextCaption:
    """Edits of a given correct caption, located by its class mentions and its words."""

    def __init__(self, data: dict, rng: random.Random) -> None:
        self.data, self.rng = data, rng
        self.text = data["caption"].strip()
        self.found = mentions(self.text)
        self.counted = self.found
        self.numbers = {float(m["count"]) for m in self.counted}
        self.numbers |= {float(n.replace(",", ""))
                         for n in re.findall(r"\d[\d,]*(?:\.\d+)?", self.text)}
        self.detail = ""

    def sub_mention(self, mention: dict, new: str) -> None:
        self.text = replace_span(self.text, mention, new)

    def append(self, sentence: str) -> None:
        self.text = self.text.rstrip() + ("" if self.text.rstrip().endswith(".") else ".") \
            + " " + sentence


def _reframe(text: str, rng: random.Random) -> str:
    for old in ("A satellite image", "a satellite image"):
        if text.startswith(old):
            new = rng.choice(("An aerial image", "An overhead view", "A view from above",
                              "An image taken from orbit"))
            return new + text[len(old):]
    return "Seen from above: " + text[0].lower() + text[1:]


def _txt_reword(c: TextCaption) -> None:
    c.text = _reframe(c.text, c.rng)


def _txt_reorder(c: TextCaption) -> None:
    pairs = [(a, b) for a, b in zip(c.found, c.found[1:], strict=False)
             if c.text[a["end"]:b["start"]] in (", ", " and ")]
    if not pairs:
        raise NotApplicable("no two listed mentions")
    a, b = c.rng.choice(pairs)
    first, second = c.text[a["start"]:a["end"]], c.text[b["start"]:b["end"]]
    if a["start"] == 0 or c.text[a["start"] - 1] != " ":
        raise NotApplicable("mention starts the text")
    c.text = (c.text[:a["start"]] + second + c.text[a["end"]:b["start"]] + first
              + c.text[b["end"]:])
    c.detail = f"{first} <-> {second}"


def _txt_synonym(c: TextCaption) -> None:
    options = [m for m in c.found if synonym(m["name"], c.rng)]
    if not options:
        raise NotApplicable("no synonym")
    mention = c.rng.choice(options)
    other = synonym(mention["name"], c.rng)
    old = c.text[mention["start"]:mention["end"]]
    new = re.sub(re.escape(plural(mention["name"]) if mention["plural"] else mention["name"])
                 + "$", plural(other) if mention["plural"] else other, old, flags=re.I)
    if mention["count"] == 1 and re.match(r"(?i)an? ", new):
        new = with_article(other)
    c.sub_mention(mention, new)
    c.detail = f"{mention['name']} -> {other}"


def _txt_number_words(c: TextCaption) -> None:
    if not c.counted:
        raise NotApplicable("no count")
    for mention in reversed(c.counted):
        c.sub_mention(mention, counted(mention["count"], mention["name"], "words"))
    c.text = _reframe(c.text, c.rng)


def _txt_unit(c: TextCaption) -> None:
    match = re.search(r"\b(\d[\d,]*) (m²|m)\b", c.text)
    if not match:
        raise NotApplicable("no measure")
    value = int(match.group(1).replace(",", ""))
    scale, unit = (4, "ha") if match.group(2) == "m²" else (3, "km")
    new = f"{decimal_text(Decimal(value).scaleb(-scale))} {unit}"
    c.text = c.text[:match.start()] + new + c.text[match.end():]
    c.detail = f"{match.group(0)} -> {new}"


def _txt_word_edit(c: TextCaption, pattern: re.Pattern, choices: Callable[[str], list[str]]):
    match = next(iter(c.rng.sample(list(pattern.finditer(c.text)),
                                   len(pattern.findall(c.text)))), None)
    if match is None:
        raise NotApplicable(f"no {pattern.pattern[:20]}")
    new = c.rng.choice(choices(match.group(1)))
    c.text = c.text[:match.start(1)] + new + c.text[match.end(1):]
    c.detail = f"{match.group(1)} -> {new}"


def _txt_position(c: TextCaption) -> None:
    _txt_word_edit(c, POSITION_RE, lambda p: [q for q in POSITIONS
                                              if not set(q.split()) & set(p.split())])


def _txt_orientation(c: TextCaption) -> None:
    _txt_word_edit(c, ORIENTATION_RE, lambda o: [ORIENTATIONS[o]])


def _txt_size(c: TextCaption) -> None:
    _txt_word_edit(c, SIZE_RE, lambda s: [w for w in SIZE_WORDS if w != s])


def _txt_negation(c: TextCaption) -> None:
    if not c.found:
        raise NotApplicable("no class mention")
    mention = c.rng.choice(c.found)
    c.append(f"There are no {plural(mention['name'])} in the image.")
    c.detail = mention["name"]


def _count_pairs(c: TextCaption) -> list[tuple[dict, dict]]:
    return [(a, b) for a in c.counted for b in c.counted
            if a["name"] != b["name"] and a["count"] != b["count"]]


def _txt_swap(c: TextCaption) -> None:
    pairs = [(a, b) for a, b in _count_pairs(c) if a["start"] < b["start"]]
    if not pairs:
        raise NotApplicable("no two different counts")
    a, b = c.rng.choice(pairs)
    c.sub_mention(b, counted(a["count"], b["name"]))
    c.sub_mention(a, counted(b["count"], a["name"]))
    c.detail = f"{a['name']} {a['count']} <-> {b['name']} {b['count']}"


def _txt_count_moved(c: TextCaption) -> None:
    pairs = _count_pairs(c)
    if not pairs:
        raise NotApplicable("no two different counts")
    a, b = c.rng.choice(pairs)
    c.sub_mention(a, counted(b["count"], a["name"]))
    c.detail = f"{a['name']}: {a['count']} -> {b['count']} (the count of {b['name']})"


def _txt_percent_unit(c: TextCaption) -> None:
    match = re.search(r"\b(\d+)\s?%", c.text)
    if not match:
        raise NotApplicable("no percentage")
    unit = c.rng.choice(("hectares", "km²", "acres"))
    c.text = c.text[:match.start()] + f"{match.group(1)} {unit}" + c.text[match.end():]
    c.detail = f"{match.group(0)} -> {match.group(1)} {unit}"


def _txt_big_word(c: TextCaption) -> None:
    if not c.counted:
        raise NotApplicable("no count")
    mention = c.rng.choice(c.counted)
    value = big_word_number(c.numbers, c.rng)
    c.sub_mention(mention, f"{words(value)} {plural(mention['name'])}")
    c.detail = f"{mention['name']}: {mention['count']} -> {value}"


def _txt_wrong_numeral(c: TextCaption) -> None:
    if not c.counted:
        raise NotApplicable("no count")
    mention = c.rng.choice(c.counted)
    value = wrong_number(mention["count"], c.numbers, c.rng)
    c.sub_mention(mention, f"{value} {plural(mention['name'])}")
    c.detail = f"{mention['name']}: {mention['count']} -> {value}"


def _txt_insert(c: TextCaption, noun: str) -> None:
    if not c.found:
        raise NotApplicable("no class mention")
    last = c.found[-1]
    c.text = c.text[:last["end"]] + f" and {a_noun(noun)}" + c.text[last["end"]:]
    c.detail = noun


def _txt_absent(c: TextCaption) -> None:
    _txt_insert(c, absent_noun(c.data, c.rng))


def _txt_absent_class(c: TextCaption) -> None:
    _txt_insert(c, absent_noun(c.data, c.rng, ABSENT_CLASSES))


def _txt_attribute(c: TextCaption) -> None:
    singles = [m for m in c.found if m["count"] == 1]
    if not singles:
        raise NotApplicable("no single object")
    mention = c.rng.choice(singles)
    attribute = attribute_for(mention["name"], c.text.lower(), c.rng)
    new = (f"{with_article(mention['name'])} {attribute}" if attribute.startswith("with")
           else with_article(f"{attribute} {mention['name']}"))
    c.sub_mention(mention, new)
    c.detail = f"{mention['name']}: {attribute}"


def _txt_extra(c: TextCaption) -> None:
    sentence = c.rng.choice(EXTRA_SENTENCES)
    c.append(sentence)
    c.detail = sentence


TEXT_KINDS: dict[str, Callable[[TextCaption], None]] = {
    "reword": _txt_reword, "reorder": _txt_reorder, "synonym": _txt_synonym,
    "number_words": _txt_number_words, "unit_conversion": _txt_unit,
    "wrong_position": _txt_position, "wrong_orientation": _txt_orientation,
    "wrong_size_word": _txt_size, "negation": _txt_negation, "numbers_swapped": _txt_swap,
    "count_moved": _txt_count_moved, "percent_as_unit": _txt_percent_unit,
    "big_number_word": _txt_big_word, "absent_object": _txt_absent,
    "invented_attribute": _txt_attribute, "extra_sentence": _txt_extra,
    "wrong_numeral": _txt_wrong_numeral, "absent_class": _txt_absent_class,
}


def caption_text(data: dict, kind: str, rng: random.Random) -> tuple[str, str]:
    """(text, what changed) of one kind for a given template caption."""
    caption = edited(TEXT_KINDS, TextCaption, data, kind, rng)
    if kind not in ("reword", "number_words"):
        caption.text = _reframe(caption.text, rng)  # never the caption verbatim
    return caption.text, caption.detail


# ---- rewrite-qa: question-answer pairs ------------------------------------------------------

QUESTION_CLASS = re.compile(r"^(?:Is there (?:a|an) (?P<a>.+?) (?:in the image|to the left of|"
                            r"to the right of|above|below|next to)|How many (?P<b>.+?) are there)")
YES_NO = ("yes", "no")


def _is_count(answer: str) -> bool:
    return answer.isdigit()


def qa_answer(answer: str, rng: random.Random, style: str = "digits") -> str:
    """A sentence stating the given answer."""
    if answer in YES_NO:
        return rng.choice(("{}.", "{}, according to the map.")).format(answer.capitalize())
    if _is_count(answer):
        value = int(answer)
        said = words(value) if style == "words" else answer
        return rng.choice((f"There are {said}.", f"The count is {said}.", f"{said.capitalize()}."))
    return f"It is {answer}."


def qa_question(question: str, rng: random.Random) -> str:
    prefix = rng.choice(("In this image, ", "Looking at the image, ", "From above, "))
    return prefix + question[0].lower() + question[1:]


def qa_pair(item: dict, kind: str, rng: random.Random, data: dict) -> tuple[dict, str]:
    """({question, answer}, what changed) of one kind for a QA item."""
    question, answer = item["question"].strip(), str(item["answer"]).strip().lower()
    asked, said, detail = qa_question(question, rng), qa_answer(answer, rng), ""
    match = QUESTION_CLASS.match(question)
    name = (match.group("a") or match.group("b")) if match else None
    if kind == "reword":
        pass
    elif kind == "synonym":
        other = synonym(name, rng) if name and name in SYNONYMS else None
        if not other:
            raise NotApplicable("no synonym")
        is_plural = match.group("b") is not None
        other = plural(other) if is_plural else other
        old = f"{ENGINE.a(name).split()[0]} {name}" if not is_plural else name
        new = other if is_plural else with_article(other)
        asked = qa_question(question.replace(old, new, 1), rng)
        detail = f"{name} -> {other}"
    elif kind == "number_words":
        if not _is_count(answer):
            raise NotApplicable("not a count")
        said = qa_answer(answer, rng, "words")
    elif kind == "qa_flipped":
        if answer not in YES_NO:
            raise NotApplicable("not yes/no")
        said = qa_answer("no" if answer == "yes" else "yes", rng)
        detail = f"{answer} -> flipped"
    elif kind == "qa_negated_question":
        negated = (re.sub(r"^Is there (a|an) ", "Is there no ", question)
                   if question.startswith("Is there ") else
                   question.replace(" equal to ", " different from ", 1)
                   if " equal to " in question else None)
        if answer not in YES_NO or not negated or negated == question:
            raise NotApplicable("no negatable yes/no question")
        asked, detail = qa_question(negated, rng), "question negated, answer kept"
    elif kind in ("wrong_numeral", "big_number_word"):
        if not _is_count(answer):
            raise NotApplicable("not a count")
        value = (wrong_number(int(answer), {float(answer)}, rng, low=0)
                 if kind == "wrong_numeral" else big_word_number({float(answer)}, rng))
        said = qa_answer(str(value), rng, "digits" if kind == "wrong_numeral" else "words")
        detail = f"{answer} -> {value}"
    elif kind == "absent_object":
        noun = absent_noun(data, rng)
        said = said.rstrip(".") + f", beside {a_noun(noun)}."
        detail = noun
    elif kind == "invented_attribute":
        if answer != "yes" or not match or not match.group("a"):
            raise NotApplicable("no present object named")
        attribute = attribute_for(name, question.lower(), rng)
        said = (f"Yes, there is {with_article(name)} {attribute}." if attribute.startswith("with")
                else f"Yes, there is {with_article(attribute + ' ' + name)}.")
        detail = f"{name}: {attribute}"
    elif kind == "extra_sentence":
        detail = rng.choice(EXTRA_SENTENCES)
        said = said + " " + detail
    else:
        raise NotApplicable(kind)
    return {"question": asked, "answer": said}, detail


# ---- rewrite-conversation: grounded turns ---------------------------------------------------

BOX_RE = re.compile(r"\{<[^}]*\}|\[[-\d., ]+\]")
ITEM_RE = re.compile(r"\b(a|an|\d+) ([a-z][a-z '/-]*?) (\{<[^}]*\}|\[[-\d., ]+\])")
IDENTIFY_RE = re.compile(r"^It is (a|an) (.+)\.$")
REFER_RE = re.compile(r"^the (?:(small|medium|large) )?(.+?)(?: (?:in|at) the "
                      r"(top left|top right|bottom left|bottom right|top|bottom|left|right|"
                      r"centre))?$")


def _move_box(text: str, rng: random.Random) -> tuple[str, str]:
    boxes = list(BOX_RE.finditer(text))
    if not boxes:
        raise NotApplicable("no box")
    box = rng.choice(boxes)
    numbers = list(re.finditer(r"\d+", box.group(0)))
    number = rng.choice(numbers[:4])
    value = int(number.group(0))
    new_value = value + rng.choice((-1, 1)) * rng.randint(15, 40)
    new_value = new_value if new_value >= 0 else value + rng.randint(15, 40)
    new_box = (box.group(0)[:number.start()] + str(new_value) + box.group(0)[number.end():])
    return text[:box.start()] + new_box + text[box.end():], f"{box.group(0)} -> {new_box}"


def turn_text(turn: dict, kind: str, rng: random.Random, data: dict) -> tuple[str, str]:
    """(text, what changed) of one kind for a conversation turn."""
    text = turn["text"].strip()
    question = text.endswith("?") or turn.get("from") == "human"  # a request states no facts
    items = list(ITEM_RE.finditer(text))
    identify = IDENTIFY_RE.match(text)
    refer = REFER_RE.match(text) if not items and turn.get("from") == "human" else None
    if kind == "reword":
        if refer:  # 'the gate at the top' -> 'the gate located at the top' / '... in the image'
            where = re.search(r" (in|at) the ", text)
            return ((text[:where.start()] + " located" + text[where.start():]) if where
                    else f"{text} in the image"), ""
        return ("Tell me: " if question else "In short, ") + text[0].lower() + text[1:], ""
    if kind == "moved_box":
        return _move_box(text, rng)
    if kind in ("synonym", "classes_swapped", "reorder") and not items:
        if kind == "synonym" and identify and synonym(identify.group(2), rng):
            other = synonym(identify.group(2), rng)
            return f"It is {with_article(other)}.", f"{identify.group(2)} -> {other}"
        raise NotApplicable("no listed objects")
    if kind == "synonym":
        options = [m for m in items if synonym(m.group(2), rng)]
        if not options:
            raise NotApplicable("no synonym")
        m = rng.choice(options)
        other = synonym(m.group(2), rng)
        head = (with_article(other) if m.group(1) in ("a", "an")
                else f"{m.group(1)} {plural(other)}")
        return text[:m.start()] + f"{head} {m.group(3)}" + text[m.end():], \
            f"{m.group(2)} -> {other}"
    if kind == "reorder":  # the prompt asks for the boxes in the same order: not offered
        raise NotApplicable("boxes keep their order")
    if kind == "classes_swapped":
        pairs = [(a, b) for i, a in enumerate(items) for b in items[i + 1:]
                 if a.group(2) != b.group(2) and a.group(1) in ("a", "an")
                 and b.group(1) in ("a", "an")]
        if not pairs:
            raise NotApplicable("no two classes")
        a, b = rng.choice(pairs)
        return (text[:a.start()] + f"{with_article(b.group(2))} {a.group(3)}"
                + text[a.end():b.start()] + f"{with_article(a.group(2))} {b.group(3)}"
                + text[b.end():]), f"{a.group(2)} <-> {b.group(2)}"
    if kind == "not_a_class":
        if not identify:
            raise NotApplicable("not an identify answer")
        return f"It is not {identify.group(1)} {identify.group(2)}.", identify.group(2)
    if kind in ("wrong_position", "wrong_size_word"):
        if not refer:
            raise NotApplicable("not a referring expression")
        size, name, where = refer.groups()
        if kind == "wrong_position":
            if not where:
                raise NotApplicable("no position")
            new = other_position(where, set(), rng)
            word = "in" if new == "centre" else "at"
            return f"the {size + ' ' if size else ''}{name} {word} the {new}", f"{where} -> {new}"
        if not size:
            raise NotApplicable("no size word")
        new = rng.choice([s for s in SIZE_WORDS if s != size])
        return text.replace(f"the {size} ", f"the {new} ", 1), f"{size} -> {new}"
    if question or refer:
        raise NotApplicable("a question states no facts")
    names = [m.group(2) for m in items] or ([identify.group(2)] if identify else [])
    if kind == "negation":
        if not names:
            raise NotApplicable("no object")
        name = rng.choice(names)
        return f"{text} There are no {plural(name)} in the image.", name
    if kind in ("absent_object", "absent_class"):
        noun = absent_noun(data, rng, ABSENT_OBJECTS if kind == "absent_object"
                           else ABSENT_CLASSES)
        return f"{text.rstrip('.')}, and {a_noun(noun)} nearby.", noun
    if kind == "invented_attribute":
        if not (items or identify):
            raise NotApplicable("no object")
        m = rng.choice(items) if items else identify
        start, end = (m.start(1), m.end(2)) if items else (identify.start(1), identify.end(2))
        attribute = attribute_for(m.group(2), text.lower(), rng)
        new = (f"{with_article(m.group(2))} {attribute}" if attribute.startswith("with")
               else with_article(f"{attribute} {m.group(2)}"))
        return text[:start] + new + text[end:], f"{m.group(2)}: {attribute}"
    if kind == "extra_sentence":
        sentence = rng.choice(EXTRA_SENTENCES)
        return f"{text} {sentence}", sentence
    raise NotApplicable(kind)


# ---- the responder ---------------------------------------------------------------------------

def task_of(data: dict) -> str:
    """The kind of request, from its facts."""
    if "objects" in data:
        return "rsteller_caption"
    if "overall" in data:
        return "chatearthnet_caption"
    if "turns" in data:
        return "rewrite_conversation"
    if "qa" in data:
        return "rewrite_qa"
    return "rewrite_caption"


CAPTION_WRITERS = {"rsteller_caption": object_text, "chatearthnet_caption": cover_text}


def wanted_rewrites(request: dict) -> int:
    schema = request.get("response_format") or {}
    if schema.get("type") == "json_schema":
        return schema["json_schema"]["schema"]["properties"]["rewrites"].get("minItems", 2)
    user = [m for m in request["messages"] if m["role"] == "user"][0]["content"]
    return user.rsplit('"rewrites": [', 1)[1].split("]", 1)[0].count('"..."')


class Adversary:
    """A FakeLLM responder: every judged text of a reply is a faithful paraphrase of a kind
    or one unfaithful error, chosen by a generator seeded with `seed` and the request's facts
    (so a reply does not depend on the order requests arrive). `unfaithful` is the share of
    unfaithful texts; `recipe` is copied into the log (set it before each build)."""

    def __init__(self, seed: int = 0, unfaithful: float = 0.5, log: Path | None = None,
                 kinds: tuple[str, ...] | None = None) -> None:
        self.seed, self.unfaithful, self.log = seed, unfaithful, log
        self.kinds = kinds  # restrict to these kinds (tests); None: all
        self.recipe: str | None = None
        self.lock = threading.Lock()
        self.replies: list[dict] = []

    def _rng(self, data: dict, salt: str) -> random.Random:
        digest = hashlib.sha256(json.dumps([self.seed, salt, data], sort_keys=True,
                                           ensure_ascii=False).encode()).hexdigest()
        return random.Random(int(digest[:16], 16))

    def _pick(self, rng: random.Random, make: Callable[[str], tuple]) -> tuple[str, tuple]:
        """A kind (faithful or not, by the configured share) that the facts allow, and what
        `make(kind)` made of it."""
        side = UNFAITHFUL if rng.random() < self.unfaithful else FAITHFUL
        for pool in (side, FAITHFUL):
            kinds = sorted((k for k in pool if self.kinds is None or k in self.kinds),
                           key=lambda k: -rng.random() ** (1 / WEIGHTS.get(k, 1)))
            for kind in kinds:
                try:
                    return kind, make(kind)
                except NotApplicable:
                    continue
        return "reword", make("reword")

    def __call__(self, request: dict) -> str:
        data = prompt_data(request["messages"])
        task = task_of(data)
        units: list[dict] = []
        if task in CAPTION_WRITERS:
            anchor = faithful_caption(data)
            write = CAPTION_WRITERS[task]
        else:
            anchor = data["caption"]
            write = caption_text
        units.append({"role": "caption", "index": 0, "kind": ANCHOR, "faithful": True,
                      "text": anchor, "detail": ""})
        rewrites = []
        for index in range(wanted_rewrites(request)):
            rng = self._rng(data, f"rewrite{index}")
            kind, (text, detail) = self._pick(rng, lambda k, r=rng: write(data, k, r))
            while text in rewrites or text == anchor:
                text = rng.choice(("Overall, ", "In brief, ", "Put simply, ")) + text
            rewrites.append(text)
            units.append({"role": "rewrite", "index": index, "kind": kind,
                          "faithful": kind in FAITHFUL, "text": text, "detail": detail})
        reply = {"caption": anchor, "rewrites": rewrites}
        if task == "rewrite_qa":
            reply["qa"] = self._items(data, "qa", qa_pair, units)
        if task == "rewrite_conversation":
            reply["turns"] = self._items(data, "turns", turn_text, units)
        self._record({"task": task, "recipe": self.recipe, "facts": data, "units": units})
        return json.dumps(reply, ensure_ascii=False)

    def _items(self, data: dict, key: str, write: Callable, units: list[dict]) -> list:
        """A kind and a new text for each QA pair or turn of the facts (units: the log)."""
        role, texts = {"qa": "qa", "turns": "turn"}[key], []
        for index, item in enumerate(data[key]):
            rng = self._rng(data, f"{key}{index}")
            kind, (new, detail) = self._pick(
                rng, lambda k, r=rng, i=item: write(i, k, r, data))
            texts.append(new)
            text = f"{new['question']} | {new['answer']}" if role == "qa" else new
            units.append({"role": role, "index": index, "kind": kind,
                          "faithful": kind in FAITHFUL, "text": text, "detail": detail,
                          "original": item})
        return texts

    def _record(self, entry: dict) -> None:
        with self.lock:
            entry["reply"] = len(self.replies)
            self.replies.append(entry)
            if self.log is not None:
                with self.log.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(entry, ensure_ascii=False) + "\n")

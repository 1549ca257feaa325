"""The faithfulness benchmark's ground truth (issue 13, "Measured, as a benchmark"): every text
the adversary labels unfaithful really contradicts (or adds to) the DATA it was given, and every
text it labels faithful states only the DATA's facts. Each text is read back here with its own
small reader (numbers in digits or words, units converted, class names with the accepted
synonyms, positions, boxes), not with the adversary's code nor geoscribe's checker."""

from __future__ import annotations

import collections
import json
import re

import pytest

from llm_adversary import FAITHFUL, UNFAITHFUL, Adversary

SMALL_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
               "fourteen fifteen sixteen seventeen eighteen nineteen")
TENS_WORDS = "twenty thirty forty fifty sixty seventy eighty ninety"
SMALL = {w: i for i, w in enumerate(SMALL_WORDS.split())}
TENS = {w: 10 * (i + 2) for i, w in enumerate(TENS_WORDS.split())}
NUM = (r"(?:\d[\d,]*(?:\.\d+)?|(?:(?:" + "|".join([*SMALL, *TENS, "hundred", "thousand"])
       + r")(?:[ -](?=[a-z]))?)+)")
POS = r"top left|top right|bottom left|bottom right|top|bottom|left|right|centre"
# renamings accepted as faithful (the examples, hypernyms, plain synonyms)
SAME = {("house", "building"), ("house", "home"), ("tertiary road", "minor road"),
        ("parking lot", "car park"), ("sports pitch", "sports field"), ("tree cover", "forest"),
        ("tree cover", "woodland"), ("cropland", "farmland"), ("grassland", "meadow"),
        ("permanent water bodies", "water"), ("permanent water bodies", "open water"),
        ("apartment building", "apartment block"), ("residential road", "street"),
        ("residential road", "residential street"), ("building", "structure")}
FILLER_WORDS = ("a an the this that these overhead view views shows show seen from above image "
                "contains contain aerial visible in satellite there is are scene holds with and "
                "overall brief put simply taken orbit of also covered by land cover consists "
                "largest class tell me short please according to map")
FILLER = set(FILLER_WORDS.split())


def number(text: str) -> float:
    """Digits ('1,707', '0.17') or English words ('seven hundred six') as a number."""
    text = text.strip()
    if text[0].isdigit():
        return float(text.replace(",", ""))
    total = current = 0
    for word in re.split(r"[ -]+", text):
        if word in SMALL:
            current += SMALL[word]
        elif word in TENS:
            current += TENS[word]
        elif word == "hundred":
            current *= 100
        elif word == "thousand":
            total, current = total + current * 1000, 0
    return float(total + current)


def singular(name: str) -> str:
    name = name.strip()
    for plural, single in (("ies", "y"), ("ches", "ch"), ("s", "")):
        if name.endswith(plural) and not name.endswith("ss"):
            return name[: -len(plural)] + single
    return name


def same_class(said: str, fact: str) -> bool:
    """Whether `said` names the class `fact`: itself, a plural, its head noun (a hypernym:
    'road' for 'tertiary road') or an accepted synonym."""
    said_forms = {said.strip().lower(), singular(said.strip().lower())}
    fact_forms = {fact.lower(), singular(fact.lower())}
    if said_forms & fact_forms:
        return True
    if " " in fact and fact.split()[-1].lower() in said_forms | {singular(f) for f in said_forms}:
        return True
    return any((f, s) in SAME for f in fact_forms for s in said_forms)


def name_pattern(stop: str) -> str:
    """A lazy class-name pattern whose words are none of `stop` (and no number word)."""
    word = rf"(?!(?:{stop}|{'|'.join([*SMALL, *TENS])})\b)[a-z'/-]+"
    return rf"{word}(?: {word})*?"


def leftover_ok(text: str) -> bool:
    """Nothing but filler words is left once the claims are cut out."""
    return set(re.findall(r"[a-z]+", text.lower())) <= FILLER


def request(data: dict, rewrites: int = 4) -> dict:
    """A geoscribe-shaped chat request carrying `data` as its DATA block."""
    slots = ", ".join(['"..."'] * rewrites)
    user = (f"Write a caption.\nDATA:\n{json.dumps(data, indent=1)}\nReply with JSON only: "
            f'{{"caption": "...", "rewrites": [{slots}]}}')
    return {"messages": [{"role": "system", "content": "You describe images."},
                         {"role": "user", "content": user}]}


# ---- readers: True when every claim holds and nothing else is said ------------------------

OBJECT = re.compile(rf"\b(?:a|an) (?P<name>[a-z][a-z /'-]*?)(?: of (?P<area>{NUM}) "
                    r"(?P<aunit>m²|ha|square metres))?(?: (?P<length>" + NUM +
                    r") (?P<lunit>m|km|metres) long)?(?: running (?P<orient>[a-z-]+))? "
                    rf"(?:in|at|on) the (?P<pos>{POS})\b")


def measure(value: str, unit: str) -> float:
    scale = {"ha": 10_000, "km": 1000}.get(unit, 1)
    return round(number(value) * scale, 6)


def object_claim_holds(m: re.Match, objects: list[dict]) -> bool:
    for obj in objects:
        if (same_class(m["name"], obj["kind"]) and m["pos"] == obj["position"]
                and (m["area"] is None or measure(m["area"], m["aunit"]) == obj.get("area_m2"))
                and (m["length"] is None
                     or measure(m["length"], m["lunit"]) == obj.get("length_m"))
                and (m["orient"] is None or m["orient"] == obj.get("orientation"))
                and (m["area"] or m["length"] or not ("area_m2" in obj or "length_m" in obj))):
            return True
    return False


def rsteller_faithful(text: str, data: dict) -> bool:
    claims = list(OBJECT.finditer(text))
    rest = OBJECT.sub(" ", text)
    return (bool(claims) and all(object_claim_holds(m, data["objects"]) for m in claims)
            and leftover_ok(rest))


SHARE = re.compile(r"(?:^|, | and | by | of | is | shows |: )(?P<name>"
                   + name_pattern("by|of|is|shows|and|the") + r") "
                   rf"\((?P<num>{NUM})\s?(?P<unit>%|percent|hectares|km²|square metres|acres)\)")
REGION = re.compile(rf"In the (?P<region>{POS}), the largest class is (?P<name>[a-z][a-z /-]*?) "
                    rf"\((?P<num>{NUM})\s?(?P<unit>%|percent|[a-z²]+)\)\.")


def cover_faithful(text: str, data: dict) -> bool:
    ok = True
    for m in REGION.finditer(text):
        shares = data["regions"].get(m["region"], {})
        top = max(shares, key=shares.get) if shares else None
        ok &= (m["unit"] in ("%", "percent") and top is not None
               and same_class(m["name"], top) and number(m["num"]) == shares[top])
    rest = REGION.sub(" ", text)
    claims = list(SHARE.finditer(rest))
    for m in claims:
        ok &= m["unit"] in ("%", "percent") and any(
            same_class(m["name"], name) and number(m["num"]) == v["percent"]
            for name, v in data["overall"].items())
    return ok and bool(claims) and leftover_ok(SHARE.sub(" ", rest))


COUNTED = re.compile(rf"\b(?P<count>a|an|{NUM}) (?P<name>" + name_pattern("with|of|a|an|and")
                     + r")(?=,|;|\.|:| and )")


def counted_facts(caption: str) -> list[tuple[float, str]]:
    return [(1.0 if m["count"] in ("a", "an") else number(m["count"]), m["name"])
            for m in COUNTED.finditer(caption.lower())]


def caption_faithful(text: str, data: dict) -> bool:
    facts = counted_facts(data["caption"])
    claims = counted_facts(text)
    return (bool(claims) and all(any(n == c and same_class(name, f) for c, f in facts)
                                 for n, name in claims)
            and leftover_ok(COUNTED.sub(" ", text.lower())))


def qa_faithful(pair: dict, item: dict) -> bool:
    question = re.sub(r"^(in this image|looking at the image|from above), ", "",
                      pair["question"].lower())
    original = item["question"].lower()
    if question != original:
        forms = (r"is there (?:a |an )?([a-z ]+?) in the image\?",
                 r"how many ([a-z ]+?) are there in the image\?")
        if not any((renamed := re.fullmatch(f, question)) and (kept := re.fullmatch(f, original))
                   and same_class(renamed[1], kept[1]) for f in forms):
            return False
    answer = pair["answer"].lower().rstrip(".")
    if item["answer"] in ("yes", "no"):
        return answer in (item["answer"], f"{item['answer']}, according to the map")
    core = re.fullmatch(rf"(?:there are |the count is |it is )?(?P<v>{NUM}|.+)", answer)
    if item["answer"].isdigit():
        return bool(core) and re.fullmatch(NUM, core["v"]) is not None \
            and number(core["v"]) == float(item["answer"])
    return answer == f"it is {item['answer'].lower()}"


BOX = re.compile(r"\{<[^}]*\}")
ITEM = re.compile(r"\b(?:a|an|\d+) ([a-z][a-z '/-]*?) (\{<[^}]*\})")


def turn_faithful(text: str, turn: dict) -> bool:
    original = turn["text"]
    if sorted(BOX.findall(text)) != sorted(BOX.findall(original)):
        return False
    stripped = re.sub(r"^(in short,|tell me:) ?", "", text, flags=re.I).strip()
    if stripped.lower() == original.lower() or stripped in (
            original + " in the image", re.sub(r" (in|at) the ", r" located \1 the ", original)):
        return True
    items = {box: name for name, box in ITEM.findall(original)}
    said = {box: name for name, box in ITEM.findall(stripped)}
    if items:
        return (said.keys() == items.keys()
                and all(same_class(said[b], items[b]) for b in items)
                and leftover_ok(ITEM.sub(" ", stripped)))
    identify = re.fullmatch(r"It is (?:a|an) ([a-z ]+)\.", original)
    new = re.fullmatch(r"it is (?:a|an) ([a-z ]+)\.", stripped.lower())
    return bool(identify and new and same_class(new[1], identify[1]))


# ---- the facts the adversary is asked about -------------------------------------------------

RSTELLER = [
    {"objects": [
        {"kind": "house", "details": [], "position": "top left", "area_m2": 1500,
         "cut_by_image_edge": False},
        {"kind": "tertiary road", "details": [], "position": "centre", "length_m": 1200,
         "orientation": "east-west", "cut_by_image_edge": True},
        {"kind": "parking lot", "details": [], "position": "bottom right", "area_m2": 5000,
         "cut_by_image_edge": False}]},
    {"objects": [
        {"kind": "apartment building", "details": [], "position": "right", "area_m2": 906},
        {"kind": "sports pitch", "details": [], "position": "bottom", "area_m2": 2400,
         "orientation": "north-south"}]},
]
COVER = [{"overall": {"tree cover": {"percent": 52, "amount": "mostly"},
                      "cropland": {"percent": 30, "amount": "a large part"},
                      "permanent water bodies": {"percent": 18, "amount": "some"}},
          "regions": {"top left": {"cropland": 75, "tree cover": 25},
                      "top right": {"tree cover": 60, "permanent water bodies": 40},
                      "bottom left": {"tree cover": 56, "cropland": 44},
                      "bottom right": {"cropland": 10, "tree cover": 90},
                      "centre": {"tree cover": 52, "cropland": 48}}},
         {"overall": {"grassland": {"percent": 64}, "cropland": {"percent": 36}},
          "regions": {"top left": {"grassland": 80, "cropland": 20},
                      "centre": {"cropland": 70, "grassland": 30}}}]
CAPTIONS = [{"caption": "A satellite image with 3 houses, 2 tertiary roads and 1 parking lot.",
             "object_counts": {"house": 3, "tertiary road": 2, "parking lot": 1}},
            {"caption": "A satellite image of a sports pitch; also visible: 4 apartment "
                        "buildings and a residential road."}]
QA = {"caption": "A satellite image with 3 houses and 1 residential road.",
      "qa": [{"question": "Is there a house in the image?", "answer": "yes"},
             {"question": "Is there a parking lot in the image?", "answer": "no"},
             {"question": "How many houses are there in the image?", "answer": "3"},
             {"question": "Is the number of houses equal to the number of residential "
                          "roads?", "answer": "no"},
             {"question": "How many tertiary roads are there in the image?", "answer": "0"}]}
TURNS = {"caption": "A satellite image with 2 houses and a tertiary road.",
         "turns": [{"from": "gpt", "text": "The image shows a house {<10><20><30><40>|<0>}, a "
                                           "tertiary road {<50><60><90><80>|<12>} and a house "
                                           "{<1><2><3><4>|<0>}."},
                   {"from": "human", "text": "the large house at the top left"},
                   {"from": "human", "text": "What is the object at {<10><20><30><40>|<0>}?"},
                   {"from": "gpt", "text": "It is a house."}]}


def _units(data: dict, seeds: range) -> list[tuple[dict, dict]]:
    """(unit, data) of every text the adversary wrote for `data` over `seeds`."""
    found = []
    for seed in seeds:
        adversary = Adversary(seed=seed)
        adversary(request(data))
        found += [(unit, data) for unit in adversary.replies[0]["units"]]
    return found


def _truth(unit: dict, data: dict) -> bool:
    if unit["role"] == "qa":
        question, answer = unit["text"].split(" | ")
        return qa_faithful({"question": question, "answer": answer}, unit["original"])
    if unit["role"] == "turn":
        return turn_faithful(unit["text"], unit["original"])
    if "objects" in data:
        return rsteller_faithful(unit["text"], data)
    if "overall" in data:
        return cover_faithful(unit["text"], data)
    return caption_faithful(unit["text"], data)


@pytest.mark.parametrize("facts", [*RSTELLER, *COVER, *CAPTIONS, QA, TURNS],
                         ids=["rsteller1", "rsteller2", "cover1", "cover2", "caption1",
                              "caption2", "qa", "turns"])
def test_adversary_labels_match_an_independent_reading(facts):
    """issue 13 (benchmark ground truth): over 60 seeded replies, every text labelled
    faithful states only facts of the DATA, and every text labelled unfaithful contradicts
    it or adds something it does not say."""
    wrong = []
    for unit, data in _units(facts, range(60)):
        if _truth(unit, data) != unit["faithful"]:
            wrong.append((unit["kind"], unit["faithful"], unit["text"]))
    assert not wrong, wrong[:5]


def test_adversary_covers_every_kind():
    """issue 13 (benchmark): every faithful and unfaithful kind is produced where the facts
    allow it, about half the texts are unfaithful, and the same seed gives the same replies."""
    kinds = collections.Counter()
    for facts in [*RSTELLER, *COVER, *CAPTIONS, QA, TURNS]:
        for unit, _ in _units(facts, range(40)):
            if unit["role"] != "caption":
                kinds[(unit["kind"], unit["faithful"])] += 1
    assert {k for k, _ in kinds} == set(FAITHFUL) | set(UNFAITHFUL)
    unfaithful = sum(n for (_, faithful), n in kinds.items() if not faithful)
    assert 0.35 < unfaithful / sum(kinds.values()) < 0.65
    again = [Adversary(seed=3), Adversary(seed=3)]
    assert again[0](request(CAPTIONS[0])) == again[1](request(CAPTIONS[0]))

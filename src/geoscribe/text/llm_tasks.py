"""What the LLM is asked for each record: the prompt (versioned, hashed), the facts given as
quoted JSON data, the reply schema, and the facts a reply is checked against."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache

import jinja2

from geoscribe.text.claim_words import size_word
from geoscribe.text.claims import counts_stated, listed_counts
from geoscribe.text.faithfulness import Facts, classes_in, first_class, numbers_in
from geoscribe.text.tag_policy import phrase_table
from geoscribe.text.templates import load_wording

RSTELLER_PROMPT = "rsteller_caption_v1.yaml"
CHATEARTHNET_PROMPT = "chatearthnet_caption_v1.yaml"
REWRITE_PROMPT = "rewrite_caption_v1.yaml"
REWRITE_QA_PROMPT = "rewrite_qa_v1.yaml"
REWRITE_CONVERSATION_PROMPT = "rewrite_conversation_v1.yaml"
_TURN_PREFIX = re.compile(r"^(<image>\s*)?(\[[a-z]+\]\s*)?")
_ONLY_BOX = re.compile(r"^\s*(\{<[^}]*\}|\[[-\d., ]+\])\s*$")
MAX_QA = 12  # question-answer pairs rewritten per record (the rest keep their template text)
MAX_VALUE_CHARS = 60  # every string given to the LLM is capped (and JSON-quoted)


@dataclass(frozen=True)
class CaptionTask:
    """One request: messages, reply schema, and the facts to check the reply against."""

    prompt_id: str
    prompt_sha256: str
    messages: list[dict]
    schema: dict
    facts: Facts
    data: dict
    qa: tuple = ()  # the record's QA items given for rewording (in order)
    turns: tuple = ()  # (index, prefix, text) of the conversation turns given for rewording


def reply_schema(rewrites: int, max_chars: int, n_qa: int = 0, n_turns: int = 0) -> dict:
    """JSON Schema of a reply: a caption, exactly `rewrites` rewrites and, when the record has
    QA, exactly `n_qa` reworded question-answer pairs."""
    text = {"type": "string", "minLength": 1, "maxLength": max_chars}
    schema = {"type": "object", "additionalProperties": False,
              "required": ["caption", "rewrites"],
              "properties": {"caption": text,
                             "rewrites": {"type": "array", "items": text,
                                          "minItems": rewrites, "maxItems": rewrites}}}
    if n_qa:
        pair = {"type": "object", "additionalProperties": False,
                "required": ["question", "answer"],
                "properties": {"question": text, "answer": text}}
        schema["required"].append("qa")
        schema["properties"]["qa"] = {"type": "array", "items": pair, "minItems": n_qa,
                                      "maxItems": n_qa}
    if n_turns:
        schema["required"].append("turns")
        schema["properties"]["turns"] = {"type": "array", "items": text, "minItems": n_turns,
                                         "maxItems": n_turns}
    return schema


def quoted(value, cap: int = MAX_VALUE_CHARS):
    """Data for a prompt: strings capped and stripped of control characters (JSON quotes them)."""
    if isinstance(value, str):
        return re.sub(r"[\x00-\x1f\x7f]", " ", value)[:cap]
    if isinstance(value, dict):
        return {quoted(k, cap): quoted(v, cap) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [quoted(v, cap) for v in value]
    return value


UNITS = {"area_m2": ("area", "m²"), "length_m": ("length", "m"), "percent": ("", "%")}
PERCENT_KEYS = ("regions",)  # mappings of class -> percent of that region
UNLISTED = ("qa", "turns")  # given in the DATA block only (reworded one by one)


def _said(value) -> str:
    """A value in the fact list: strings JSON-quoted (data, never instructions), lists
    joined, numbers as they are."""
    if isinstance(value, list | tuple):
        return ", ".join(_said(v) for v in value)
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


def _fact_fields(item: dict, skip: tuple = ()) -> list[str]:
    """'position "centre"', 'area 820 m²', 'cut by image edge' for the fields of one fact
    (booleans named when true, empty values left out), in sorted key order."""
    said = []
    for key in sorted(k for k in item if k not in skip):
        value = item[key]
        if value is False or value is None or value in ([], {}, ""):
            continue
        if value is True:
            said.append(key.replace("_", " "))
        elif isinstance(value, dict):
            said.append(f"{key.replace('_', ' ')} ({'; '.join(_fact_fields(value))})")
        elif key in UNITS:
            name, unit = UNITS[key]
            said.append(f"{name} {_said(value)}{unit if unit == '%' else ' ' + unit}".strip())
        else:
            said.append(f"{key.replace('_', ' ')} {_said(value)}")
    return said


def _fact_value(key: str, value) -> str:
    """What a named fact says: its fields ('percent': '62%'), or for a mapping of names to
    numbers (a region's class shares) '"cropland" 75%, "tree cover" 25%'."""
    if not isinstance(value, dict):
        return _said(value)
    if key in PERCENT_KEYS and all(isinstance(v, int | float) for v in value.values()):
        return ", ".join(f"{_said(name)} {n}%" for name, n in value.items())
    return ", ".join(_fact_fields(value))


def fact_lines(data: dict) -> list[str]:
    """The facts of a request as a readable list ("- ..." lines) the model may paraphrase:
    one line per object, per class share, per region, the caption to reword and the counts
    (QA pairs and turns are only in the DATA block)."""
    lines = []
    for key in sorted(k for k in data if k not in UNLISTED):
        value = data[key]
        if key == "objects":
            lines += [", ".join([_said(o.get("kind")), *_fact_fields(o, ("kind",))])
                      for o in value]
        elif key == "caption":
            lines.append(f"caption: {_said(value)}")
        elif isinstance(value, dict):
            lines += [f"{key.replace('_', ' ')}: {_said(name)} {_fact_value(key, v)}"
                      for name, v in value.items()]
        else:
            lines.append(f"{key.replace('_', ' ')}: {_said(value)}")
    return [f"- {line}" for line in lines]


@lru_cache(maxsize=8)
def _prompt(name: str) -> tuple[str, str, jinja2.Template, jinja2.Template]:
    template_id, sha, data = load_wording("prompts", "llm", name)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    return template_id, sha, env.from_string(data["system"]), env.from_string(data["user"])


def render_task(prompt: str, data: dict, facts: Facts, rewrites: int,
                max_words: int, qa: tuple = (), turns: tuple = ()) -> CaptionTask:
    """Fill a prompt file with the facts (a readable list, then the same data as compact JSON
    between 'DATA:' and 'Reply with JSON only'), the objects a reply must name and the output
    limits."""
    template_id, sha, system, user = _prompt(prompt)
    slots = ", ".join(['"..."'] * rewrites)
    qa_slots = ", ".join(['{"question": "...", "answer": "..."}'] * len(qa))
    variables = {"max_words": max_words, "rewrites": rewrites, "rewrite_slots": slots,
                 "qa_slots": qa_slots, "turn_slots": ", ".join(['"..."'] * len(turns)),
                 "fact_list": "\n".join(fact_lines(data)),
                 "required": ", ".join(_said(name) for name in sorted(facts.required)),
                 "facts_json": json.dumps(data, ensure_ascii=False, sort_keys=True)}
    messages = [{"role": "system", "content": system.render(**variables).strip()},
                {"role": "user", "content": user.render(**variables).strip()}]
    schema = reply_schema(rewrites, max_chars=max_words * 12, n_qa=len(qa), n_turns=len(turns))
    return CaptionTask(template_id, sha, messages, schema, facts, data, tuple(qa), tuple(turns))


def _round(value) -> int | None:
    """Half-up rounding (as the recipes round their captions' numbers)."""
    return None if value is None else math.floor(float(value) + 0.5)


def _element_item(index: int, element: dict) -> dict:
    """One rsteller element as given to the LLM (and checked): kind, details, geometry,
    position, cut by the edge, rounded area/length, shape, orientation, size word and id."""
    item = {"kind": element.get("name"), "details": list(element.get("attributes") or []),
            "geometry": element.get("geometry"), "position": element.get("position"),
            "cut_by_image_edge": bool(element.get("clipped")), "id": index + 1}
    for key in ("area_m2", "length_m"):
        value = _round(element.get(key))
        if value is not None:
            item[key] = value
    for key in ("shape", "orientation"):
        if element.get(key):
            item[key] = element[key]
    size = size_word(element.get("area_m2"))
    if size:
        item["size"] = size
    return item


def _rsteller(record: dict, vocabulary: set[str]) -> tuple[str, dict, Facts]:
    elements = record.get("evidence", {}).get("elements", [])
    described = [_element_item(i, e) for i, e in enumerate(elements)]
    numbers = {float(item[k]) for item in described for k in ("area_m2", "length_m")
               if k in item}
    for detail in (d for item in described for d in item["details"]):
        numbers.update(v for v, _, _ in numbers_in(detail))
    counts = record.get("evidence", {}).get("counts", {})
    numbers.update(float(v) for v in counts.values())
    numbers.add(float(len(described)))
    classes = {e.get("name") for e in elements if e.get("name")} | set(counts)
    salient = {e["name"] for e in elements[:1] if e.get("name")}  # the most salient element
    data = quoted({"objects": described})
    objects = [{**item, "clipped": item["cut_by_image_edge"],
                "area_m2": e.get("area_m2"), "length_m": e.get("length_m")}
               for item, e in zip(described, elements, strict=True)]
    wording = "; ".join(d for item in described for d in item["details"])
    return RSTELLER_PROMPT, data, Facts(numbers, set(), classes, vocabulary | classes,
                                         salient, counts=dict(counts), objects=objects,
                                         wording=wording)


def _chatearthnet(record: dict, vocabulary: set[str]) -> tuple[str, dict, Facts]:
    evidence = record.get("evidence", {})
    shares = record.get("label", {}).get("shares", {})
    percentages = {k: int(v) for k, v in evidence.get("percentages", {}).items()}
    words = evidence.get("share_words", {})
    overall = {name: {"percent": percentages.get(name, _round(share * 100)),
                      **({"amount": words[name]} if name in words else {})}
               for name, share in shares.items()}
    regions = {region: {name: _round(share * 100) for name, share in values.items()
                        if share >= 0.01}
               for region, values in evidence.get("regions", {}).items()}
    allowed = {float(p["percent"]) for p in overall.values()}
    allowed |= {float(p) for values in regions.values() for p in values.values()}
    classes = set(shares)
    dominant = {max(shares, key=shares.get)} if shares else set()
    data = quoted({"overall": overall, "regions": regions})
    return CHATEARTHNET_PROMPT, data, Facts(
        allowed, allowed, classes, vocabulary | classes, dominant,
        shares={name: float(p["percent"]) for name, p in overall.items()},
        regions={r: {n: float(p) for n, p in values.items()} for r, values in regions.items()})


def _rewrite(record: dict, vocabulary: set[str]) -> tuple[str, dict, Facts]:
    caption = record["texts"]["caption"]
    evidence = record.get("evidence", {})
    counts = evidence.get("counts") or {}
    stated = numbers_in(caption)
    numbers = {v for v, _, _ in stated} | {float(v) for v in counts.values()}
    percentages = {v for v, pct, _ in stated if pct}
    classes = set(classes_in(caption, vocabulary)) | set(counts)
    listed = {} if counts else listed_counts(caption)  # the caption's own list of counts
    classes |= set(record.get("label", {}).get("shares", {})) | set(listed)
    classes -= {name for name, n in counts.items() if not n}  # counted 0: absent
    data = {"caption": quoted(caption, cap=1000)}  # our own text, from capped tag phrases
    if counts:
        data["object_counts"] = quoted(counts)
    qa = record.get("qa") or []
    if qa:
        data["qa"] = [{"question": quoted(item["question"], cap=300),
                       "answer": quoted(item["answer"], cap=300)}
                      for item in qa[:MAX_QA]]
    turns = conversation_turns(record)
    if turns:
        data["turns"] = [{"from": record["conversations"][i]["from"],
                          "text": quoted(text, cap=1000)} for i, _, text in turns]
    prompt = (REWRITE_CONVERSATION_PROMPT if turns else REWRITE_QA_PROMPT if qa
              else REWRITE_PROMPT)
    focus = first_class(caption, vocabulary | classes)  # a template caption names it first
    facts = Facts(numbers, percentages, classes, vocabulary | classes,
                  {focus} if focus else set(), wording=caption)
    facts.counts = ({name: int(n) for name, n in counts.items()} or
                    {**listed, **counts_stated(caption, facts)})
    return prompt, data, facts


def conversation_turns(record: dict) -> tuple:
    """(index, prefix, text) of the turns worth rewording: not a bare box; the `<image>` and
    `[task]` prefix is kept aside (it is re-added, never reworded)."""
    turns = []
    for index, turn in enumerate(record.get("conversations") or []):
        value = turn["value"]
        if _ONLY_BOX.match(value):
            continue
        prefix = _TURN_PREFIX.match(value).group(0)
        turns.append((index, prefix, value[len(prefix):]))
    return tuple(turns[:MAX_QA])


# The tasks a recipe can declare as its own (RecipeSpec.llm_task): facts from the record's
# `evidence`/`label` -> (prompt file, quoted data, the facts a reply must respect).
TASKS = {"rsteller_caption": _rsteller, "chatearthnet_caption": _chatearthnet}


def caption_task(record: dict, vocabulary: set[str], rewrites: int, max_words: int,
                 task: str | None = None) -> CaptionTask:
    """The request for one record: `task` (the LLM task its recipe declares) where it has one,
    else (None) a rewrite of the record's template caption."""
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown LLM task {task!r} (known: {sorted(TASKS)})")
    prompt, data, facts = TASKS.get(task, _rewrite)(record, vocabulary)
    qa = tuple(record.get("qa") or [])[:MAX_QA] if prompt == REWRITE_QA_PROMPT else ()
    turns = conversation_turns(record) if prompt == REWRITE_CONVERSATION_PROMPT else ()
    return render_task(prompt, data, facts, rewrites, max_words, qa, turns)


@lru_cache(maxsize=1)
def tag_vocabulary() -> frozenset[str]:
    """Every class phrase of prompts/tag_phrases.yaml (the names a caption can use)."""
    table = phrase_table()["primary"]
    names = set()
    for key, values in table.items():
        for value, phrase in values.items():
            if value == "default" or not isinstance(phrase, str):
                continue
            names.add(phrase)
        names.add(key.replace("_", " "))
    return frozenset(n for n in names if "{" not in n)

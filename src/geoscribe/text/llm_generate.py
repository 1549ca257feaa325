"""Turn one CaptionTask into checked texts: parse and validate the JSON reply, check every
text against the facts, and ask again (a bounded number of times) with the problem named."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import jsonschema

from geoscribe.text.faithfulness import check_qa_item, check_text, check_turn
from geoscribe.text.llm_client import LLMClient, LLMError
from geoscribe.text.llm_tasks import CaptionTask

_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)


@dataclass
class Generated:
    """The outcome for one record: texts, or the reason it is rejected."""

    caption: str | None = None
    rewrites: list[str] = field(default_factory=list)
    rejected_texts: list[dict] = field(default_factory=list)
    reason: str | None = None
    rounds: int = 0
    qa: dict[int, tuple[str, str]] = field(default_factory=dict)  # item index -> (q, a)
    turns: dict[int, str] = field(default_factory=dict)  # conversation index -> new value
    failure: str | None = None  # a request failed (not a reply judged): worth asking again


def parse_reply(content: str, schema: dict) -> tuple[dict | None, str | None]:
    """The reply as a dict valid against `schema`, or (None, problem).

    Repairs what is safe to repair: code fences and text around one JSON object.
    """
    text = _FENCE.sub("", content.strip())
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        try:
            data = json.loads(text[start:end + 1]) if 0 <= start < end else None
        except json.JSONDecodeError:
            data = None
        if data is None:
            return None, "invalid_json"
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(data), key=str)
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "reply"
        return None, f"wrong_schema: {where}: {errors[0].message[:120]}"
    return data, None


def ordered(problems: list[str]) -> list[str]:
    """`problems` without repeats, in an order that does not depend on PYTHONHASHSEED: grouped
    by kind (the text before ':') in the order the kinds first appear (the checker's order of
    checks), each kind's problems sorted. The checker may find names in set order."""
    kinds = list(dict.fromkeys(p.split(":", 1)[0] for p in problems))
    return sorted(dict.fromkeys(problems), key=lambda p: (kinds.index(p.split(":", 1)[0]), p))


def repair_message(problem: list[str] | str, attempt: int = 2) -> str:
    """The repair message: what was wrong with the last reply (problems in a fixed order).
    `attempt` (the round it asks for) keeps a repeated bad reply from making the same
    request again, which would get the same reply."""
    if isinstance(problem, str):
        return (f"Attempt {attempt}: your reply could not be used ({problem}). Reply again "
                "with JSON only, exactly in the requested form.")
    return (f"Attempt {attempt}: your caption contradicts the facts or breaks the rules: "
            + "; ".join(problem)
            + ". Write the JSON reply again. Say only what the facts say: no objects, colours, "
            "materials, heights, counts or places that are not in the facts.")


def _keep_qa(outcome: Generated, task: CaptionTask, pairs: list[dict], max_words: int) -> None:
    """Keep each reworded QA pair that states the computed answer; report the others."""
    for index, (item, pair) in enumerate(zip(task.qa, pairs, strict=False)):
        question, answer = pair["question"].strip(), pair["answer"].strip()
        bad = check_qa_item(item, question, answer, task.facts.vocabulary, max_words)
        if bad:
            outcome.rejected_texts.append({"role": "qa", "text": f"{question} | {answer}",
                                           "reasons": bad})
        else:
            outcome.qa[index] = (question, answer)


def _keep_turns(outcome: Generated, task: CaptionTask, texts: list[str], max_words: int) -> None:
    """Keep each reworded conversation turn that passes check_turn; report the others."""
    for (index, prefix, original), text in zip(task.turns, texts, strict=False):
        text = text.strip()
        bad = check_turn(original, text, task.facts.vocabulary, max_words)
        if bad:
            outcome.rejected_texts.append({"role": "turn", "text": text, "reasons": bad})
        else:
            outcome.turns[index] = prefix + text


def generate(client: LLMClient, task: CaptionTask, max_words: int, repairs: int) -> Generated:
    """Ask for a caption and rewrites; keep the faithful ones; reject the record if no
    faithful caption comes back within `repairs` follow-up rounds."""
    outcome = Generated()
    conversation = task.messages
    last = "no_reply"
    for round_no in range(repairs + 1):
        outcome.rounds = round_no + 1
        try:
            reply = client.chat(conversation, task.schema, name="caption")
        except LLMError as exc:
            outcome.reason = f"llm_request_failed:{exc.reason}"
            outcome.failure = str(exc)
            return outcome
        data, problem = parse_reply(reply.content, task.schema)
        if problem is not None:
            last = "llm_" + problem.split(":", 1)[0]
            outcome.rejected_texts.append({"role": "reply", "text": reply.content[:2000],
                                           "reasons": [problem]})
            feedback = repair_message(problem, round_no + 2)
        else:
            problems = ordered(check_text(data["caption"].strip(), task.facts, max_words))
            if not problems:
                outcome.caption = data["caption"].strip()
                for text in data["rewrites"]:
                    text = text.strip()
                    bad = ordered(check_text(text, task.facts, max_words))
                    if text == outcome.caption or text in outcome.rewrites:
                        bad = bad + ["duplicate_text"]
                    if bad:
                        outcome.rejected_texts.append({"role": "rewrite", "text": text,
                                                       "reasons": bad})
                    else:
                        outcome.rewrites.append(text)
                _keep_qa(outcome, task, data.get("qa") or [], max_words)
                _keep_turns(outcome, task, data.get("turns") or [], max_words)
                for text in outcome.rejected_texts:  # QA and turn checks too
                    text["reasons"] = ordered(text["reasons"])
                return outcome
            last = "llm_unfaithful:" + problems[0].split(":", 1)[0]
            outcome.rejected_texts.append({"role": "caption", "text": data["caption"],
                                           "reasons": problems})
            feedback = repair_message(problems, round_no + 2)
        # the first request, the last reply and what was wrong with it: earlier rounds are
        # left out, so a repair never outgrows a small model's context
        conversation = [*task.messages, {"role": "assistant", "content": reply.content},
                        {"role": "user", "content": feedback}]
    outcome.reason = last
    return outcome

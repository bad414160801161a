"""Code-checkable constraints (IFEval-style) for the offline mixed-quality dataset.

A constraint is a JSON-serialisable dict with a ``type`` and its parameters, for example
``{"type": "uppercase"}`` or ``{"type": "bullet_count", "n": 3}``. ``verify(constraints, response)``
checks one assistant response against a list of them and returns one ``CheckResult`` per constraint.
"Pass" for a record means *every* constraint passes (``all_passed``).

New verifiers are registered with the ``@register("type_name")`` decorator; lesson 02 has an exercise
that adds one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

Constraint = Mapping[str, Any]
_Checker = Callable[[Constraint, str], "tuple[bool, str]"]

VERIFIERS: dict[str, _Checker] = {}
# Parameters each constraint type requires (validated by `constraint_problems`).
REQUIRED_PARAMS: dict[str, tuple[str, ...]] = {}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one constraint on one response: ``name`` is the constraint type."""

    name: str
    passed: bool
    detail: str = ""


def register(name: str, required: Sequence[str] = ()) -> Callable[[_Checker], _Checker]:
    """Decorator that registers ``fn(constraint, response) -> (passed, detail)`` under ``name``."""

    def deco(fn: _Checker) -> _Checker:
        VERIFIERS[name] = fn
        REQUIRED_PARAMS[name] = tuple(required)
        return fn

    return deco


_WORD = re.compile(r"[A-Za-z0-9']+")
_BULLET = re.compile(r"^\s*[-*\u2022]\s+\S")


def word_count(text: str) -> int:
    """Number of words (runs of letters, digits and apostrophes)."""
    return len(_WORD.findall(text))


def _strip_final_period(text: str) -> str:
    text = text.strip()
    return text[:-1].rstrip() if text.endswith(".") else text


@register("uppercase")
def _uppercase(c: Constraint, r: str) -> tuple[bool, str]:
    letters = [ch for ch in r if ch.isalpha()]
    if not letters:
        return False, "no letters"
    lower = sum(ch.islower() for ch in letters)
    return lower == 0, "all letters uppercase" if lower == 0 else f"{lower} lowercase letter(s)"


@register("lowercase")
def _lowercase(c: Constraint, r: str) -> tuple[bool, str]:
    letters = [ch for ch in r if ch.isalpha()]
    if not letters:
        return False, "no letters"
    upper = sum(ch.isupper() for ch in letters)
    return upper == 0, "all letters lowercase" if upper == 0 else f"{upper} uppercase letter(s)"


@register("bullet_count", required=("n",))
def _bullet_count(c: Constraint, r: str) -> tuple[bool, str]:
    lines = [line for line in r.splitlines() if line.strip()]
    bullets = sum(bool(_BULLET.match(line)) for line in lines)
    ok = bullets == c["n"] and bullets == len(lines)
    return ok, f"{bullets} bullet line(s) of {len(lines)} line(s), expected exactly {c['n']} bullets"


@register("json_keys", required=("keys",))
def _json_keys(c: Constraint, r: str) -> tuple[bool, str]:
    try:
        obj = json.loads(r.strip())
    except ValueError as exc:
        return False, f"not valid JSON ({exc.msg})"
    if not isinstance(obj, dict):
        return False, f"JSON is a {type(obj).__name__}, not an object"
    if set(obj) != set(c["keys"]):
        return False, f"keys {sorted(obj)} != expected {sorted(c['keys'])}"
    for key, value in (c.get("values") or {}).items():
        if obj.get(key) != value:
            return False, f"{key!r} is {obj.get(key)!r}, expected {value!r}"
    return True, "JSON object with the expected keys"


@register("max_words", required=("n",))
def _max_words(c: Constraint, r: str) -> tuple[bool, str]:
    n = word_count(r)
    return n <= c["n"], f"{n} words (limit {c['n']})"


@register("include_keywords", required=("keywords",))
def _include_keywords(c: Constraint, r: str) -> tuple[bool, str]:
    missing = [k for k in c["keywords"] if not re.search(rf"\b{re.escape(k)}\b", r, re.IGNORECASE)]
    return not missing, f"missing {missing}" if missing else "all keywords present"


@register("end_with", required=("phrase",))
def _end_with(c: Constraint, r: str) -> tuple[bool, str]:
    ok = r.strip().endswith(c["phrase"])
    return ok, "ends with the phrase" if ok else f"does not end with {c['phrase']!r}"


@register("exact_answer", required=("answer",))
def _exact_answer(c: Constraint, r: str) -> tuple[bool, str]:
    got = _strip_final_period(r)
    ok = got.casefold() == str(c["answer"]).casefold()
    return ok, "exact answer" if ok else f"got {got[:40]!r}, expected only {c['answer']!r}"


@register("exact_list", required=("items",))
def _exact_list(c: Constraint, r: str) -> tuple[bool, str]:
    got = [part.strip() for part in _strip_final_period(r).split(",")]
    want = [str(x) for x in c["items"]]
    return got == want, "exact list" if got == want else f"got {got}, expected {want}"


def parse_constraints(constraints: str | Iterable[Constraint]) -> list[dict[str, Any]]:
    """Constraints as a list of dicts; accepts the list itself or its JSON text (as stored in a Dataset)."""
    if isinstance(constraints, str):
        constraints = json.loads(constraints)
    return [dict(c) for c in constraints]


def constraint_problems(constraints: Any) -> list[tuple[str, str]]:
    """(field, problem) pairs for a malformed constraint list; empty when it is well formed."""
    if isinstance(constraints, str):
        try:
            constraints = json.loads(constraints)
        except ValueError:
            return [("constraints", "not valid JSON")]
    if not isinstance(constraints, list):
        return [("constraints", f"is {type(constraints).__name__}, expected a list")]
    problems = []
    for i, c in enumerate(constraints):
        field = f"constraints[{i}]"
        if not isinstance(c, dict):
            problems.append((field, f"is {type(c).__name__}, expected an object"))
        elif c.get("type") not in VERIFIERS:
            problems.append((f"{field}.type", f"unknown constraint type {c.get('type')!r}"))
        else:
            for p in REQUIRED_PARAMS[c["type"]]:
                if p not in c:
                    problems.append((f"{field}.{p}", f"missing parameter for {c['type']!r}"))
    return problems


def verify(constraints: str | Iterable[Constraint], response: str) -> list[CheckResult]:
    """Check ``response`` against every constraint; one ``CheckResult`` each, in order."""
    results = []
    for c in parse_constraints(constraints):
        checker = VERIFIERS.get(c.get("type", ""))
        if checker is None:
            results.append(CheckResult(str(c.get("type")), False, "unknown constraint type"))
            continue
        passed, detail = checker(c, response if isinstance(response, str) else "")
        results.append(CheckResult(c["type"], bool(passed), detail))
    return results


def all_passed(constraints: str | Iterable[Constraint], response: str) -> bool:
    """True when ``response`` satisfies every constraint (the prompt-level pass used everywhere)."""
    return all(r.passed for r in verify(constraints, response))


def assistant_turns(messages: Sequence[Mapping[str, str]]) -> list[str]:
    """The contents of the assistant turns, in order."""
    return [m["content"] for m in messages if m["role"] == "assistant"]


def record_passes(record: Mapping[str, Any]) -> bool:
    """True when every assistant turn of a training record satisfies its constraints.

    Uses ``turn_constraints`` (one list per assistant turn) when present, else ``constraints`` for the
    final assistant turn."""
    answers = assistant_turns(record["messages"])
    turn_constraints = record.get("turn_constraints")
    if turn_constraints is not None:
        if isinstance(turn_constraints, str):
            turn_constraints = json.loads(turn_constraints)
        pairs = list(zip(turn_constraints, answers))
    else:
        pairs = [(record.get("constraints") or [], answers[-1] if answers else "")]
    return all(all_passed(c, a) for c, a in pairs)


def pass_fraction(record: Mapping[str, Any]) -> float:
    """Fraction of the final answer's constraints that pass: a graded quality score for labeling."""
    answers = assistant_turns(record["messages"])
    results = verify(record.get("constraints") or [], answers[-1] if answers else "")
    return sum(r.passed for r in results) / len(results) if results else 0.0

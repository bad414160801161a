"""Conversation schema: read ShareGPT or role/content records, normalise them, and validate them.

Two input layouts are accepted:

* ShareGPT: ``{"id": ..., "conversations": [{"from": "human"|"gpt"|"system", "value": ...}],
  "model": ...}`` (``items`` is accepted as an alias of ``conversations``, ``source`` of ``model``);
* role/content: ``{"id": ..., "messages": [{"role": "system"|"user"|"assistant", "content": ...}],
  "source": ...}``.

Both normalise to ``{"id": str, "messages": [{"role", "content"}], "source": str | None, ...}`` with any
other fields (``family``, ``constraints``, ...) kept. Validation never drops a record silently: every
problem becomes a ``ValidationIssue`` (record index, id, field, message) in a ``ValidationReport``;
``on_error="fail"`` raises ``DataValidationError`` (which carries the report), ``on_error="skip"``
returns the good records and the report.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

from course_utils.data.conditions import DATA_CLASSES
from course_utils.paths import display_path
from course_utils.data.verifiers import constraint_problems

ROLE_ALIASES: dict[str, str] = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
}
Kind = Literal["train", "prompts"]
OnError = Literal["fail", "skip"]


@dataclass(frozen=True)
class ValidationIssue:
    """One problem: which record (0-based ``index`` and ``record_id``), which ``field``, what is wrong."""

    index: int
    record_id: str | None
    field: str
    message: str

    def __str__(self) -> str:
        rid = f" (id {self.record_id!r})" if self.record_id is not None else ""
        return f"record {self.index}{rid}: {self.field}: {self.message}"


@dataclass
class ValidationReport:
    """Everything validation found. ``valid_indices`` are the records that passed."""

    n_records: int = 0
    issues: list[ValidationIssue] = field(default_factory=list)
    valid_indices: list[int] = field(default_factory=list)
    source_name: str = ""

    @property
    def ok(self) -> bool:
        """True when no record has a problem."""
        return not self.issues

    @property
    def invalid_indices(self) -> list[int]:
        """Sorted indices of the records with at least one problem."""
        return sorted({i.index for i in self.issues})

    def format(self, max_issues: int | None = None) -> str:
        """A human-readable report: a summary line, then one line per problem."""
        name = f"{self.source_name}: " if self.source_name else ""
        lines = [
            f"{name}{self.n_records} record(s): {len(self.valid_indices)} valid, "
            f"{len(self.invalid_indices)} invalid, {len(self.issues)} problem(s)"
        ]
        shown = self.issues if max_issues is None else self.issues[:max_issues]
        lines += [f"  ERROR {issue}" for issue in shown]
        if len(shown) < len(self.issues):
            lines.append(f"  ... {len(self.issues) - len(shown)} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


class DataValidationError(ValueError):
    """Raised by ``on_error="fail"``; ``.report`` holds the full ``ValidationReport``."""

    def __init__(self, report: ValidationReport):
        super().__init__(report.format(max_issues=20))
        self.report = report


def _record_id(record: Any, index: int) -> str | None:
    if isinstance(record, dict) and isinstance(record.get("id"), (str, int)) and not isinstance(
        record.get("id"), bool
    ):
        return str(record["id"])
    return None


def check_record(
    record: Any,
    index: int,
    kind: Kind = "train",
    known_sources: Iterable[str] | None = None,
    require_source: bool = False,
) -> tuple[dict[str, Any] | None, list[ValidationIssue]]:
    """Normalise one record and list its problems. Returns ``(normalised or None, issues)``.

    ``kind="train"`` needs at least one assistant turn and must end on one; ``kind="prompts"`` (held-out
    evaluation prompts) must end on a user turn. ``known_sources``: if given, any other source is an error.
    """
    rid = _record_id(record, index)
    issues: list[ValidationIssue] = []

    def bad(fld: str, msg: str) -> None:
        issues.append(ValidationIssue(index, rid, fld, msg))

    if not isinstance(record, dict):
        bad("record", f"is {type(record).__name__}, expected a JSON object")
        return None, issues
    if "id" in record and rid is None:
        bad("id", f"is {type(record['id']).__name__}, expected a string")

    layouts = [k for k in ("messages", "conversations", "items") if k in record]
    if not layouts:
        bad("messages", "missing: expected 'messages' (role/content) or 'conversations' (ShareGPT)")
        return None, issues
    if len(layouts) > 1:
        bad(layouts[1], f"ambiguous: record has both {layouts[0]!r} and {layouts[1]!r}")
    key = layouts[0]
    sharegpt = key != "messages"
    role_key, content_key = ("from", "value") if sharegpt else ("role", "content")
    turns = record[key]
    if not isinstance(turns, list):
        bad(key, f"is {type(turns).__name__}, expected a list of turns")
        return None, issues
    if not turns:
        bad(key, "no turns")
        return None, issues

    messages: list[dict[str, str]] = []
    for t, turn in enumerate(turns):
        fld = f"{key}[{t}]"
        if not isinstance(turn, dict):
            bad(fld, f"is {type(turn).__name__}, expected an object")
            continue
        role = ROLE_ALIASES.get(turn.get(role_key)) if isinstance(turn.get(role_key), str) else None
        if role_key not in turn:
            bad(f"{fld}.{role_key}", "missing role")
        elif role is None:
            allowed = ", ".join(repr(r) for r in ROLE_ALIASES if (r in ("human", "gpt", "system")) == sharegpt)
            bad(f"{fld}.{role_key}", f"unknown role {turn[role_key]!r} (expected {allowed})")
        content = turn.get(content_key)
        if content_key not in turn:
            bad(f"{fld}.{content_key}", "missing content")
        elif not isinstance(content, str):
            bad(f"{fld}.{content_key}", f"content is {type(content).__name__}, expected a string")
        elif not content.strip():
            bad(f"{fld}.{content_key}", "empty turn")
        if role is not None:
            messages.append({"role": role, "content": content if isinstance(content, str) else ""})
    if issues:
        return None, issues

    # Structure: optional system first, then user/assistant alternating, starting with user.
    body = messages
    if messages[0]["role"] == "system":
        body = messages[1:]
    offset = len(messages) - len(body)
    for t, m in enumerate(body):
        if m["role"] == "system":
            bad(f"{key}[{t + offset}]", "system turn allowed only as the first turn")
    expected = "user"
    for t, m in enumerate(body):
        if m["role"] == "system":
            continue
        if m["role"] != expected:
            if t == 0:
                bad(f"{key}[{t + offset}]", f"conversation starts with {m['role']!r}, expected 'user'")
            else:
                bad(f"{key}[{t + offset}]", f"turns not alternating: two {m['role']!r} turns in a row")
            break
        expected = "assistant" if expected == "user" else "user"
    roles = [m["role"] for m in body]
    if kind == "train":
        if "assistant" not in roles:
            bad(key, "assistant turn missing")
        elif roles and roles[-1] != "assistant":
            bad(f"{key}[{len(messages) - 1}]", "conversation ends with a user turn (unanswered)")
    elif kind == "prompts":
        if not roles:
            bad(key, "no user turn")
        elif roles[-1] != "user":
            bad(f"{key}[{len(messages) - 1}]", "prompt must end with a user turn")

    source_key = "source" if "source" in record else ("model" if "model" in record else None)
    source = record.get(source_key) if source_key else None
    if source_key and not isinstance(source, str):
        bad(source_key, f"is {type(source).__name__}, expected a string")
        source = None
    elif source_key is None and require_source:
        bad("source", "missing source")
    elif source is not None and known_sources is not None and source not in set(known_sources):
        bad(source_key, f"unknown source {source!r}")

    if "weight" in record:
        weight = record["weight"]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            bad("weight", f"is {type(weight).__name__} {weight!r}, expected a number >= 0")
        elif not math.isfinite(weight) or weight < 0:
            bad("weight", f"is {weight!r}, expected a finite number >= 0")
    if "condition" in record and record["condition"] not in DATA_CLASSES:
        known = ", ".join(repr(c.value) for c in DATA_CLASSES)
        bad("condition", f"unknown class {record['condition']!r} (expected {known})")

    if "constraints" in record:

        for fld, msg in constraint_problems(record["constraints"]):
            bad(fld, msg)
    if "family" in record and not isinstance(record["family"], str):
        bad("family", f"is {type(record['family']).__name__}, expected a string")

    if issues:
        return None, issues
    normalised = {k: v for k, v in record.items() if k not in (key, "model", "source", "id")}
    normalised.update(id=rid if rid is not None else str(index), messages=messages, source=source)
    return normalised, issues


def validate_records(
    records: Iterable[Any],
    on_error: OnError = "fail",
    kind: Kind = "train",
    known_sources: Iterable[str] | None = None,
    require_source: bool = False,
    source_name: str = "",
) -> tuple[list[dict[str, Any]], ValidationReport]:
    """Validate and normalise ``records``. Returns ``(good_records, report)``.

    ``on_error="fail"`` raises ``DataValidationError`` (with ``.report``) if any record is invalid;
    ``on_error="skip"`` returns only the good records, and the report lists every skipped one.
    Duplicated ids are reported on each repeat.
    """
    if on_error not in ("fail", "skip"):
        raise ValueError(f"on_error must be 'fail' or 'skip', not {on_error!r}")
    known = set(known_sources) if known_sources is not None else None
    report = ValidationReport(source_name=source_name)
    good: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, record in enumerate(records):
        report.n_records += 1
        if isinstance(record, _ParseFailure):
            report.issues.append(ValidationIssue(index, None, f"line {record.line}", record.message))
            continue
        norm, issues = check_record(record, index, kind, known, require_source)
        rid = _record_id(record, index)
        if rid is not None:
            if rid in seen:
                issues.append(ValidationIssue(index, rid, "id", f"duplicated id (first used by record {seen[rid]})"))
                norm = None
            else:
                seen[rid] = index
        report.issues.extend(issues)
        if norm is not None:
            report.valid_indices.append(index)
            good.append(norm)
    if on_error == "fail" and not report.ok:
        raise DataValidationError(report)
    return good, report


@dataclass(frozen=True)
class _ParseFailure:
    """Placeholder for a JSONL line that is not valid JSON (validation reports it)."""

    line: int
    message: str


def read_records(path: str | Path) -> list[Any]:
    """Read a ``.jsonl`` file (one record per line) or a ``.json`` file holding a list of records.

    Lines that are not valid JSON come back as placeholders that ``validate_records`` reports with their
    line number, so a broken line never hides the rest of the file."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        if isinstance(data, dict):
            data = data.get("data", data.get("records", [data]))
        return list(data)
    records: list[Any] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError as exc:
            records.append(_ParseFailure(n, f"invalid JSON: {exc}"))
    return records


def write_jsonl(records: Iterable[dict[str, Any]], path: str | Path) -> None:
    """Write records one per line, deterministically (sorted keys, UTF-8, ``\\n`` line endings)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")


def validate_file(
    path: str | Path,
    on_error: OnError = "skip",
    kind: Kind | None = None,
    known_sources: Iterable[str] | None = None,
    require_source: bool = False,
) -> tuple[list[dict[str, Any]], ValidationReport]:
    """Read and validate a file. ``kind=None`` guesses: files named ``eval*``, ``val*`` or ``*prompts*`` hold prompts."""
    path = Path(path)
    if kind is None:
        kind = "prompts" if path.stem.startswith(("eval", "val")) or "prompts" in path.stem else "train"
    return validate_records(
        read_records(path), on_error, kind, known_sources, require_source, source_name=display_path(path)
    )


def validate_facts_file(path: str | Path) -> ValidationReport:
    """Check a fact table (the shipped ``facts.json``): every entry has a non-empty string for each field."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    facts = data.get("facts", {})
    report = ValidationReport(n_records=len(facts), source_name=display_path(path))
    if not isinstance(facts, dict) or not facts:
        report.issues.append(ValidationIssue(0, None, "facts", "missing or empty fact table"))
        return report
    for i, (entity, entry) in enumerate(facts.items()):
        bad = [f for f in data.get("fields", []) if not isinstance(entry, dict) or not str(entry.get(f, "")).strip()]
        report.issues += [ValidationIssue(i, entity, f"facts.{f}", "missing or empty") for f in bad]
        if not bad:
            report.valid_indices.append(i)
    return report

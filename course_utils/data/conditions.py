"""The vocabulary of data classes and prompt conditions, shared by data, training, inference and evaluation.

A *data class* is the quality label of a conversation (expert or sub-optimal). A *condition* is what a prompt
is rendered under: one of the two classes, or the neutral prefix (plain ``User:`` / ``Assistant:``) that the
unconditioned baselines train and are evaluated with. This module imports nothing heavy, so data commands can
use it without loading torch."""

from __future__ import annotations

from enum import StrEnum


class Condition(StrEnum):
    """A prompt condition; its value is the name used in data files, configs and on the command line."""

    EXPERT = "expert"
    SUBOPTIMAL = "suboptimal"
    NEUTRAL = "neutral"


#: The conditions that are data classes (carry a reward); NEUTRAL is a rendering choice, not a class.
DATA_CLASSES: tuple[Condition, ...] = (Condition.EXPERT, Condition.SUBOPTIMAL)
#: Condition -> string written into every role prefix (OpenChat 3.5 naming for the expert class).
PREFIXES: dict[Condition, str] = {Condition.EXPERT: "GPT4 Correct", Condition.SUBOPTIMAL: "GPT3",
                                  Condition.NEUTRAL: ""}
#: Accepted spellings besides the values (the command line's ``--condition none``).
ALIASES: dict[str, Condition] = {"none": Condition.NEUTRAL}


def parse_condition(name: str | Condition) -> Condition:
    """The condition called `name` (a value or an alias); a clear error for anything else."""
    if isinstance(name, Condition):
        return name
    if isinstance(name, str):
        key = name.strip().lower()
        if key in ALIASES:
            return ALIASES[key]
        try:
            return Condition(key)
        except ValueError:
            pass
    allowed = ", ".join([*(c.value for c in Condition), *ALIASES])
    raise ValueError(f"unknown condition {name!r}; choose one of: {allowed}")


def class_index(name: str) -> int:
    """Stable integer id of a data class (its position in :data:`DATA_CLASSES`); -1 for anything else."""
    return DATA_CLASSES.index(name) if name in DATA_CLASSES else -1

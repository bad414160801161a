"""LLM-as-judge, MT-bench style: single-answer grading on a 1-10 scale and pairwise comparison (win
rate), with a pluggable judge.

A judge is anything with `complete_many(list_of_message_lists) -> list[str]`:
- `TransformersJudge`: a local transformers model (the offline SmolLM2-135M here, a large instruct
  model on a GPU), batched greedy decoding through `course_utils.inference.generation.generate`;
- `OpenAIJudge`: any OpenAI-compatible chat-completions endpoint (OpenAI, a vLLM server, ...),
  standard library HTTP only.

The prompts are MT-bench's (FastChat `judge_prompts.jsonl`, "single-v1" and "pair-v2"). Verdicts are
parsed strictly (`[[7]]`, `[[A]]`) with a lenient fallback (`Rating: 7`); what cannot be parsed is
counted as such, never guessed. Pairwise comparison asks twice with the answers swapped (position
bias) and calls a tie when the two verdicts disagree, as MT-bench does.

A 135M-parameter judge is a weak judge: it follows the format unreliably and its grades barely track
quality. It is here to exercise the pipeline end to end offline; trust the code-checked verifiers
(`course_utils.evaluation.metrics`) for conclusions, and use a strong judge for open-ended answers.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from course_utils.data.conditions import Condition

Messages = list[dict[str, str]]

SINGLE_SYSTEM = "You are a helpful assistant."
SINGLE_TEMPLATE = (
    "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response provided by an "
    "AI assistant to the user question displayed below. Your evaluation should consider factors such as the "
    "helpfulness, relevance, accuracy, depth, creativity, and level of detail of the response. Begin your "
    "evaluation by providing a short explanation. Be as objective as possible. After providing your "
    "explanation, you must rate the response on a scale of 1 to 10 by strictly following this format: "
    '"[[rating]]", for example: "Rating: [[5]]".\n\n[Question]\n{question}\n\n'
    "[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
)
PAIR_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants "
    "to the user question displayed below. You should choose the assistant that follows the user's "
    "instructions and answers the user's question better. Your evaluation should consider factors such as the "
    "helpfulness, relevance, accuracy, depth, creativity, and level of detail of their responses. Begin your "
    "evaluation by comparing the two responses and provide a short explanation. Avoid any position biases and "
    "ensure that the order in which the responses were presented does not influence your decision. Do not "
    "allow the length of the responses to influence your evaluation. Do not favor certain names of the "
    "assistants. Be as objective as possible. After providing your explanation, output your final verdict by "
    'strictly following this format: "[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and '
    '"[[C]]" for a tie.'
)
PAIR_TEMPLATE = (
    "[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{answer_a}\n"
    "[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n{answer_b}\n"
    "[The End of Assistant B's Answer]"
)


class Judge(Protocol):
    """What a judge must provide: answers to a batch of chat conversations."""

    name: str

    def complete_many(self, conversations: Sequence[Messages]) -> list[str]: ...


class TransformersJudge:
    """A local causal LM as judge, prompted with its own chat template (greedy, batched).

    `forced=True` skips the explanation and reads the verdict straight from the next-token
    probabilities after the answer prefix (`Rating: [[` -> 1..10, `[[` -> A/B/C): a small model then
    always gives a verdict in format, which makes its (weak) opinion measurable instead of unparseable.
    """

    def __init__(
        self, model, tokenizer, max_new_tokens: int = 160, batch_size: int = 8, name: str | None = None,
        forced: bool = False,
    ):
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.batch_size, self.forced = max_new_tokens, batch_size, forced
        self.name = name or getattr(model.config, "_name_or_path", "local-model")

    def _next_logprobs(self, texts: list[str]):
        """Log-probabilities of the next token after each text (left-padded batch)."""
        import torch

        tok = self.tokenizer
        old, tok.padding_side = tok.padding_side, "left"
        try:
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        finally:
            tok.padding_side = old
        enc = enc.to(next(self.model.parameters()).device)
        with torch.inference_mode():
            logits = self.model(**enc).logits[:, -1, :].float()
        return torch.log_softmax(logits, dim=-1)

    def _forced_many(self, conversations: Sequence[Messages]) -> list[str]:
        tok = self.tokenizer
        out: list[str] = []
        for start in range(0, len(conversations), self.batch_size):
            convs = conversations[start : start + self.batch_size]
            pair = [c[0]["content"] == PAIR_SYSTEM for c in convs]
            prefix = ["[[" if p else "Rating: [[" for p in pair]
            base = [
                tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) + pre
                for c, pre in zip(convs, prefix)
            ]
            lp = self._next_logprobs(base)
            lp_one = self._next_logprobs([b + "1" for b in base])
            digit = tok.convert_tokens_to_ids([str(d) for d in range(1, 10)])
            abc = tok.convert_tokens_to_ids(["A", "B", "C"])
            zero, close = tok.convert_tokens_to_ids("0"), tok("]]", add_special_tokens=False)["input_ids"][0]
            for i, (is_pair, pre) in enumerate(zip(pair, prefix)):
                if is_pair:
                    choice = "ABC"[int(lp[i, abc].argmax())]
                else:
                    scores = lp[i, digit].clone()
                    one_then_close = scores[0] + lp_one[i, close]
                    ten = scores[0] + lp_one[i, zero]
                    scores[0] = one_then_close
                    values = list(range(1, 10)) + [10]
                    import torch

                    choice = str(values[int(torch.cat([scores, ten.view(1)]).argmax())])
                out.append(f"(forced choice) {pre.strip()}{choice}]]")
        return out

    def complete_many(self, conversations: Sequence[Messages]) -> list[str]:
        """Greedy answers under the model's own template (no C-RLFT condition)."""
        from course_utils.inference.generation import generate

        if self.forced:
            return self._forced_many(conversations)

        return generate(
            self.model,
            self.tokenizer,
            list(conversations),
            condition=Condition.NEUTRAL,  # the judge's own template ignores it
            max_new_tokens=self.max_new_tokens,
            batch_size=self.batch_size,
        )


class OpenAIJudge:
    """A judge behind an OpenAI-compatible `/v1/chat/completions` endpoint (temperature 0).

    `base_url` like `https://api.openai.com/v1` or `http://localhost:8000/v1` (vLLM)."""

    def __init__(
        self, model: str, base_url: str = "https://api.openai.com/v1", api_key: str | None = None,
        max_tokens: int = 512, timeout: float = 120.0,
    ):
        import os

        self.name, self.base_url = model, base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "EMPTY")
        self.max_tokens, self.timeout = max_tokens, timeout

    def complete(self, messages: Messages) -> str:
        """One chat completion."""
        body = json.dumps(
            {"model": self.name, "messages": messages, "temperature": 0, "max_tokens": self.max_tokens}
        ).encode()
        req = urllib.request.Request(
            f"{self.base_url}/chat/completions",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"},
        )
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            return json.load(resp)["choices"][0]["message"]["content"]

    def complete_many(self, conversations: Sequence[Messages]) -> list[str]:
        """One request per conversation, in order."""
        return [self.complete(m) for m in conversations]


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------
_STRICT_RATING = re.compile(r"\[\[(\d+(?:\.\d+)?)\]\]")
_LOOSE_RATING = re.compile(r"[Rr]ating\s*[:=]?\s*\[?\s*(\d+(?:\.\d+)?)")
_STRICT_VERDICT = re.compile(r"\[\[([ABC])\]\]")


def parse_rating(text: str) -> tuple[float | None, bool]:
    """(score in 1..10 or None, whether the strict `[[n]]` format was followed)."""
    for pattern, strict in ((_STRICT_RATING, True), (_LOOSE_RATING, False)):
        m = pattern.search(text)
        if m:
            value = float(m.group(1))
            if 1 <= value <= 10:
                return value, strict
    return None, False


def parse_verdict(text: str) -> str | None:
    """'A', 'B', 'tie' or None (unparseable)."""
    m = _STRICT_VERDICT.search(text)
    if not m:
        return None
    return {"A": "A", "B": "B", "C": "tie"}[m.group(1)]


# --------------------------------------------------------------------------------------------------
# Single-answer grading
# --------------------------------------------------------------------------------------------------
@dataclass
class Grade:
    """A judge's 1-10 grade of one answer (None when its output had no parseable rating)."""

    score: float | None
    strict_format: bool
    raw: str


def single_prompt(question: str, answer: str) -> Messages:
    """MT-bench's single-answer grading conversation."""
    return [
        {"role": "system", "content": SINGLE_SYSTEM},
        {"role": "user", "content": SINGLE_TEMPLATE.format(question=question, answer=answer)},
    ]


def grade_answers(judge: Judge, questions: Sequence[str], answers: Sequence[str]) -> list[Grade]:
    """Grade each answer to its question on 1-10."""
    raws = judge.complete_many([single_prompt(q, a) for q, a in zip(questions, answers)])
    return [Grade(*parse_rating(r), raw=r) for r in raws]


@dataclass
class GradeSummary:
    """Mean grade over the parseable grades, and how many grades could be parsed at all."""

    mean: float | None
    n: int
    parsed: int
    strict: int
    scores: list[float] = field(default_factory=list)


def summarize_grades(grades: Sequence[Grade]) -> GradeSummary:
    """Mean score over parsed grades, with parse counts (a weak judge often ignores the format)."""
    scores = [g.score for g in grades if g.score is not None]
    mean = sum(scores) / len(scores) if scores else None
    return GradeSummary(mean, len(grades), len(scores), sum(g.strict_format for g in grades), scores)


# --------------------------------------------------------------------------------------------------
# Pairwise comparison
# --------------------------------------------------------------------------------------------------
@dataclass
class PairVerdict:
    """Outcome for answer A against answer B: 'A', 'B', 'tie' or None (neither order parseable)."""

    winner: str | None
    verdict_ab: str | None
    verdict_ba: str | None
    raw: tuple[str, str]


def pair_prompt(question: str, answer_a: str, answer_b: str) -> Messages:
    """MT-bench's pairwise conversation (A shown first)."""
    return [
        {"role": "system", "content": PAIR_SYSTEM},
        {"role": "user", "content": PAIR_TEMPLATE.format(question=question, answer_a=answer_a, answer_b=answer_b)},
    ]


def _combine(ab: str | None, ba: str | None) -> str | None:
    """Merge the verdict in the original order and in the swapped order (given in swapped labels)."""
    ba_unswapped = {"A": "B", "B": "A", "tie": "tie", None: None}[ba]
    if ab is None and ba_unswapped is None:
        return None
    if ab is None or ba_unswapped is None:
        return ab or ba_unswapped
    return ab if ab == ba_unswapped else "tie"


def compare_answers(
    judge: Judge, questions: Sequence[str], answers_a: Sequence[str], answers_b: Sequence[str], swap: bool = True
) -> list[PairVerdict]:
    """Judge A against B for each question; with `swap`, also B against A, a disagreement being a tie."""
    convs = [pair_prompt(q, a, b) for q, a, b in zip(questions, answers_a, answers_b)]
    if swap:
        convs += [pair_prompt(q, b, a) for q, a, b in zip(questions, answers_a, answers_b)]
    raws = judge.complete_many(convs)
    n = len(questions)
    out = []
    for i in range(n):
        ab = parse_verdict(raws[i])
        if swap:
            ba = parse_verdict(raws[n + i])
            out.append(PairVerdict(_combine(ab, ba), ab, ba, (raws[i], raws[n + i])))
        else:
            out.append(PairVerdict(ab, ab, None, (raws[i], "")))
    return out


def win_rate(verdicts: Sequence[PairVerdict]) -> dict[str, float]:
    """Wins/losses/ties of A, unparsed count, and A's win rate (a tie counts half) over parsed verdicts."""
    wins = sum(v.winner == "A" for v in verdicts)
    losses = sum(v.winner == "B" for v in verdicts)
    ties = sum(v.winner == "tie" for v in verdicts)
    parsed = wins + losses + ties
    rate = (wins + 0.5 * ties) / parsed if parsed else float("nan")
    return {"wins": wins, "losses": losses, "ties": ties, "unparsed": len(verdicts) - parsed, "win_rate": rate}

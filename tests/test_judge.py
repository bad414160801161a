"""LLM-as-judge: MT-bench verdict parsing, position-swap logic, win rate, the OpenAI-compatible client
(against a local stub server) and the offline model as a real judge."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from course_utils.evaluation import judge as jd


class _FixedJudge:
    """A judge that answers from a function of the conversation."""

    name = "fixed"

    def __init__(self, fn):
        self.fn = fn

    def complete_many(self, conversations):
        return [self.fn(c) for c in conversations]


def test_rating_parsing_is_strict_first_and_never_guesses():
    """`[[n]]` wins, `Rating: n` is a lenient fallback, anything else (or out of range) is None."""
    assert jd.parse_rating("Fine answer. Rating: [[7]]") == (7.0, True)
    assert jd.parse_rating("Rating: 4/10") == (4.0, False)
    assert jd.parse_rating("The answer is 7.") == (None, False)
    assert jd.parse_rating("[[11]]") == (None, False)
    assert jd.parse_verdict("so [[C]]") == "tie" and jd.parse_verdict("A is better") is None


def test_pairwise_swaps_positions_and_calls_disagreement_a_tie():
    """A judge that always prefers the first answer shown has no real preference: every pair is a tie."""
    first = _FixedJudge(lambda c: "[[A]]")
    verdicts = jd.compare_answers(first, ["q1", "q2"], ["good", "good"], ["bad", "bad"])
    assert [v.winner for v in verdicts] == ["tie", "tie"]
    consistent = _FixedJudge(lambda c: "[[A]]" if c[1]["content"].index("good") < c[1]["content"].index("bad") else "[[B]]")
    verdicts = jd.compare_answers(consistent, ["q1", "q2"], ["good", "bad"], ["bad", "good"])
    assert [v.winner for v in verdicts] == ["A", "B"]
    rate = jd.win_rate(verdicts + [jd.PairVerdict(None, None, None, ("", ""))])
    assert rate == {"wins": 1, "losses": 1, "ties": 0, "unparsed": 1, "win_rate": 0.5}


def test_single_grades_summary_counts_unparsed():
    """The mean grade uses parsed grades only and reports how many could not be parsed."""
    j = _FixedJudge(lambda c: "Rating: [[8]]" if "good" in c[1]["content"] else "no idea")
    grades = jd.grade_answers(j, ["q", "q"], ["good", "bad"])
    s = jd.summarize_grades(grades)
    assert (s.mean, s.n, s.parsed, s.strict) == (8.0, 2, 1, 1)
    assert "[Question]\nq" in jd.single_prompt("q", "a")[1]["content"]


def test_openai_compatible_judge_speaks_chat_completions():
    """The endpoint client posts model/messages/temperature 0 and reads choices[0].message.content."""
    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen["path"] = self.path
            seen["auth"] = self.headers.get("Authorization")
            seen["body"] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": "ok [[9]]"}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        j = jd.OpenAIJudge("judge-model", base_url=f"http://127.0.0.1:{server.server_port}/v1", api_key="k")
        grades = jd.grade_answers(j, ["2+2?"], ["4"])
    finally:
        server.shutdown()
    assert grades[0].score == 9.0
    assert seen["path"] == "/v1/chat/completions" and seen["auth"] == "Bearer k"
    assert seen["body"]["model"] == "judge-model" and seen["body"]["temperature"] == 0


@pytest.fixture(scope="module")
def offline_judge_model():
    from course_utils.hardware.models import load_model_and_tokenizer

    return load_model_and_tokenizer(precision="fp32")


def test_offline_model_judges_for_real(offline_judge_model):
    """The real offline model runs as judge: free-form (format often ignored) and forced-choice (always parsed)."""
    model, tok = offline_judge_model
    free = jd.TransformersJudge(model, tok, max_new_tokens=24)
    grade = jd.grade_answers(free, ["What is the capital of France?"], ["Paris."])[0]
    assert grade.raw.strip()
    assert grade.score is None or 1 <= grade.score <= 10
    forced = jd.TransformersJudge(model, tok, forced=True)
    grades = jd.grade_answers(forced, ["What is the capital of France?"], ["Paris."])
    verdict = jd.compare_answers(forced, ["What is 2+2?"], ["4"], ["7"])[0]
    assert grades[0].strict_format and 1 <= grades[0].score <= 10
    assert verdict.verdict_ab in ("A", "B", "tie") and verdict.winner in ("A", "B", "tie")

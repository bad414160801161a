"""Exercises that check themselves.

Each lesson ends with a few exercises, identified as ``"LL.k"`` (lesson, number) and graded in three tiers:
``warm-up`` (read it off the lesson), ``core`` (compute or write something small) and ``stretch`` (think one step
further). In a notebook::

    from course_utils.course.exercises import check
    answer = None  # your answer
    check("03.2", answer)

:func:`check` prints specific feedback (what is right, or what is wrong with a hint) and returns True or False; it
never raises on a wrong answer, and ``None`` means "not answered yet". Answers are small: a number, a string, a
short list, or a function the checker calls on tiny inputs, so checking is instant. Every expected value is
computed from the course's own code (profiles, memory estimator, tokenizer, methods, evaluation), not copied.
Worked solutions live in ``solutions/NN_solutions.ipynb``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Callable

TIERS = ("warm-up", "core", "stretch")

#: A checker takes the answer and returns (correct?, feedback). It may raise: check() reports the exception.
Checker = Callable[[Any], "tuple[bool, str]"]


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id (``"03.2"``), tier, one-line statement and checker."""

    id: str
    tier: str
    statement: str
    checker: Checker

    @property
    def lesson(self) -> str:
        """The lesson number, e.g. ``"03"``."""
        return self.id.split(".")[0]


EXERCISES: dict[str, Exercise] = {}


def exercise(id: str, tier: str, statement: str) -> Callable[[Checker], Checker]:
    """Register the decorated checker as exercise `id`."""
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; choose one of {TIERS}")

    def register(checker: Checker) -> Checker:
        if id in EXERCISES:
            raise ValueError(f"exercise {id!r} is registered twice")
        EXERCISES[id] = Exercise(id, tier, statement, checker)
        return checker

    return register


# ---- helpers --------------------------------------------------------------------------------------------------
def _number(answer: Any) -> float:
    """`answer` as a float (ints, floats, numpy and 0-d torch values); TypeError otherwise."""
    if isinstance(answer, bool):
        raise TypeError("a number is expected, not True/False")
    if hasattr(answer, "item"):
        answer = answer.item()
    if isinstance(answer, str):
        raise TypeError(f"a number is expected, not the string {answer!r}")
    return float(answer)


def _close(answer: Any, truth: float, tol: float, hint: str, unit: str = "") -> tuple[bool, str]:
    """Correct when |answer - truth| <= tol."""
    value = _number(answer)
    if abs(value - truth) <= tol:
        return True, f"{value:g}{unit} is right (expected {truth:.6g}{unit}, tolerance {tol:g})."
    return False, f"{value:g}{unit} is not it. Hint: {hint}"


def _text(answer: Any) -> str:
    """A string answer, normalised (stripped, lower case, `_` read as `-`)."""
    if not isinstance(answer, str):
        raise TypeError(f"a string is expected, not {type(answer).__name__}")
    return answer.strip().strip("`'\"").strip().lower().replace("_", "-")


def _prediction(answer: Any, choices: tuple[str, ...], *fields: str) -> str | None:
    """The feedback when a hands-on answer is not ``{'prediction': one of choices, <fields>...}``, else None."""
    keys = ("prediction", *fields)
    if not isinstance(answer, dict) or set(answer) != set(keys):
        return "answer with a dict: {" + ", ".join(f"'{k}': ..." for k in keys) + "}."
    if answer["prediction"] not in choices:
        return f"the prediction is one of {', '.join(repr(c) for c in choices)}."
    return None


def _field(measured: Any, name: str) -> Any:
    """A field of a measured difference given as an `Accuracy` or as its dict form."""
    return measured[name] if isinstance(measured, dict) else getattr(measured, name)


def interval_verdict(difference: Any, above: str, below: str, neither: str = "same") -> str:
    """What a measured difference (an `Accuracy` or a dict with ``low`` and ``high``) says: `above` when its 95 %
    interval lies above 0, `below` when below, else `neither`: the run's own interval is the tolerance."""
    return above if _field(difference, "low") > 0 else below if _field(difference, "high") < 0 else neither


def _regenerated(answer: Any, regime_name: str) -> tuple[list[dict], Any] | str:
    """The records of a hands-on answer that regenerated `regime_name`'s training set, with that regime; or the
    feedback when they cannot be (the wrong size)."""
    from course_utils.data.regimes import regime

    records, chosen = list(answer["records"]), regime(regime_name)
    if len(records) != chosen.config.n_train:
        return f"{len(records)} records: regenerate the training set at the regime's size, {chosen.config.n_train}."
    return records, chosen


def _graded(prediction: str, measured: str, what: str, why: str) -> tuple[bool, str]:
    """Feedback on a prediction against what the run measured."""
    if prediction == measured:
        return True, f"{measured}, as you predicted: {what}. {why}"
    return False, f"measured {measured!r}, not {prediction!r}: {what}. Hint: {why}"


@functools.lru_cache(maxsize=1)
def _offline_tokenizer():
    """The offline model's tokenizer, loaded once (as lesson 01 loads it)."""
    from course_utils.hardware.models import load_tokenizer
    from course_utils.hardware.profiles import OFFLINE_MODEL_ID

    return load_tokenizer(OFFLINE_MODEL_ID)


# ---- lesson 00: setup and profiles -----------------------------------------------------------------------------
@exercise("00.1", "warm-up", "Which profile does a machine without CUDA get? (a profile name)")
def _00_1(answer: Any) -> tuple[bool, str]:
    if _text(answer) == "cpu":
        return True, "no CUDA -> `cpu`: the offline 135M model, NF4 base, fp32 compute (bf16 on a CPU with native bf16)."
    return False, "hint: read `detect_profile_name` in course_utils/hardware/profiles.py: what does it return without CUDA?"


@exercise("00.2", "warm-up", "Which profile is auto-detected on a free Colab T4 (16 GB)? (a profile name)")
def _00_2(answer: Any) -> tuple[bool, str]:
    from course_utils.hardware.profiles import PROFILES, WORKSHOP_MAX_GB

    name = _text(answer)
    if name == "workshop":
        return True, (f"GPUs of up to {WORKSHOP_MAX_GB:g} GiB get `workshop`: the offline model on the GPU, no "
                      "download. `t4` (a 1.7B hub model) is chosen only by name.")
    if name == "t4":
        return False, ("`t4` exists but is only used when you ask for it (COURSE_PROFILE=t4). Hint: look at "
                       "WORKSHOP_MAX_GB in course_utils/hardware/profiles.py.")
    if name not in PROFILES:
        return False, f"{name!r} is not a profile; the profiles are {', '.join(PROFILES)}."
    return False, "hint: a T4 has 16 GB; read `detect_profile_name` in course_utils/hardware/profiles.py."


@exercise("00.3", "core", "How many sequences per optimiser step (on one device) does the `t4` profile train on?")
def _00_3(answer: Any) -> tuple[bool, str]:
    from course_utils.hardware.profiles import PROFILES

    p = PROFILES["t4"]
    value = _number(answer)
    if value == p.effective_batch_size:
        return True, f"batch {p.batch_size} x gradient accumulation {p.grad_accum} = {p.effective_batch_size}."
    if value == p.batch_size:
        return False, "that is the micro-batch; hint: gradient accumulation adds micro-batches into one step."
    return False, "hint: `PROFILES['t4'].effective_batch_size` = batch_size x grad_accum."


@exercise("00.4", "core", "Which compute dtype does `workshop` use on a T4 (compute capability 7.5)? (\"fp16\" or \"bf16\")")
def _00_4(answer: Any) -> tuple[bool, str]:
    name = _text(str(answer).replace("torch.", "")) if answer is not None else ""
    if name in ("fp16", "float16", "half"):
        return True, "fp16: bf16 needs compute capability >= 8 (Ampere); a T4 would only emulate it, slowly."
    if name in ("bf16", "bfloat16"):
        return False, "bf16 is chosen only from compute capability 8 (Ampere) on; hint: see `_for_this_machine`."
    return False, "answer with a dtype name such as \"fp16\" or \"bf16\"; hint: see `_for_this_machine`."


@exercise("00.5", "stretch", "Bytes per trainable LoRA parameter in `estimate_memory` with the optimiser `adamw_torch`?")
def _00_5(answer: Any) -> tuple[bool, str]:
    from course_utils.hardware.memory import OPTIMIZER_BYTES

    truth = 4 + 4 + OPTIMIZER_BYTES["adamw_torch"]
    value = _number(answer)
    if value == truth:
        return True, f"fp32 weight 4 + fp32 gradient 4 + AdamW's two fp32 moments 8 = {truth:g} bytes."
    if value == OPTIMIZER_BYTES["adamw_torch"]:
        return False, "that is the optimiser state alone; hint: the weight and its gradient are stored too."
    return False, "hint: weight + gradient + optimiser state, all fp32 (see `estimate_memory`, `OPTIMIZER_BYTES`)."


# ---- lesson 01: the base model ----------------------------------------------------------------------------------
@exercise("01.1", "warm-up", "What is the begin-of-sequence (BOS) token of SmolLM2's tokenizer? (the token string)")
def _01_1(answer: Any) -> tuple[bool, str]:
    bos = _offline_tokenizer().bos_token
    given = str(answer).strip()
    if given == bos:
        return True, f"{bos!r}: SmolLM2 opens the sequence with it (the paper's Llama tokenizer writes '<s>')."
    if given == "<s>":
        return False, "'<s>' is Llama's BOS (the paper's prompts); hint: print `tokenizer.bos_token` for SmolLM2."
    return False, "hint: print `tokenizer.bos_token`."


EXERCISE_01_2_TEXT = "GPT4 Correct Assistant: 1, 2, 3"


@exercise("01.2", "core", f"How many tokens is {EXERCISE_01_2_TEXT!r} (tokenizer(text, add_special_tokens=False))?")
def _01_2(answer: Any) -> tuple[bool, str]:
    tokenizer = _offline_tokenizer()
    ids = tokenizer(EXERCISE_01_2_TEXT, add_special_tokens=False)["input_ids"]
    value = _number(answer)
    if value == len(ids):
        return True, f"{len(ids)} tokens: {tokenizer.convert_ids_to_tokens(ids)}."
    if value == len(EXERCISE_01_2_TEXT.split()):
        return False, "that counts words; hint: tokens are sub-word pieces, often with the space attached."
    return False, "hint: `len(tokenizer(text, add_special_tokens=False)['input_ids'])`."


@exercise("01.3", "core", "Sampling with temperature going to 0 becomes which decoding strategy? (one word)")
def _01_3(answer: Any) -> tuple[bool, str]:
    text = _text(answer)
    if "greedy" in text or "argmax" in text:
        return True, "greedy: dividing the logits by T -> 0 puts all the probability on the most likely token."
    return False, "hint: logits / T with T small makes the largest logit dominate the softmax completely."


@exercise("01.4", "stretch", "How many parameters does the offline model have? (count_params(model_config(...)).total; 1 % tolerance)")
def _01_4(answer: Any) -> tuple[bool, str]:
    from course_utils.hardware.memory import count_params, model_config
    from course_utils.hardware.profiles import OFFLINE_MODEL_ID

    counts = count_params(model_config(OFFLINE_MODEL_ID))
    value = _number(answer)
    if abs(value - counts.total) <= 0.01 * counts.total:
        return True, (f"about {counts.total / 1e6:.1f} M, of which {counts.other / 1e6:.1f} M are the (tied) "
                      "embedding and norms: a 49k vocabulary is a large share of a small model.")
    if abs(value - counts.linear) <= 0.01 * counts.linear:
        return False, "that is only the linear layers; hint: the embedding matrix counts too (`.total`)."
    return False, "hint: `count_params(model_config('offline/SmolLM2-135M-Instruct')).total` (course_utils.hardware.memory)."


# ---- lesson 02: mixed-quality data -------------------------------------------------------------------------------
@exercise("02.1", "warm-up", "What weight does a sub-optimal token get relative to an expert one (default labeling)?")
def _02_1(answer: Any) -> tuple[bool, str]:
    from course_utils.data.labeling import PAPER_CLASS_WEIGHTS

    truth = PAPER_CLASS_WEIGHTS["suboptimal"] / PAPER_CLASS_WEIGHTS["expert"]
    value = _number(answer)
    if math.isclose(value, truth, rel_tol=1e-6):
        return True, f"{truth:g}: weights 1.0 (expert) and 0.1 (sub-optimal), PAPER_CLASS_WEIGHTS."
    if math.isclose(value, 1 / truth, rel_tol=1e-6):
        return False, "that is expert relative to sub-optimal; hint: the question asks the other way round."
    return False, "hint: look at PAPER_CLASS_WEIGHTS in course_utils/data/labeling.py."


@exercise("02.2", "core", "Which beta makes exp(1/beta) / exp(0.1/beta) = 10? (a number, tolerance 0.005)")
def _02_2(answer: Any) -> tuple[bool, str]:
    return _close(answer, 0.9 / math.log(10), 0.005,
                  "the ratio is exp(0.9 / beta); solve exp(0.9 / beta) = 10 for beta (docs/method.md section 4).")


@exercise("02.3", "core", "Weight of the end-of-turn token that closes a sub-optimal assistant answer? (a number)")
def _02_3(answer: Any) -> tuple[bool, str]:
    from course_utils.data.labeling import PAPER_CLASS_WEIGHTS

    value = _number(answer)
    if math.isclose(value, PAPER_CLASS_WEIGHTS["suboptimal"], rel_tol=1e-6):
        return True, "0.1, like the answer's content: the model must learn when to stop, in every class."
    if value == 0:
        return False, "role prefixes and user turns get 0, but not this token; hint: what teaches the model to stop?"
    return False, "hint: the end-of-turn token of an assistant turn carries the class weight (tokenization.py)."


@exercise("02.4", "stretch", "Write weight_ratio(beta) = expert/sub-optimal weight exp(r_e/beta)/exp(r_s/beta), r_e=1, r_s=0.1.")
def _02_4(answer: Any) -> tuple[bool, str]:
    if not callable(answer):
        return False, "answer with a function, e.g. `def weight_ratio(beta): ...` then `answer = weight_ratio`."
    for beta in (0.1, 0.39, 1.0, 5.0):
        truth = math.exp(0.9 / beta)
        got = _number(answer(beta))
        if not math.isclose(got, truth, rel_tol=1e-6):
            if math.isclose(got, 1 / truth, rel_tol=1e-6):
                return False, f"weight_ratio({beta}) = {got:.4g} is inverted; hint: expert over sub-optimal."
            return False, (f"weight_ratio({beta}) = {got:.4g}, expected {truth:.4g}. Hint: exp(1/beta) / "
                           "exp(0.1/beta) = exp(0.9/beta).")
    return True, "right for beta in (0.1, 0.39, 1, 5): larger beta -> ratio closer to 1, smaller -> it explodes."


#: 02.5's knob: the premise regime regenerated with this share of sub-optimal answers carrying the sign-off (59 %).
EXERCISE_02_5_TRAIT_RATE = 0.2


@exercise("02.5", "core", "Hands-on: regenerate the premise regime with the sign-off in 20 % of the sub-optimal answers "
                          "instead of 59 % (its seed, every other knob kept) and redo its weighted-mass table. Predict "
                          "first: does weighting alone still fail in the sparse families ('yes' or 'no')? Answer "
                          "{'prediction': ..., 'records': your regenerated records}")
def _02_5(answer: Any) -> tuple[bool, str]:
    from course_utils.data.regimes import mass_table

    if (problem := _prediction(answer, ("yes", "no"), "records")) is not None:
        return False, problem
    if isinstance(regenerated := _regenerated(answer, "premise"), str):
        return False, regenerated
    records, premise = regenerated
    table = mass_table(records)
    suboptimal = table["all"]["correct"] + table["all"]["habit"] + table["all"]["trait"]
    trait = table["all"]["trait"] / suboptimal
    if abs(trait - EXERCISE_02_5_TRAIT_RATE) > 2 / suboptimal ** 0.5:  # the generator's rounding, not another knob
        return False, (f"{100 * trait:.0f} % of your sub-optimal answers carry the sign-off, not "
                       f"{100 * EXERCISE_02_5_TRAIT_RATE:.0f} %: set trait_rates=dense_sparse(rate, rate) with that rate on the "
                       "regime's config (dataclasses.replace) and generate with the regime's seed.")
    sparse = [f for f, weight in premise.config.expert_family_weights.items() if weight < 1]
    shares = {f: table[f]["correct_share"] for f in sparse}
    measured = "yes" if any(v < 0.5 for v in shares.values()) else "no"
    what = "the correct answers' share of the weighted mass in the sparse families is " + ", ".join(
        f"{f} {100 * v:.0f} %" for f, v in shares.items())
    return _graded(answer["prediction"], measured, what,
                   "Without the sign-off most sub-optimal answers are correct again, and their weight 0.1 adds to "
                   "the correct side: the trait rate, not the expert share, is what made the sparse families fail.")


# ---- lesson 03: C-RLFT with QLoRA ---------------------------------------------------------------------------------
@exercise("03.1", "warm-up", "Which method of `METHODS` is C-RLFT with every weight equal to 1? (a method name)")
def _03_1(answer: Any) -> tuple[bool, str]:
    from course_utils.training.run import METHODS

    name = _text(answer)
    if name == "crlft-no-weight":
        return True, f"`crlft-no-weight`: {METHODS['crlft-no-weight'].description}."
    if name in METHODS:
        spec = METHODS[name]
        return False, (f"`{name}` is conditioned={spec.conditioned}, weighted={spec.weighted}; hint: you want "
                       "conditioned=True, weighted=False.")
    return False, f"{name!r} is not a method; choose one of {', '.join(METHODS)}."


def _reference_loss(ce, w):
    return (w * ce).sum() / w.sum()


@exercise("03.2", "core", "Write crlft_loss(ce, w) -> the C-RLFT loss of token losses `ce` and weights `w` (tensors of shape (batch, seq)).")
def _03_2(answer: Any) -> tuple[bool, str]:
    import torch

    if not callable(answer):
        return False, "answer with a function, e.g. `def crlft_loss(ce, w): ...` then `answer = crlft_loss`."
    gen = torch.Generator().manual_seed(0)
    # the trap: rows of different lengths (zero weight = padding) and classes, where a per-sample mean differs
    ce = torch.rand(3, 6, generator=gen, dtype=torch.float64) * 3
    w = torch.tensor([[1.0, 1.0, 0, 0, 0, 0], [0.1] * 6, [0, 0.1, 0.1, 0.1, 0, 0]], dtype=torch.float64)
    class_weights = torch.tensor([[1.0], [0.1], [0.1], [1.0]], dtype=torch.float64)
    mask = (torch.rand(4, 5, generator=gen) > 0.3).double()
    mask[:, 0] = 1.0
    cases = [(ce, w), (torch.rand(4, 5, generator=gen, dtype=torch.float64), mask * class_weights)]
    for ce_i, w_i in cases:
        got = _number(answer(ce_i.clone(), w_i.clone()))
        truth = _reference_loss(ce_i, w_i).item()
        if not math.isclose(got, truth, rel_tol=1e-5):
            per_sample = ((w_i * ce_i).sum(1) / w_i.sum(1)).mean().item()
            if math.isclose(got, per_sample, rel_tol=1e-5):
                return False, ("that is the mean of per-sample means: it makes a short or sub-optimal conversation "
                               "count as much as a long expert one. Hint: one sum over all tokens, one division.")
            if math.isclose(got, (w_i * ce_i).mean().item(), rel_tol=1e-5):
                return False, "you divide by the number of tokens; hint: divide by the sum of the weights."
            return False, f"got {got:.5f}, expected {truth:.5f}. Hint: L = sum_t w_t CE_t / sum_t w_t."
    return True, "sum(w * ce) / sum(w): a weighted per-token mean over the whole batch, as CRLFTTrainer computes."


@exercise("03.3", "core", "In lesson 03's small example (CE [2, 2] weight 1; CE [1]*8 weight 0.1), what is the C-RLFT step loss?")
def _03_3(answer: Any) -> tuple[bool, str]:
    truth = (2 * 2.0 + 8 * 0.1 * 1.0) / (2 * 1.0 + 8 * 0.1)
    value = _number(answer)
    if abs(value - 1.5) < 1e-3:
        return False, "1.5 is the mean of the per-sample means; hint: sum(w * ce) / sum(w) over all 10 tokens."
    return _close(value, truth, 1e-3, "sum(w * ce) = 2*2 + 8*0.1*1, sum(w) = 2 + 8*0.1.")


@exercise("03.4", "core", "Multiply every weight (expert and sub-optimal) by 10: by what factor does the C-RLFT loss change?")
def _03_4(answer: Any) -> tuple[bool, str]:
    value = _number(answer)
    if value == 1:
        return True, "by 1 (not at all): the loss is normalised by sum(w), so only the ratio of the weights matters."
    return False, "hint: L = sum(w*CE) / sum(w): what happens to a ratio when top and bottom are multiplied by 10?"


@exercise("03.5", "stretch", "Write step_loss(ces, ws): the C-RLFT loss of one optimiser step from lists of micro-batch tensors.")
def _03_5(answer: Any) -> tuple[bool, str]:
    import torch

    if not callable(answer):
        return False, "answer with a function `step_loss(ces, ws)` taking two lists of tensors."
    ces = [torch.tensor([[2.0, 2.0]], dtype=torch.float64), torch.tensor([[1.0] * 8], dtype=torch.float64),
           torch.tensor([[0.5, 3.0, 1.0]], dtype=torch.float64)]
    ws = [torch.tensor([[1.0, 1.0]], dtype=torch.float64), torch.tensor([[0.1] * 8], dtype=torch.float64),
          torch.tensor([[0.0, 1.0, 1.0]], dtype=torch.float64)]
    truth = (sum((w * c).sum() for c, w in zip(ces, ws)) / sum(w.sum() for w in ws)).item()
    got = _number(answer([c.clone() for c in ces], [w.clone() for w in ws]))
    if math.isclose(got, truth, rel_tol=1e-6):
        return True, ("one normalisation for the whole step: CRLFTTrainer sums the step's weights first "
                      "(`num_items_in_batch`), then each micro-batch adds sum(w*CE) / total.")
    per_micro = (sum((w * c).sum() / w.sum() for c, w in zip(ces, ws)) / len(ces)).item()
    if math.isclose(got, per_micro, rel_tol=1e-6):
        return False, ("that averages per-micro-batch losses: a micro-batch of few expert tokens would weigh as much "
                       "as one full of sub-optimal tokens. Hint: total the weights over all micro-batches first.")
    return False, f"got {got:.5f}, expected {truth:.5f}. Hint: sum of all w*CE over sum of all w."


#: 03.6's two short runs on lesson 03's data: steps of 16 conversations (8 x 2) at lesson 03's learning rate; the
#: first step is warm-up (learning rate 0), so the first two logged losses are taken before any real update.
EXERCISE_03_6_RUN: dict[str, Any] = {"max_steps": 6, "seed": 0, "save_steps": 6, "learning_rate": 4e-3,
                                     "gradient_accumulation_steps": 2}


def class_losses(run_dir: str | Any, key: str = "loss_suboptimal") -> list[float]:
    """One class's (unweighted) token cross-entropy per logged step of a finished run (``training_log.jsonl``)."""
    from course_utils.training.run import read_log

    values = [h[key] for h in read_log(run_dir) if key in h]
    if not values:
        raise ValueError(f"{run_dir}: no {key} in its training log (train it first)")
    return values


@exercise("03.6", "stretch", "Hands-on: train EXERCISE_03_6_RUN twice on lesson 03's data, as C-RLFT ('crlft') and "
                             "with every weight 1 ('crlft-no-weight'). Predict first: at the last step, is the "
                             "sub-optimal answers' loss 'lower' or 'higher' with weight 1? Answer {'prediction': ..., "
                             "'weighted': run folder, 'unweighted': run folder}")
def _03_6(answer: Any) -> tuple[bool, str]:
    import json
    from pathlib import Path

    if (problem := _prediction(answer, ("lower", "higher"), "weighted", "unweighted")) is not None:
        return False, problem
    settings = {}
    for name, method in (("weighted", "crlft"), ("unweighted", "crlft-no-weight")):
        record = Path(answer[name]) / "crlft_run.json"
        if not record.exists():
            return False, f"your {name} run has no record at {record}: train it first."
        settings[name] = json.loads(record.read_text())["settings"]
        if settings[name]["method"] != method:
            return False, f"the {name} run is method {settings[name]['method']!r}; train it with {method!r}."
        for key in ("max_steps", "seed", "learning_rate"):
            if settings[name][key] != EXERCISE_03_6_RUN[key]:
                return False, f"the {name} run's {key} is {settings[name][key]!r}: train it with EXERCISE_03_6_RUN."
    differ = [k for k in settings["weighted"] if k != "method" and settings["weighted"][k] != settings["unweighted"].get(k)]
    if differ:
        return False, f"the two runs differ in {', '.join(differ)} as well: change the weights only."
    weighted, unweighted = class_losses(answer["weighted"]), class_losses(answer["unweighted"])
    if len(weighted) != len(unweighted) or len(weighted) < 3:
        return False, "the two logs have different lengths: let both runs finish."
    # both runs see the same batches in the same order, so before the first real update their losses agree up to
    # the arithmetic: that disagreement is the tolerance
    noise = max(abs(a - b) for a, b in zip(weighted[:2], unweighted[:2])) + 1e-6
    gap = unweighted[-1] - weighted[-1]
    measured = "lower" if gap < -noise else "higher" if gap > noise else "same"
    what = (f"sub-optimal loss at the last step {unweighted[-1]:.3f} with weight 1 against {weighted[-1]:.3f} with "
            f"0.1 (the runs agreed within {noise:.1e} before any update)")
    return _graded(answer["prediction"], measured, what,
                   "The loss is normalised by the step's total weight, so raising the sub-optimal class from 0.1 to "
                   "1 roughly doubles its share of the gradient (from about half to nine tenths): the model fits "
                   "that class, sign-off included, faster.")


# ---- lesson 04: quantized inference ---------------------------------------------------------------------------------
@exercise("04.1", "warm-up", "How many distinct values can one 4-bit weight take (NF4 or FP4)?")
def _04_1(answer: Any) -> tuple[bool, str]:
    value = _number(answer)
    if value == 16:
        return True, "2**4 = 16 levels; NF4 places them at quantiles of a normal distribution."
    return False, "hint: how many patterns do 4 bits have?"


def _nf4_bytes_per_param(double_quant: bool, block: int | None = None) -> float:
    from course_utils.hardware import memory

    block = block or memory._BLOCK
    if double_quant:
        return 0.5 + 1 / block + 4 / (block * memory._BLOCK2)
    return 0.5 + 4 / block


@exercise("04.2", "core", "Bytes per parameter of an NF4 linear weight with double quantization (blocks of 64, then 256)? (tolerance 0.002)")
def _04_2(answer: Any) -> tuple[bool, str]:
    truth = _nf4_bytes_per_param(True)
    value = _number(answer)
    if abs(value - truth) <= 0.002:
        return True, (f"{truth:.4f} bytes = 0.5 (4 bits) + 1/64 (an 8-bit absmax per block of 64) + 4/(64*256) (an "
                      "fp32 constant per 256 blocks): about 4.13 bits per weight.")
    if abs(value - 0.5) < 1e-3:
        return False, "0.5 is the 4 bits alone; hint: every block of 64 weights also stores a scale (its absmax)."
    if abs(value - _nf4_bytes_per_param(False)) < 1e-3:
        return False, ("that is without double quantization (an fp32 absmax per block); hint: double quantization "
                       "stores the absmax in 8 bits, plus one fp32 constant per 256 blocks.")
    if abs(value - truth * 8) < 0.02:
        return False, "that is in bits; the question asks for bytes."
    return False, "hint: see `weight_bytes` in course_utils/hardware/memory.py (the `scales` line)."


@exercise("04.3", "core", "How many GB (1e9 bytes) do the weights of a 7B-parameter model take in fp16? (tolerance 0.5)")
def _04_3(answer: Any) -> tuple[bool, str]:
    from course_utils.hardware.memory import BYTES_PER_PARAM

    return _close(answer, 7e9 * BYTES_PER_PARAM["fp16"] / 1e9, 0.5,
                  "fp16 is 2 bytes per parameter.", " GB")


@exercise("04.4", "stretch", "Bits per weight of NF4 with blocksize 256 and *no* double quantization (fp32 absmax per block)?")
def _04_4(answer: Any) -> tuple[bool, str]:
    truth = 8 * _nf4_bytes_per_param(False, 256)
    value = _number(answer)
    if abs(value - truth) <= 0.005:
        return True, f"4 + 32/256 = {truth:g} bits: fewer statistics than blocks of 64 (4.5 bits), coarser levels."
    if abs(value - truth / 8) <= 0.001:
        return False, "that is in bytes; the question asks for bits."
    return False, "hint: 4 bits per weight plus one 32-bit absmax shared by 256 weights."


#: 04.5's prompts: a family-balanced subset of the premise regime's *validation* prompts (a knob is chosen there).
EXERCISE_04_5_PROMPTS = 24


@exercise("04.5", "core", "Hands-on: load the base model in NF4 with and without double quantization (double_quant="
                          "False) and compute log p(correct answer) on EXERCISE_04_5_PROMPTS validation prompts "
                          "(answer_log_probs). Predict first: without it, is log p 'higher', 'lower' or the 'same'? "
                          "Answer {'prediction': ..., 'with': log-probs, 'without': log-probs}")
def _04_5(answer: Any) -> tuple[bool, str]:
    import numpy as np

    from course_utils.evaluation.metrics import bootstrap_ci

    if (problem := _prediction(answer, ("higher", "lower", "same"), "with", "without")) is not None:
        return False, problem
    with_dq, without = (np.asarray(answer[k], dtype=float) for k in ("with", "without"))
    if len(with_dq) != EXERCISE_04_5_PROMPTS or len(without) != EXERCISE_04_5_PROMPTS:
        return False, f"give one log-probability per prompt, {EXERCISE_04_5_PROMPTS} for each model."
    d = without - with_dq
    low, high = bootstrap_ci(d, n_boot=2000, seed=0)
    measured = interval_verdict({"low": low, "high": high}, "higher", "lower")
    what = (f"without minus with double quantization {d.mean():+.3f} nats per answer [{low:+.3f}, {high:+.3f}] "
            "(paired bootstrap over prompts)")
    return _graded(answer["prediction"], measured, what,
                   "Double quantization stores each block's absmax in 8 bits instead of 32, which moves every "
                   "dequantized weight by a tiny fraction of its block's scale: 0.37 bits per weight saved, and a "
                   "change in log p far below what 24 prompts can tell apart.")


# ---- lesson 05: evaluation --------------------------------------------------------------------------------------------
#: Constraint results of three prompts (True = passed), used by 05.1 and 05.2.
EXERCISE_05_CHECKS = [[True, True], [True, False], [True]]


@exercise("05.1", "warm-up", f"Prompt-level strict accuracy of the constraint results {EXERCISE_05_CHECKS}? (a fraction)")
def _05_1(answer: Any) -> tuple[bool, str]:
    truth = sum(all(c) for c in EXERCISE_05_CHECKS) / len(EXERCISE_05_CHECKS)
    value = _number(answer)
    if abs(value - 0.8) < 1e-3:
        return False, "0.8 is the instruction-level accuracy (4 of 5 constraints); hint: count whole prompts."
    if abs(value - 100 * truth) < 0.5:
        return False, "answer as a fraction in [0, 1], not in percent."
    return _close(value, truth, 1e-3, "a prompt passes only if every one of its constraints passes.")


@exercise("05.2", "core", f"Instruction-level strict accuracy of the same results {EXERCISE_05_CHECKS}? (a fraction)")
def _05_2(answer: Any) -> tuple[bool, str]:
    flat = [c for checks in EXERCISE_05_CHECKS for c in checks]
    truth = sum(flat) / len(flat)
    value = _number(answer)
    if abs(value - 2 / 3) < 1e-3:
        return False, "2/3 is prompt-level; hint: count every constraint over all prompts."
    return _close(value, truth, 1e-3, "passed constraints / all constraints.")


@exercise("05.3", "core", "A CI on 32 prompts is too wide: how many prompts halve its width?")
def _05_3(answer: Any) -> tuple[bool, str]:
    value = _number(answer)
    if value == 128:
        return True, "128: the width shrinks like 1/sqrt(n), so halving it takes 4x the prompts."
    if value == 64:
        return False, "doubling n shrinks the width by sqrt(2) only; hint: width ~ 1/sqrt(n)."
    return False, "hint: the width of a bootstrap interval shrinks like 1/sqrt(n)."


@exercise("05.4", "stretch", "Width (high - low) of the 95 % bootstrap CI of a 60 % accuracy on 100 prompts? (tolerance 0.02)")
def _05_4(answer: Any) -> tuple[bool, str]:
    from course_utils.evaluation.metrics import bootstrap_ci

    low, high = bootstrap_ci([1.0] * 60 + [0.0] * 40, n_boot=2000, seed=0)
    value = _number(answer)
    if abs(value - 100 * (high - low)) <= 2:
        return False, "answer as a fraction (e.g. 0.2), not in points."
    return _close(value, high - low, 0.02,
                  "`bootstrap_ci([1.0] * 60 + [0.0] * 40)` from course_utils.evaluation.metrics, or 2 * 1.96 * "
                  "sqrt(p (1 - p) / n).")


#: 05.5's prompts: twice the reduced experiment's 32, from the *validation* split (a knob is chosen there).
EXERCISE_05_5_PROMPTS = 64


@exercise("05.5", "core", "Hands-on: score the reduced experiment's C-RLFT adapter on EXERCISE_05_5_PROMPTS validation "
                          "prompts under the expert and the sub-optimal condition. Predict first: does the paired "
                          "difference (expert minus sub-optimal) become 'settled' (its interval excludes 0) or stay "
                          "'unsettled'? Answer {'prediction': ..., 'difference': ev.paired_difference(...)}")
def _05_5(answer: Any) -> tuple[bool, str]:
    if (problem := _prediction(answer, ("settled", "unsettled"), "difference")) is not None:
        return False, problem
    d = answer["difference"]
    n = _field(d, "n")
    if n != EXERCISE_05_5_PROMPTS:
        return False, f"the difference covers {n} prompts; score {EXERCISE_05_5_PROMPTS} (load_eval_set(limit=..., split='val'))."
    mean, low, high = (_field(d, k) for k in ("mean", "low", "high"))
    measured = interval_verdict(d, "settled", "settled", "unsettled")
    what = f"{100 * mean:+.1f} points [{100 * low:+.1f}, {100 * high:+.1f}] on {n} prompts"
    return _graded(answer["prediction"], measured, what,
                   "Doubling the prompts narrows an interval by about 1/sqrt(2) only: a difference of a few points "
                   "needs hundreds of prompts, which is why the full experiment pairs 120 prompts and 3 seeds.")


# ---- lesson 06: when does C-RLFT pay? ------------------------------------------------------------------------------
def _epochs_of_expert_slice(share: float) -> float:
    """Epochs of its own data that SFT on the expert slice gets in the course's budget, at `share` of the shipped
    training set's size, on the cpu profile's batch."""
    from course_utils.data.synth import SynthConfig
    from course_utils.hardware.profiles import PROFILES
    from course_utils.training.run import COURSE_STEPS

    n_train = SynthConfig().n_train
    return COURSE_STEPS * PROFILES["cpu"].batch_size / round(n_train * share)


@exercise("06.1", "warm-up", "At a 5 % expert share (2,400 conversations), 40 steps of batch 8: how many epochs of "
                             "its own data does SFT on the expert slice get?")
def _06_1(answer: Any) -> tuple[bool, str]:
    truth = _epochs_of_expert_slice(0.05)
    value = _number(answer)
    if abs(value - 320 / 2400) < 1e-3:
        return False, "that is the mixture's epochs; hint: the expert slice has 5 % of 2,400 conversations."
    return _close(value, truth, 0.01, "conversations seen (steps x batch) / conversations in the expert slice.")


@exercise("06.2", "core", "At the shipped 10 % share, 40 steps for the mixture: how many steps give SFT on the expert "
                          "slice the same number of epochs?")
def _06_2(answer: Any) -> tuple[bool, str]:
    value = _number(answer)
    if value == 4:
        return True, "4 steps: the expert slice is a tenth of the mixture, so equal epochs need a tenth of the steps."
    if value == 400:
        return False, "that is ten times more, not less; hint: the expert slice is the smaller set."
    return False, "hint: epochs = steps x batch / data size; the expert slice is 240 of 2,400 conversations."


@exercise("06.3", "stretch", "Write `settled(d, per_seed)` for C-RLFT minus a variant: 'ahead', 'behind' or 'unsettled', "
                             "from its paired CI d = {'mean', 'low', 'high'} and its per-seed differences")
def _06_3(answer: Any) -> tuple[bool, str]:
    if not callable(answer):
        return False, "answer with a function, e.g. `def settled(d, per_seed): ...` then `answer = settled`."
    cases = [  # lesson 06's own comparisons, and the two ways of being half right
        ({"mean": 0.217, "low": 0.158, "high": 0.278}, [0.183, 0.358, 0.108], "ahead",
         "the interval is above 0 and every seed agrees"),
        ({"mean": -0.217, "low": -0.272, "high": -0.164}, [-0.133, -0.283, -0.233], "behind",
         "the interval is below 0 and every seed agrees"),
        ({"mean": -0.022, "low": -0.081, "high": 0.042}, [-0.192, 0.125, 0.0], "unsettled",
         "the interval includes 0 and the seeds disagree"),
        ({"mean": 0.053, "low": 0.003, "high": 0.103}, [0.15, 0.10, -0.092], "unsettled",
         "the interval is above 0, but one seed says the opposite: the prompt bootstrap does not see seed noise"),
        ({"mean": 0.02, "low": -0.03, "high": 0.07}, [0.01, 0.02, 0.03], "unsettled",
         "every seed agrees, but the interval includes 0: the prompts cannot tell"),
    ]
    for d, seeds, expected, why in cases:
        got = answer(dict(d), list(seeds))
        if got != expected:
            return False, f"settled({d}, {seeds}) returned {got!r}, expected {expected!r}. Hint: {why}."
    return True, "a difference is settled when its interval excludes 0 *and* every seed has the same sign."


#: 06.4's knob: the control regime regenerated with this share of expert conversations (10 %).
EXERCISE_06_4_SHARE = 0.02


@exercise("06.4", "stretch", "Hands-on: regenerate the control regime with 2 % expert conversations instead of 10 % (its "
                             "seed, every other knob kept) and redo lesson 06's weighted-mass arithmetic. Predict "
                             "first: in how many families does weighting alone fail? Answer {'prediction': a count, "
                             "'records': your regenerated records}")
def _06_4(answer: Any) -> tuple[bool, str]:
    from course_utils.data.regimes import mass_table, regime_dir
    from course_utils.data.schema import read_records
    from course_utils.data.synth import EXPERT_SOURCE

    if not isinstance(answer, dict) or set(answer) != {"prediction", "records"}:
        return False, "answer with a dict: {'prediction': a count of families, 'records': your regenerated records}."
    if isinstance(regenerated := _regenerated(answer, "control"), str):
        return False, regenerated
    records, control = regenerated
    share = sum(r.get("source") == EXPERT_SOURCE for r in records) / len(records)
    if round(share * len(records)) != round(EXERCISE_06_4_SHARE * control.config.n_train):
        return False, (f"{100 * share:.1f} % of your records are expert: set expert_share={EXERCISE_06_4_SHARE} on the "
                       "control regime's config (dataclasses.replace) and generate with the regime's seed.")
    table, shipped = mass_table(records), mass_table(read_records(regime_dir("control") / "train.jsonl"))
    failing = [f for f, row in table.items() if f != "all" and row["correct_share"] < 0.5]
    lowest = min((f for f in table if f != "all"), key=lambda f: table[f]["correct_share"])
    prediction = _number(answer["prediction"])
    what = (f"weighting alone fails in {len(failing)} famil{'y' if len(failing) == 1 else 'ies'}"
            + (f" ({', '.join(failing)})" if failing else "") + f"; the closest call is {lowest}, whose correct "
            f"answers hold {100 * table[lowest]['correct_share']:.0f} % of the weighted mass (shipped: "
            f"{100 * shipped[lowest]['correct_share']:.0f} %)")
    why = ("In the families where most sub-optimal answers show their habit, the expert answers carry most of the "
           "correct mass: with fewer of them that share falls towards one half, and whether it crosses depends on "
           "how many sub-optimal answers are correct there. Count it before you train; do not assume it.")
    return _graded(str(int(prediction)), str(len(failing)), what, why)


# ---- lesson 07: C-RLFT beside KTO ---------------------------------------------------------------------------------
@exercise("07.1", "warm-up", "The premise regime's training data: with undesirable_weight 1, which desirable_weight "
                             "balances KTO's two classes by the KTO paper's rule?")
def _07_1(answer: Any) -> tuple[bool, str]:
    from course_utils.method.kto import balanced_desirable_weight
    from course_utils.training.run import lesson03_data

    truth = balanced_desirable_weight(lesson03_data())  # the premise regime's train.jsonl, labeled
    value = _number(answer)
    if math.isclose(value, 0.1):
        return False, "0.1 is C-RLFT's reward for the sub-optimal class, not KTO's weight; hint: count the classes."
    return _close(value, truth, 0.01, "desirable_weight x n_desirable = undesirable_weight x n_undesirable.")


@exercise("07.2", "core", "In the control regime's training data, what share of the answers KTO calls undesirable "
                          "pass every verifier (are correct)?")
def _07_2(answer: Any) -> tuple[bool, str]:
    from course_utils.data.regimes import mass_table, regime_dir
    from course_utils.data.schema import read_records

    counts = mass_table(read_records(regime_dir("control") / "train.jsonl"))["all"]  # the sub-optimal answers' kinds
    truth = counts["correct"] / (counts["correct"] + counts["habit"] + counts["trait"])
    value = _number(answer)
    if value > 1:
        return False, "answer with a share between 0 and 1, not a count or a percentage."
    return _close(value, truth, 0.01, "take the sub-optimal conversations (source gpt-3.5-turbo) and count those "
                                      "whose `answer_kind` is 'correct' (`mass_table(records)['all']` counts "
                                      "each kind; course_utils.data.regimes).")


def kto_reward_margin(run_dir: str | Any) -> tuple[float, float]:
    """The last logged implied-reward margin of a KTO run, rewards/chosen - rewards/rejected, and the spread of that
    margin over the run's logged steps after the first (the tolerance the retraining exercise grants)."""
    from course_utils.training.run import read_log

    margins = [h["rewards/chosen"] - h["rewards/rejected"] for h in read_log(run_dir)
               if "rewards/chosen" in h and "rewards/rejected" in h]
    if len(margins) < 2:
        raise ValueError(f"{run_dir}: no KTO training log with rewards (train it first)")
    later = margins[1:]
    return margins[-1], max(later) - min(later)


@exercise("07.3", "stretch", "Retrain lesson 07's short KTO run with beta = 1.0 (everything else as LESSON07_RUN). "
                             "Predict first: is its last implied-reward margin 'larger' or 'smaller' than at beta "
                             "0.1? Answer {'prediction': ..., 'run': your run folder}")
def _07_3(answer: Any) -> tuple[bool, str]:
    import json
    from pathlib import Path

    from course_utils.paths import runs_dir
    from course_utils.training.run import LESSON07_RUN

    if (problem := _prediction(answer, ("larger", "smaller"), "run")) is not None:
        return False, problem
    lesson, mine = runs_dir() / "lesson07" / "kto", Path(answer["run"])
    records = {}
    for name, folder in (("lesson 07's run", lesson), ("your run", mine)):
        path = folder / "crlft_run.json"
        if not path.exists():
            return False, f"{name} has no record at {path}: train it first (lesson 07, section 4)."
        records[name] = json.loads(path.read_text())
    theirs, yours = records["lesson 07's run"], records["your run"]
    if yours.get("method") != "kto" or yours.get("beta") != 1.0:
        return False, f"your run is method {yours.get('method')!r} with beta {yours.get('beta')!r}: retrain KTO with beta=1.0."
    for key in ("max_steps", "seed", "learning_rate"):
        if yours.get(key) != LESSON07_RUN[key]:
            return False, f"your run's {key} is {yours.get(key)!r}, the lesson's {LESSON07_RUN[key]!r}: change beta only."
    base, spread = kto_reward_margin(lesson)
    margin, _ = kto_reward_margin(mine)
    if abs(margin - base) <= spread:  # the tolerance: how much the lesson's own margin moved from step to step
        return True, (f"margins {margin:+.2f} (beta 1.0) and {base:+.2f} (beta {theirs.get('beta')}) lie within the "
                      f"step-to-step spread of the lesson's run ({spread:.2f}): too close to call, either prediction stands.")
    measured = "larger" if margin > base else "smaller"
    why = ("the reward is beta x log(pi / pi_ref): ten times the beta scales the same log-ratio tenfold, while the "
           "loss saturates sooner and moves the log-ratios less")
    if answer["prediction"] == measured:
        return True, f"{measured}, as you predicted: {margin:+.2f} against {base:+.2f}; {why}."
    return False, f"measured {margin:+.2f} against {base:+.2f}: {measured}, not {answer['prediction']}. Hint: {why}."


# ---- API ------------------------------------------------------------------------------------------------------------
def check(exercise_id: str, answer: Any) -> bool:
    """Check `answer` to exercise `exercise_id` (e.g. ``"03.2"``), print feedback, return whether it is right.

    ``None`` prints "not answered yet" and returns False. A wrong answer (or one that raises when checked) prints
    what is wrong and a hint, and returns False; only an unknown id raises (KeyError)."""
    if exercise_id not in EXERCISES:
        raise KeyError(f"unknown exercise {exercise_id!r}; known: {', '.join(EXERCISES)}")
    ex = EXERCISES[exercise_id]
    if answer is None:
        print(f"[{ex.id} {ex.tier}] not answered yet: {ex.statement}")
        return False
    try:
        ok, feedback = ex.checker(answer)
    except Exception as error:  # a wrong type, or a student function that fails: feedback, not a traceback
        ok, feedback = False, f"checking the answer failed ({type(error).__name__}: {error})."
    print(f"[{ex.id} {ex.tier}] {'correct' if ok else 'not yet'}: {feedback}")
    return bool(ok)


def list_exercises(lesson: str | int) -> list[Exercise]:
    """The exercises of one lesson (``"03"`` or ``3``), in id order."""
    key = f"{int(lesson):02d}"
    return sorted((e for e in EXERCISES.values() if e.lesson == key), key=lambda e: [int(p) for p in e.id.split(".")])


def exercise_table(lesson: str | int) -> str:
    """A Markdown table (id, tier, statement) of one lesson's exercises."""
    rows = ["| id | tier | exercise |", "|---|---|---|"]
    rows += [f"| `{e.id}` | {e.tier} | {e.statement.replace('|', '/')} |" for e in list_exercises(lesson)]
    return "\n".join(rows)

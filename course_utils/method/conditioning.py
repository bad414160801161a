"""Class-conditioned chat template (OpenChat's C-RLFT scheme).

The data class of a conversation (expert / sub-optimal) is written into *every* role prefix, user and assistant
alike, e.g. ``GPT4 Correct User: ...<|end_of_turn|>GPT4 Correct Assistant: ...<|end_of_turn|>`` for expert data and
``GPT3 User: ...`` for sub-optimal data. Every turn ends with one special end-of-turn token. The template is a Jinja
chat template stored on the tokenizer, so ``tokenizer.apply_chat_template(messages, condition="expert",
add_generation_prompt=True)`` and outside servers (vLLM, llama.cpp, TGI) render prompts the same way the trainer
tokenised its data. :func:`render_conversation` is the Python twin the tokeniser uses to locate the assistant
spans; a test keeps the two identical.

Message text cannot inject special tokens: inside message content, every special-token string gets a zero-width
space after its first character (in the template and in the Python twin alike), so it is tokenised as plain text.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import torch
from transformers import AddedToken, PreTrainedModel, PreTrainedTokenizerBase

from course_utils.data.conditions import ALIASES, PREFIXES, Condition, parse_condition

#: Name -> prefix string the Jinja template accepts (the values of :class:`Condition` and their aliases).
TEMPLATE_CONDITIONS: dict[str, str] = {**{c.value: p for c, p in PREFIXES.items()},
                                       **{alias: PREFIXES[c] for alias, c in ALIASES.items()}}
#: The condition a model is asked for at inference (and the template's default).
DEFAULT_CONDITION = Condition.EXPERT
#: End-of-turn token: closes every turn, generation stops on it.
EOT_TOKEN = "<|end_of_turn|>"
#: Inserted after the first character of any special-token string found inside message text.
ESCAPE_CHAR = "\u200b"


def condition_string(condition: str | Condition) -> str:
    """The prefix string of a condition (``"expert"`` -> ``"GPT4 Correct"``, ``"neutral"`` -> ``""``)."""
    return PREFIXES[parse_condition(condition)]


def role_prefix(role: str, condition: str | Condition = DEFAULT_CONDITION) -> str:
    """The role prefix without trailing space, e.g. ``role_prefix("user", "expert") == "GPT4 Correct User:"``."""
    lead = condition_string(condition)
    return f"{lead} {role.title()}:" if lead else f"{role.title()}:"


def generation_prompt(condition: str | Condition = DEFAULT_CONDITION) -> str:
    """What the template appends with ``add_generation_prompt=True`` (``"GPT4 Correct Assistant:"``)."""
    return role_prefix("assistant", condition)


def escape_special(text: str, specials: Iterable[str]) -> str:
    """Break every special-token string in `text` with a zero-width space, so it tokenises as plain text."""
    for token in specials:
        if token:
            text = text.replace(token, token[0] + ESCAPE_CHAR + token[1:])
    return text


def special_strings(tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """All special/added-token strings of `tokenizer` (plus the end-of-turn token), longest first."""
    strings = set(tokenizer.all_special_tokens)
    for added in getattr(tokenizer, "added_tokens_decoder", {}).values():
        strings.add(str(added))
    strings.add(EOT_TOKEN)
    return sorted((s for s in strings if s), key=lambda s: (-len(s), s))


def build_chat_template(specials: Iterable[str] = (EOT_TOKEN,)) -> str:
    """The Jinja chat template: BOS, then each turn as ``<prefix> <content><|end_of_turn|>``.

    System messages are written without a prefix (``<content><|end_of_turn|>``). The template variable
    ``condition`` picks the class (a name from :data:`TEMPLATE_CONDITIONS`, or a literal prefix string for
    servers that want another one; default expert)."""
    return (
        "{%- set conditions = " + json.dumps(TEMPLATE_CONDITIONS) + " -%}"
        "{%- set specials = " + json.dumps(list(specials)) + " -%}"
        "{%- set cond_name = condition if (condition is defined and condition is not none) else '"
        + DEFAULT_CONDITION.value
        + "' -%}"
        "{%- set lead = conditions[cond_name] if cond_name in conditions else cond_name -%}"
        "{%- set lead = lead ~ ' ' if lead else '' -%}"
        "{{- bos_token if bos_token else '' -}}"
        "{%- for message in messages -%}"
        "{%- set ns = namespace(text=message['content']) -%}"
        "{%- for s in specials -%}"
        "{%- set ns.text = ns.text | replace(s, s[0] ~ '" + ESCAPE_CHAR + "' ~ s[1:]) -%}"
        "{%- endfor -%}"
        "{%- if message['role'] == 'system' -%}"
        "{{- ns.text ~ '" + EOT_TOKEN + "' -}}"
        "{%- else -%}"
        "{{- lead ~ message['role'] | title ~ ': ' ~ ns.text ~ '" + EOT_TOKEN + "' -}}"
        "{%- endif -%}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- lead ~ 'Assistant:' -}}{%- endif -%}"
    )


def render_conversation(
    messages: list[dict[str, str]],
    condition: str | Condition,
    *,
    bos_token: str | None,
    specials: Iterable[str] = (EOT_TOKEN,),
    add_generation_prompt: bool = False,
) -> tuple[str, list[tuple[int, int, int]]]:
    """Render like the Jinja template and return ``(text, spans)``.

    ``spans`` holds ``(start, end, message_index)`` character ranges of each assistant message's trainable part:
    the text after ``Assistant:`` (the space, the content) through its end-of-turn token."""
    specials = list(specials)
    lead = condition_string(condition)
    lead = f"{lead} " if lead else ""
    parts: list[str] = [bos_token or ""]
    pos = len(parts[0])
    spans: list[tuple[int, int, int]] = []
    for index, message in enumerate(messages):
        text = escape_special(message["content"], specials)
        role = message["role"]
        if role == "system":
            piece = text + EOT_TOKEN
        else:
            prefix = f"{lead}{role.title()}:"
            piece = f"{prefix} {text}{EOT_TOKEN}"
            if role == "assistant":
                spans.append((pos + len(prefix), pos + len(piece), index))
        parts.append(piece)
        pos += len(piece)
    if add_generation_prompt:
        parts.append(f"{lead}Assistant:")
    return "".join(parts), spans


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Install the end-of-turn token (if missing) and the conditioned chat template on `tokenizer`, in place.

    Idempotent. Returns the ids of the course's added tokens (the end-of-turn token), whether added now or by an
    earlier call. Also sets a pad token (the EOS, or the end-of-turn token) when the tokenizer has none."""
    if EOT_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_tokens([AddedToken(EOT_TOKEN, special=True, normalized=False)], special_tokens=True)
    tokenizer.chat_template = build_chat_template(special_strings(tokenizer))
    ensure_pad_token(tokenizer)
    return [tokenizer.convert_tokens_to_ids(EOT_TOKEN)]


def ensure_pad_token(tokenizer: PreTrainedTokenizerBase) -> None:
    """Give a tokenizer without a pad token one, in place: its EOS, else the end-of-turn token. (Padding is masked
    out of attention and loss, so which token pads does not change results.)"""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or EOT_TOKEN


def prepare_for_crlft(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Everything C-RLFT needs on a base model and its tokenizer, in place and idempotent: the end-of-turn token
    and conditioned template (:func:`prepare_tokenizer`), embedding rows for it (mean of the old rows), and
    generation that stops on it. Returns the token ids whose rows must train (see :func:`trainable_token_indices`).

    Training, the trainer and inference all call this one function, so they build the same model."""
    token_ids = prepare_tokenizer(tokenizer)
    resize_embeddings_mean(model, tokenizer)
    set_eot_as_stop(model, tokenizer)
    return token_ids


def has_tied_embeddings(model: PreTrainedModel) -> bool:
    """True when the output layer shares its weight with the input embeddings (SmolLM2; not Mistral/Llama-2)."""
    out = model.get_output_embeddings()
    return out is not None and out.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def trainable_token_indices(model: PreTrainedModel, token_ids: list[int]) -> dict[str, list[int]]:
    """PEFT's ``trainable_token_indices`` for the added tokens: their rows of the input embeddings *and* of the
    output layer. PEFT follows a tied output layer by itself; an untied one (``lm_head``) must be named, or the
    row that predicts the end of a turn would stay at its initial value."""
    if not token_ids:
        return {}
    indices = {"embed_tokens": list(token_ids)}
    if not has_tied_embeddings(model) and model.get_output_embeddings() is not None:
        indices["lm_head"] = list(token_ids)
    return indices


def eot_token_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id of the end-of-turn token (raises if :func:`prepare_tokenizer` was not run)."""
    if EOT_TOKEN not in tokenizer.get_vocab():
        raise ValueError(f"{EOT_TOKEN} is not in the vocabulary: call prepare_tokenizer(tokenizer) first")
    return tokenizer.convert_tokens_to_ids(EOT_TOKEN)


@torch.no_grad()
def resize_embeddings_mean(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> int:
    """Grow the model's embeddings to the tokenizer's size; new rows (input and output) = mean of the old rows.

    Deterministic (unlike transformers' sampled `mean_resizing`), so the inference side can rebuild the same base
    before loading an adapter. Returns the number of rows added."""
    old = model.get_input_embeddings().weight.shape[0]
    new = len(tokenizer)
    if new <= old:
        return 0
    model.resize_token_embeddings(new, mean_resizing=False)
    matrices = [model.get_input_embeddings().weight]
    out = model.get_output_embeddings()
    if out is not None and out.weight.data_ptr() != matrices[0].data_ptr():
        matrices.append(out.weight)
    for weight in matrices:
        weight[old:] = weight[:old].float().mean(dim=0).to(weight.dtype)
    return new - old


def set_eot_as_stop(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    """Make generation stop on the end-of-turn token (kept alongside the model's own EOS ids)."""
    eot = eot_token_id(tokenizer)
    config = getattr(model, "generation_config", None)
    if config is None:
        return
    ids: Any = config.eos_token_id
    ids = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
    if eot not in ids:
        config.eos_token_id = [eot, *ids]
    if config.pad_token_id is None and tokenizer.pad_token_id is not None:
        config.pad_token_id = tokenizer.pad_token_id

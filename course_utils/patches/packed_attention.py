"""Attention for padding-free batches, one conversation at a time.

A padding-free batch is one row holding several conversations end to end; their `position_ids` restart at 0 at
each one. transformers' ``sdpa`` attention then builds one block-diagonal causal mask over the whole row and
computes every block, the empty ones included: for eight conversations that is about eight times the work the
conversations need (flash-attention's variable-length kernels avoid it, but only on CUDA). ``packed_sdpa``,
registered here with transformers' `AttentionInterface`, runs PyTorch's SDPA causally on each conversation's slice
instead, which gives the same result. Anything that is not a packed row (padded batches, generation with a cache)
goes to transformers' own ``sdpa`` function unchanged, with the mask ``sdpa`` would get.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, find_packed_sequence_indices, sdpa_mask

PACKED_SDPA = "packed_sdpa"


def conversation_lengths(position_ids: torch.Tensor) -> list[int]:
    """Lengths of the conversations packed in one row of `position_ids`, found as transformers finds packed
    sequences (`find_packed_sequence_indices`). One length means the row is not packed."""
    sequences = find_packed_sequence_indices(position_ids.reshape(1, -1))
    return [position_ids.numel()] if sequences is None else torch.bincount(sequences[0]).tolist()


def packed_sdpa_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                          attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                          is_causal: bool | None = None, position_ids: torch.Tensor | None = None,
                          **kwargs) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature; (batch, length, heads, head_dim) output like ``sdpa``."""
    packed = (position_ids is not None and query.shape[0] == 1 and position_ids.shape[0] == 1
              and query.shape[2] == key.shape[2] == position_ids.shape[-1] > 1 and is_causal is not False
              and getattr(module, "is_causal", True))
    lengths = conversation_lengths(position_ids) if packed else []
    if len(lengths) < 2:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    # split (not slicing): its backward is one concatenation instead of a zero-filled copy per conversation
    outputs = [torch.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=scaling,
                                                                is_causal=True)
               for q, k, v in zip(query.split(lengths, dim=2), key.split(lengths, dim=2), value.split(lengths, dim=2))]
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


AttentionInterface.register(PACKED_SDPA, packed_sdpa_attention)
AttentionMaskInterface.register(PACKED_SDPA, sdpa_mask)


def use_packed_attention(model: torch.nn.Module) -> bool:
    """Switch a model that uses ``sdpa`` to ``packed_sdpa`` (in place). Returns whether it switched: models on
    another implementation (eager, flash-attention) keep theirs."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    model.set_attn_implementation(PACKED_SDPA)
    return True

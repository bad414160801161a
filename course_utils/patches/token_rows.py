"""PEFT's trainable tokens, computed row by row.

C-RLFT trains the embedding rows of the tokens it adds (the end-of-turn token) through PEFT's
``trainable_token_indices``. On every forward pass, PEFT's `TrainableTokensLayer` copies the whole embedding matrix
to put the trained rows in it, and on a tied LM head the backward pass then computes a gradient for the whole
matrix, only to keep those rows: for SmolLM2-135M that is two copies of 113 MB per forward pass (also per generated
token) and a 49k-row weight gradient per step, to train one row. :class:`RowSparseTrainableTokensLayer` gives the
same outputs and gradients from the base matrix plus the trained rows: the embedding looks the added tokens up in
the trained rows; the LM head scores every token with the base matrix and rescores the added ones with the trained
rows. Saving, loading and merging are PEFT's, unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from peft.tuners.trainable_tokens.layer import TrainableTokensLayer
from torch import nn


class RowSparseTrainableTokensLayer(TrainableTokensLayer):
    """`TrainableTokensLayer` that never materialises the merged matrix (see the module docstring)."""

    def forward_adapters(self, x: torch.Tensor, active_adapters, *args, **kwargs) -> torch.Tensor:
        base = self.base_layer
        if self.disable_adapters or not active_adapters or self.merged \
                or not isinstance(base, (nn.Embedding, nn.Linear)):
            return super().forward_adapters(x, active_adapters, *args, **kwargs)
        self._check_overlapping_tokens(active_adapters)
        weight = base.weight
        if isinstance(base, nn.Embedding):
            result = F.embedding(x, weight, padding_idx=base.padding_idx, max_norm=base.max_norm,
                                 norm_type=base.norm_type, scale_grad_by_freq=base.scale_grad_by_freq,
                                 sparse=base.sparse)
            for name in active_adapters:
                index = torch.tensor(self.token_indices[name], device=x.device)
                match = x.unsqueeze(-1) == index  # (..., trained rows)
                rows = F.embedding(match.int().argmax(-1), self.trainable_tokens_delta[name].to(weight))
                result = torch.where(match.any(-1, keepdim=True), rows, result)
            embed_scale = self._get_embed_scale()
            if embed_scale is not None:
                result = result * embed_scale.to(result.dtype)
            return result
        result = F.linear(x, weight)  # a tied LM head (PEFT's own layer applies no bias either)
        for name in active_adapters:
            index = torch.tensor(self.token_indices[name], device=x.device)
            rescored = F.linear(x, self.trainable_tokens_delta[name].to(weight))
            result = result.index_copy(-1, index, rescored.to(result.dtype))
        return result


def use_row_sparse_trainable_tokens(model: nn.Module) -> int:
    """Give every PEFT trainable-tokens layer of `model` the row-sparse forward pass (in place; parameters, state
    dict and behaviour unchanged). Returns the number of layers switched."""
    switched = 0
    for module in model.modules():
        if type(module) is TrainableTokensLayer:
            module.__class__ = RowSparseTrainableTokensLayer
            switched += 1
    return switched

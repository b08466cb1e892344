"""An attention implementation in which consecutive query rows can share one row of keys and
values: the beams of a user attending to that user's encoder states.

TIGER's decoder attends from every beam to the same encoder states. Copying their keys and
values once per beam (``B x W`` rows) makes beam search read ``W`` times more memory than
needed and run ``B x W`` one-query attentions. With this implementation the cross-attention
cache keeps one row per user, and the ``W`` beam queries of a user are one ``W``-query attention
over it. Registered with ``transformers``' ``AttentionInterface`` (and its mask interface) under
``NAME``; attention whose keys have one row per query row (all of training, self-attention) is
plain ``sdpa``, so numbers only change where rows are grouped.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

NAME = "genrec_shared_kv"


def shared_kv_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: object,
) -> tuple[torch.Tensor, None]:
    """``query [G * U, heads, 1, d]`` against ``key``/``value [U, heads, S, d]``: query rows
    ``u * G .. u * G + G - 1`` use key row ``u``. The mask has ``U`` rows or ``G * U`` (then
    those of a group must be equal). Same-size batches are plain ``sdpa``. Returns the output
    ``[rows, queries, heads, d]`` as ``transformers``' attention functions do."""
    rows, users = query.shape[0], key.shape[0]
    if rows == users:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    if users == 0 or rows % users or query.shape[2] != 1:
        raise ValueError(
            f"shared key/value attention needs one query per row and a whole number of query "
            f"rows per key row; got queries {tuple(query.shape)} for keys {tuple(key.shape)}"
        )
    group, heads, dim = rows // users, query.shape[1], query.shape[3]
    grouped = query.view(users, group, heads, dim).transpose(1, 2)  # [U, heads, G, d]
    if attention_mask is not None and attention_mask.shape[0] == rows:
        attention_mask = attention_mask[::group]
    out, _ = sdpa_attention_forward(module, grouped, key, value, attention_mask, **kwargs)
    return out.reshape(rows, 1, heads, dim), None  # [U, G, heads, d] -> one row per query


AttentionInterface.register(NAME, shared_kv_attention)
AttentionMaskInterface.register(NAME, sdpa_mask)

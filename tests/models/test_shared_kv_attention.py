"""Shared key/value attention: grouped query rows equal attention over copied keys/values."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from genrec.models.shared_kv_attention import shared_kv_attention

ATTENTION = nn.Module()  # what transformers passes: only its is_causal flag is read
ATTENTION.is_causal = False


def test_groups_of_queries_equal_attention_over_copied_keys() -> None:
    torch.manual_seed(0)
    users, group, heads, length, dim = 3, 4, 2, 5, 8
    query = torch.randn(users * group, heads, 1, dim)
    key, value = torch.randn(2, users, heads, length, dim)
    mask = torch.ones(users, 1, 1, length, dtype=torch.bool)
    mask[0, ..., :2] = False  # user 0's history is left-padded
    bias = torch.randn(1, heads, 1, length)  # broadcast over rows, like T5's position bias
    copied = dict(key=key.repeat_interleave(group, 0), value=value.repeat_interleave(group, 0))
    expected, _ = sdpa_attention_forward(
        ATTENTION,
        query,
        copied["key"],
        copied["value"],
        mask.repeat_interleave(group, 0),
        scaling=0.5,
        position_bias=bias,
    )
    for rows_mask in (mask, mask.repeat_interleave(group, 0)):  # per user or per query row
        out, _ = shared_kv_attention(
            ATTENTION, query, key, value, rows_mask, scaling=0.5, position_bias=bias
        )
        assert out.shape == expected.shape == (users * group, 1, heads, dim)
        torch.testing.assert_close(out, expected)


def test_equal_batches_are_plain_sdpa_and_bad_groups_fail() -> None:
    query, key = torch.randn(4, 2, 3, 8), torch.randn(4, 2, 3, 8)
    out, _ = shared_kv_attention(ATTENTION, query, key, key, None)
    expected, _ = sdpa_attention_forward(ATTENTION, query, key, key, None)
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match="whole number of query rows"):
        shared_kv_attention(ATTENTION, torch.randn(5, 2, 1, 8), key, key, None)
    with pytest.raises(ValueError, match="one query per row"):
        shared_kv_attention(ATTENTION, torch.randn(8, 2, 2, 8), key, key, None)

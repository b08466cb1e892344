"""Key/value caches as plain tensors, so decoding states stay immutable and cheap to rebuild.

A generator's decoding state keeps, per layer, the ``(keys, values)`` tensors of a
``transformers`` ``DynamicCache``; each step wraps them in a new cache (without copying them)
and reads the grown tensors back, so an old state is never mutated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from transformers.cache_utils import DynamicCache

KV = tuple[tuple[torch.Tensor, torch.Tensor], ...]  # per layer (keys, values) [N, heads, t, d]


def to_cache(kv: KV) -> DynamicCache:
    """A ``DynamicCache`` holding ``kv``'s tensors themselves (``DynamicCache(kv)`` would copy
    each of them once, by concatenating onto an empty tensor). Its ``update`` concatenates into
    new tensors, so ``kv`` is left as it is."""
    from transformers.cache_utils import DynamicCache  # here: a slow import

    cache = DynamicCache()
    for layer, (keys, values) in enumerate(kv):
        cache.update(keys[..., :0, :], values[..., :0, :], layer)  # creates the layer
        cache.layers[layer].keys, cache.layers[layer].values = keys, values
    return cache


def from_cache(cache: DynamicCache) -> KV:
    """Per-layer ``(keys, values)`` of a filled cache."""
    return tuple((layer.keys, layer.values) for layer in cache.layers)


def select_rows(kv: KV, rows: torch.Tensor) -> KV:
    """Rows ``rows [M]`` of every layer's keys and values."""
    return tuple((k.index_select(0, rows), v.index_select(0, rows)) for k, v in kv)


def repeat_rows(kv: KV, times: int) -> KV:
    """Every row of every layer's keys and values ``times`` times in a row (one per beam)."""
    return tuple((k.repeat_interleave(times, 0), v.repeat_interleave(times, 0)) for k, v in kv)

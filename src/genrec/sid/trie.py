"""PrefixTrie: which semantic-ID codes may follow a prefix, for a whole beam batch at once.

Constrained beam search asks, at every step ``t``, for the codes that continue each of ``B``
prefixes into a real item. A pointer-based trie answers one prefix at a time from Python; this
one answers a batch with a handful of tensor ops, so decoding never leaves torch.

Layout (no per-node objects, all flat int64/uint8 tensors):

- a prefix ``(c_0, ..., c_{t-1})`` is one int64 key in mixed radix,
  ``key = (...(c_0 * K_1 + c_1) * K_2 + ...) + c_{t-1}``, so sorting keys sorts prefixes
  lexicographically and a prefix's key is its item's full key divided by ``K_t * ... * K_{L-1}``;
- per depth ``t`` the sorted unique keys of the prefixes of length ``t`` (the trie's nodes)
  and a packed child bitmap ``[n_nodes_t, ceil(K_t / 8)]`` (bit ``c`` set when code ``c``
  continues the node);
- the items' full keys, sorted, with their item indices, for ``lookup``.

``allowed`` is a ``searchsorted`` of the batch's keys into the depth's nodes, a gather of their
bitmaps and a byte -> 8 bools table lookup. Memory is at most ``N * (8 + ceil(K / 8))`` bytes
per depth plus ``16 * N`` for lookup (about 70 MB for 1M items x 4 levels of 256 codes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from genrec.errors import DataError

# Byte value -> its 8 bits as 8 bool bytes, stored as one int64 so one gather unpacks a byte.
_BITS = ((torch.arange(256)[:, None] >> torch.arange(8)) & 1).to(torch.uint8)
_BYTE_TO_BOOLS = _BITS.contiguous().view(torch.int64).view(256)


class PrefixTrie:
    """Immutable trie over a code matrix ``[N, L]`` (item ``i`` has code row ``i``)."""

    def __init__(self, codes: np.ndarray | torch.Tensor, codebook_sizes: Sequence[int]) -> None:
        """Build from ``codes [N, L]`` with level ``l`` codes in ``[0, codebook_sizes[l])``."""
        codes = _as_tensor(codes)
        sizes = tuple(int(k) for k in codebook_sizes)
        if codes.ndim != 2 or codes.shape[1] != len(sizes) or len(sizes) == 0:
            raise ValueError(
                f"codes must be [N, {len(sizes)}] (one column per codebook size); "
                f"got shape {tuple(codes.shape)}"
            )
        if codes.dtype.is_floating_point or codes.dtype == torch.bool:
            raise ValueError(f"codes must be integers; got {codes.dtype}")
        if min(sizes) < 1 or int(np.prod([float(k) for k in sizes])) >= 2**62:
            raise DataError(
                f"codebook sizes {sizes} must be >= 1 with a product below 2**62 so a prefix "
                f"fits one int64 key; use fewer levels or smaller codebooks"
            )
        codes = codes.to(torch.int64)
        self.codebook_sizes = sizes
        self.n_items = int(codes.shape[0])
        self._sizes = torch.tensor(sizes, dtype=torch.int64)
        if self.n_items:
            bad = (codes < 0) | (codes >= self._sizes)
            if bad.any():
                row, level = (int(v) for v in bad.nonzero()[0])
                raise DataError(
                    f"item {row} has code {int(codes[row, level])} at level {level}, outside "
                    f"[0, {sizes[level]}); codes and codebook sizes disagree"
                )
        # weight[l]: K_{l+1} * ... * K_{L-1}, so key = sum_l codes[:, l] * weight[l].
        self._weights = torch.tensor(
            [int(np.prod(sizes[level + 1 :], dtype=np.float64)) for level in range(len(sizes))],
            dtype=torch.int64,
        )
        full = (codes * self._weights).sum(1)
        self._full_keys, self._items = torch.sort(full, stable=True)  # [N], [N]
        self._nodes: list[torch.Tensor] = []  # depth t: sorted unique prefix keys [n_t]
        self._bitmaps: list[torch.Tensor] = []  # depth t: uint8 [n_t, ceil(K_t / 8)]
        for depth, k in enumerate(sizes):
            # Keys of the prefixes of length depth + 1 (sorted, since division keeps order).
            child = torch.unique_consecutive(self._full_keys // self._weights[depth])
            parent, slot = child // k, child % k
            nodes, node = torch.unique_consecutive(parent, return_inverse=True)
            bitmap = torch.zeros(len(nodes) * ((k + 7) // 8), dtype=torch.uint8)
            # Each (node, code) pair is distinct, so adding distinct bits is a bitwise OR.
            bits = torch.ones_like(slot, dtype=torch.uint8) << (slot % 8).to(torch.uint8)
            bitmap.index_add_(0, node * ((k + 7) // 8) + slot // 8, bits)
            self._nodes.append(nodes)
            self._bitmaps.append(bitmap.view(len(nodes), (k + 7) // 8))

    @property
    def n_levels(self) -> int:
        return len(self.codebook_sizes)

    @property
    def nbytes(self) -> int:
        """Bytes held by the trie's tensors."""
        tensors = [self._full_keys, self._items, *self._nodes, *self._bitmaps]
        return sum(t.element_size() * t.numel() for t in tensors)

    def codes(self) -> torch.Tensor:
        """The code matrix ``[N, L]`` in item order, rebuilt from the keys."""
        keys = torch.empty_like(self._full_keys)
        keys[self._items] = self._full_keys
        return (keys[:, None] // self._weights) % self._sizes

    def add(
        self, codes: np.ndarray | torch.Tensor, codebook_sizes: Sequence[int] | None = None
    ) -> PrefixTrie:
        """A NEW trie with rows ``codes [M, L]`` appended as items ``N .. N + M - 1``.

        Pass ``codebook_sizes`` when the new rows need larger codebooks (e.g. a grown dedup
        level). The build is fast enough (about 1 s per 1M items) that a rebuild is simplest.
        """
        sizes = self.codebook_sizes if codebook_sizes is None else codebook_sizes
        return PrefixTrie(torch.cat([self.codes(), _as_tensor(codes).to(torch.int64)]), sizes)

    def allowed(self, prefixes: torch.Tensor) -> torch.Tensor:
        """Which codes may follow each prefix: ``prefixes [B, t]`` -> bool ``[B, K_t]``.

        ``t`` may be 0 (first level). A prefix that is no real item's prefix (or holds a code
        out of range) gets an all-False row.
        """
        node, found = self._find(prefixes)
        depth = prefixes.shape[1]
        k = self.codebook_sizes[depth]
        nbytes = self._bitmaps[depth].shape[1]
        if len(self._nodes[depth]) == 0:  # empty trie
            return torch.zeros(len(node), k, dtype=torch.bool)
        packed = self._bitmaps[depth].index_select(0, node)
        packed = packed * found[:, None].to(torch.uint8)
        bools = _BYTE_TO_BOOLS.index_select(0, packed.view(-1).to(torch.int64))
        return bools.view(torch.bool).view(len(node), nbytes * 8)[:, :k]

    def valid_mask(
        self, prefixes: torch.Tensor, offset: int = 0, vocab_size: int | None = None
    ) -> torch.Tensor:
        """Allowed next tokens in a flat vocabulary: ``prefixes [B, t]`` -> bool ``[B, V]``.

        Level ``l`` code ``c`` is token ``offset + sum(K_<l) + c`` (``SemanticIds.tokens``);
        ``V`` defaults to ``offset + sum(K)``. Use it to set disallowed logits to -inf.
        """
        depth = prefixes.shape[1]
        total = offset + sum(self.codebook_sizes)
        vocab_size = total if vocab_size is None else vocab_size
        if vocab_size < total:
            raise ValueError(f"vocab_size {vocab_size} is smaller than the {total} ID tokens")
        start = offset + sum(self.codebook_sizes[:depth])
        mask = torch.zeros(len(prefixes), vocab_size, dtype=torch.bool)
        mask[:, start : start + self.codebook_sizes[depth]] = self.allowed(prefixes)
        return mask

    def contains(self, prefixes: torch.Tensor) -> torch.Tensor:
        """Whether each prefix ``[B, t]`` (``0 <= t <= L``) starts some item's ID: bool ``[B]``."""
        if prefixes.ndim == 2 and prefixes.shape[1] == self.n_levels:
            return self.lookup(prefixes) >= 0
        return self._find(prefixes)[1]

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Item index of each full code row ``[B, L]`` -> int64 ``[B]``, -1 when no item has it.

        If several items share a row (IDs built without dedup) the lowest index is returned.
        """
        if codes.ndim != 2 or codes.shape[1] != self.n_levels:
            raise ValueError(f"codes must be [B, {self.n_levels}]; got {tuple(codes.shape)}")
        key, ok = self._keys(codes)
        if self.n_items == 0:
            return torch.full((len(key),), -1, dtype=torch.int64)
        pos = torch.searchsorted(self._full_keys, key).clamp_(max=self.n_items - 1)
        ok &= self._full_keys[pos] == key
        return torch.where(ok, self._items[pos], torch.full_like(pos, -1))

    def _keys(self, prefixes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixed-radix keys ``[B]`` of prefixes ``[B, t]`` and whether every code is in range."""
        depth = prefixes.shape[1]
        prefixes = prefixes.to(torch.int64)
        in_range = ((prefixes >= 0) & (prefixes < self._sizes[:depth])).all(1)
        weights = self._weights[:depth] // self._weights[depth - 1] if depth else self._weights[:0]
        return (prefixes * weights).sum(1), in_range

    def _find(self, prefixes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Node index (clamped) and found flag ``[B]`` of each prefix ``[B, t]``, ``t < L``."""
        if prefixes.ndim != 2 or prefixes.shape[1] >= self.n_levels:
            raise ValueError(
                f"prefixes must be [B, t] with 0 <= t < {self.n_levels}; "
                f"got shape {tuple(prefixes.shape)}"
            )
        key, ok = self._keys(prefixes)
        nodes = self._nodes[prefixes.shape[1]]
        if len(nodes) == 0:
            return torch.zeros_like(key), torch.zeros_like(ok)
        pos = torch.searchsorted(nodes, key).clamp_(max=len(nodes) - 1)
        return pos, ok & (nodes[pos] == key)

    def __len__(self) -> int:
        return self.n_items

    def __repr__(self) -> str:
        return (
            f"PrefixTrie(n_items={self.n_items}, codebook_sizes={self.codebook_sizes}, "
            f"nbytes={self.nbytes})"
        )


def _as_tensor(codes: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A tensor view of ``codes``; read-only numpy arrays are copied (torch needs writable)."""
    if isinstance(codes, torch.Tensor):
        return codes
    codes = np.asarray(codes)
    return torch.from_numpy(codes if codes.flags.writeable else codes.copy())

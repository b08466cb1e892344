"""PrefixTrie: which semantic-ID codes may follow a prefix, for a whole beam batch at once.

Constrained beam search asks, at every step ``t``, for the codes that continue each of ``B``
prefixes into a real item. A pointer-based trie answers one prefix at a time from Python; this
one answers a batch with a handful of array ops and no Python loop.

Layout (no per-node objects, all flat int64/uint8 tensors):

- a prefix ``(c_0, ..., c_{t-1})`` is one int64 key in mixed radix,
  ``key = (...(c_0 * K_1 + c_1) * K_2 + ...) + c_{t-1}``, so sorting keys sorts prefixes
  lexicographically and a prefix's key is its item's full key divided by ``K_t * ... * K_{L-1}``;
- per depth ``t`` the sorted unique keys of the prefixes of length ``t`` (the trie's nodes)
  and a packed child bitmap ``[n_nodes_t, ceil(K_t / 8)]`` (bit ``c`` set when code ``c``
  continues the node);
- the items' full keys, sorted, with their item indices, for ``lookup``.

``allowed`` is a ``searchsorted`` of the batch's keys into the depth's nodes, a gather of their
bitmaps and an unpacking of the bits. CPU queries run in numpy (single-threaded: torch's thread
pool spin-waits when other jobs hold the cores, turning 0.5 ms into tens of ms); after
``to("cuda")`` the same steps run in torch next to a GPU decoder. Memory: at most
``N * (8 + ceil(K_t / 8))`` bytes per depth plus ``16 N`` for ``lookup`` (< 180 MB for 1M
items x 4 levels of 256 codes; TIGER-shaped IDs need far less, see benchmarks/results/trie.md).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from genrec.errors import DataError

# Byte value -> its 8 bits as 8 bool bytes, stored as one int64 so one gather unpacks a byte
# (torch has no unpackbits; numpy queries use np.unpackbits).
_BITS = ((torch.arange(256)[:, None] >> torch.arange(8)) & 1).to(torch.uint8)
_BYTE_TO_BOOLS = _BITS.contiguous().view(torch.int64).view(256)


class PrefixTrie:
    """Immutable trie over a code matrix ``[N, L]`` (item ``i`` has code row ``i``)."""

    numpy_on_cpu = True  # answer CPU queries with numpy (see _backend); False: always torch

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
        self._sizes = torch.tensor(sizes, dtype=torch.int64, device=codes.device)
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
            device=codes.device,
        )
        full = (codes * self._weights).sum(1)
        self._full_keys, self._items = torch.sort(full, stable=True)  # [N], [N]
        self._nodes: list[torch.Tensor] = []  # depth t: sorted unique prefix keys [n_t]
        self._bitmaps: list[torch.Tensor] = []  # depth t: uint8 [n_t, ceil(K_t / 8)]
        self._lut = _BYTE_TO_BOOLS.to(codes.device)
        self._numpy: dict[str, Any] | None = None  # CPU query tables, made on first query
        for depth, k in enumerate(sizes):
            # Keys of the prefixes of length depth + 1 (sorted, since division keeps order).
            child = torch.unique_consecutive(self._full_keys // self._weights[depth])
            parent, slot = child // k, child % k
            nodes, node = torch.unique_consecutive(parent, return_inverse=True)
            bitmap = torch.zeros(
                len(nodes) * ((k + 7) // 8), dtype=torch.uint8, device=nodes.device
            )
            # Each (node, code) pair is distinct, so adding distinct bits is a bitwise OR.
            bits = torch.ones_like(slot, dtype=torch.uint8) << (slot % 8).to(torch.uint8)
            bitmap.index_add_(0, node * ((k + 7) // 8) + slot // 8, bits)
            if len(nodes) == 0:  # empty trie: one node no prefix matches (keys are >= 0)
                nodes = torch.full_like(self._sizes[:1], -1)
                bitmap = torch.zeros((k + 7) // 8, dtype=torch.uint8, device=nodes.device)
            self._nodes.append(nodes)
            self._bitmaps.append(bitmap.view(len(nodes), (k + 7) // 8))

    @property
    def n_levels(self) -> int:
        return len(self.codebook_sizes)

    @property
    def device(self) -> torch.device:
        return self._full_keys.device

    def to(self, device: str | torch.device) -> PrefixTrie:
        """A copy on ``device`` (e.g. next to a GPU decoder); queries are moved to it."""
        trie = copy.copy(self)
        for name in ("_sizes", "_weights", "_full_keys", "_items", "_lut"):
            setattr(trie, name, getattr(self, name).to(device))
        trie._nodes = [t.to(device) for t in self._nodes]
        trie._bitmaps = [t.to(device) for t in self._bitmaps]
        trie._numpy = None
        return trie

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
        new = _as_tensor(codes).to(self.device, torch.int64)
        return PrefixTrie(torch.cat([self.codes(), new]), sizes)

    def allowed(self, prefixes: torch.Tensor) -> torch.Tensor:
        """Which codes may follow each prefix: ``prefixes [B, t]`` -> bool ``[B, K_t]``.

        ``t`` may be 0 (first level). A prefix that is no real item's prefix (or holds a code
        out of range) gets an all-False row.
        """
        xp, tables, query = self._backend(prefixes)
        node, found = self._find(xp, tables, query)
        depth, k = query.shape[1], self.codebook_sizes[query.shape[1]]
        packed = tables["bitmaps"][depth][node] * found[:, None]  # uint8 [B, ceil(K / 8)]
        if xp is np:
            return _tensor(np.unpackbits(packed, axis=1, count=k, bitorder="little").view(bool))
        bools = tables["lut"][packed.reshape(-1).long()].view(torch.bool)
        return bools.reshape(len(query), packed.shape[1] * 8)[:, :k]

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
        allowed = self.allowed(prefixes)
        mask = torch.zeros(len(prefixes), vocab_size, dtype=torch.bool, device=allowed.device)
        mask[:, start : start + self.codebook_sizes[depth]] = allowed
        return mask

    def contains(self, prefixes: torch.Tensor) -> torch.Tensor:
        """Whether each prefix ``[B, t]`` (``0 <= t <= L``) starts some item's ID: bool ``[B]``."""
        if prefixes.ndim == 2 and prefixes.shape[1] == self.n_levels:
            return self.lookup(prefixes) >= 0
        xp, tables, query = self._backend(prefixes)
        return _tensor(self._find(xp, tables, query)[1])

    def count_items(self, prefixes: torch.Tensor) -> torch.Tensor:
        """How many items' IDs start with each prefix: ``prefixes [B, t]`` -> int64 ``[B]``.

        ``0 <= t <= L``; ``t = 0`` counts every item, ``t = L`` the items with exactly that ID.
        A prefix of no item (or with a code out of range) counts 0. Items sharing one ID (built
        without dedup) each count. The items under a prefix are one run of the sorted full keys,
        so this is two binary searches per prefix and needs no extra table.
        """
        if prefixes.ndim != 2 or prefixes.shape[1] > self.n_levels:
            raise ValueError(
                f"prefixes must be [B, t] with 0 <= t <= {self.n_levels}; "
                f"got shape {tuple(prefixes.shape)}"
            )
        xp, tables, query = self._backend(prefixes)
        key, ok = self._keys(tables, query)
        depth, keys = query.shape[1], tables["full_keys"]
        if depth == 0:
            return _tensor(key * 0 + self.n_items)
        span = tables["weights"][depth - 1]  # full keys per prefix: K_t * ... * K_{L-1}
        if xp is np:  # sorted queries let numpy reuse positions (see _search): ~3x faster
            order = np.argsort(key)
            low = np.searchsorted(keys, key[order] * span)
            high = np.searchsorted(keys, (key[order] + 1) * span)
            counts = np.empty_like(low)
            counts[order] = high - low
            return _tensor(np.where(ok, counts, 0))
        low = torch.searchsorted(keys, key * span)
        high = torch.searchsorted(keys, (key + 1) * span)
        return torch.where(ok, high - low, 0)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Item index of each full code row ``[B, L]`` -> int64 ``[B]``, -1 when no item has it.

        If several items share a row (IDs built without dedup) the lowest index is returned.
        """
        if codes.ndim != 2 or codes.shape[1] != self.n_levels:
            raise ValueError(f"codes must be [B, {self.n_levels}]; got {tuple(codes.shape)}")
        xp, tables, query = self._backend(codes)
        key, ok = self._keys(tables, query)
        if self.n_items == 0:
            return _tensor(key * 0 - 1)
        keys = tables["full_keys"]
        pos = _search(xp, keys, key)
        return _tensor(xp.where(ok & (keys[pos] == key), tables["items"][pos], -1))

    def _backend(self, array: torch.Tensor) -> tuple[Any, dict[str, Any], Any]:
        """numpy on CPU, torch elsewhere (module docstring): namespace, tables, int64 query."""
        if self.numpy_on_cpu and self.device.type == "cpu" and array.device.type == "cpu":
            if self._numpy is None:  # zero-copy views of the tensors, made once
                tables = self._tables()
                self._numpy = {k: _numpy_views(v) for k, v in tables.items()}
            return np, self._numpy, np.asarray(array.numpy(), dtype=np.int64)
        return torch, self._tables(), array.to(self.device, torch.int64)

    def _tables(self) -> dict[str, Any]:
        names = ("sizes", "weights", "full_keys", "items", "nodes", "bitmaps", "lut")
        return {name: getattr(self, f"_{name}") for name in names}

    @staticmethod
    def _keys(tables: dict[str, Any], prefixes: Any) -> tuple[Any, Any]:
        """Mixed-radix keys ``[B]`` of prefixes ``[B, t]`` and whether every code is in range."""
        depth, sizes, weights = prefixes.shape[1], tables["sizes"], tables["weights"]
        in_range = ((prefixes >= 0) & (prefixes < sizes[:depth])).all(1)
        weights = weights[:depth] // weights[depth - 1] if depth else weights[:0]
        return (prefixes * weights).sum(1), in_range

    def _find(self, xp: Any, tables: dict[str, Any], prefixes: Any) -> tuple[Any, Any]:
        """Node index (clamped) and found flag ``[B]`` of each prefix ``[B, t]``, ``t < L``."""
        if prefixes.ndim != 2 or prefixes.shape[1] >= self.n_levels:
            raise ValueError(
                f"prefixes must be [B, t] with 0 <= t < {self.n_levels}; "
                f"got shape {tuple(prefixes.shape)}"
            )
        key, ok = self._keys(tables, prefixes)
        nodes = tables["nodes"][prefixes.shape[1]]
        pos = _search(xp, nodes, key)
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


def _search(xp: Any, haystack: Any, key: Any) -> Any:
    """Position of each ``key [B]`` in sorted ``haystack`` (clamped to a valid index)."""
    if xp is np:  # numpy reuses the last position for sorted queries: ~3x faster on 1M keys
        order = np.argsort(key)
        pos = np.empty_like(order)
        pos[order] = np.searchsorted(haystack, key[order])
        return pos.clip(max=len(haystack) - 1)
    return torch.searchsorted(haystack, key).clamp(max=len(haystack) - 1)


def _numpy_views(value: Any) -> Any:
    """numpy views sharing memory with CPU tensors (lists of tensors stay lists)."""
    return [t.numpy() for t in value] if isinstance(value, list) else value.numpy()


def _tensor(array: Any) -> torch.Tensor:
    return torch.from_numpy(array) if isinstance(array, np.ndarray) else array

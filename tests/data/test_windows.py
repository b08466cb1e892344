import numpy as np

from genrec.data.dataset import Sequences
from genrec.data.windows import next_item_windows


def test_windows_cover_every_transition_once():
    seqs = Sequences(np.array([0, 7, 8, 10]), np.array([1, 2, 3, 4, 5, 6, 7, 9, 10, 11]))
    windows = next_item_windows(seqs, max_len=3)
    np.testing.assert_array_equal(windows, [[4, 5, 6, 7], [1, 2, 3, 4], [-1, -1, 10, 11]])
    pairs = {(a, b) for w in windows for a, b in zip(w[:-1], w[1:], strict=True) if a >= 0}
    assert pairs == {(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (10, 11)}

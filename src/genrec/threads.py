"""How many CPU threads genrec's compute uses: one policy for every command and recipe.

torch (OpenMP) and numpy's OpenBLAS keep a pool of threads that spin while they wait for
each other. On cores that other programs also use, a waiting thread loses its core and every
parallel step then waits a scheduler time slice for it: with torch's default (one thread per
core) an RQ-VAE fit took 150 s instead of 8.9 s and decoding ran at 26 instead of 145 users/s
on a busy machine. Too many threads cost many times the work (benchmarks/results/threads.md);
too few cost at most the parallel speed-up, small for genrec's small operations.
So the default leaves half of the cores to the rest of the machine.

The setting, most specific first: the ``genrec --threads N`` option (which sets
``GENREC_THREADS`` for the command and its child processes), the ``GENREC_THREADS`` variable, the
recipe's field (``train.threads``, ``threads`` of an IDs recipe), ``OMP_NUM_THREADS`` (which
torch reads too), then half of the cores, at most 4.
"""

from __future__ import annotations

import contextlib
import os
import sys

from genrec.errors import ConfigError

ENV = "GENREC_THREADS"
#: Read by OpenMP (torch), OpenBLAS (numpy, scipy) and MKL when they load.
LIBRARY_ENVS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: More threads than this rarely pay off for genrec's small models (per-op work is too short).
MAX_DEFAULT = 4


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when it holds a count, else half of the cores this process may run
    on, 1 to ``MAX_DEFAULT``: the other half stays free for whatever else the machine runs, so
    the thread pool rarely waits for a lost core."""
    omp = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if omp.isdigit() and int(omp) >= 1:
        return int(omp)
    return max(1, min(MAX_DEFAULT, available_cores() // 2))


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under taskset or a container)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def resolve_threads(recipe: int | None = None) -> int:
    """The thread count to use: ``$GENREC_THREADS`` > ``recipe`` > default.

    ``recipe`` comes from a validated config (its dataclass checks it is >= 1)."""
    env = os.environ.get(ENV, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ConfigError(
                f"{ENV}={env!r}: expected a whole number of threads >= 1 (e.g. {ENV}=1), "
                f"or unset it for the default ({default_threads()} here)"
            )
        return int(env)
    return recipe if recipe is not None else default_threads()


def check_threads(value: int, name: str) -> int:
    """``value`` if it is a valid thread count, else a ConfigError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name}={value!r}: expected a whole number of threads >= 1")
    return value


def use_threads(recipe: int | None = None) -> int:
    """Resolve the thread count (see ``resolve_threads``), apply it and return it."""
    n = resolve_threads(recipe)
    apply_threads(n)
    return n


def set_process_threads(n: int) -> None:
    """Use ``n`` threads in this process without importing torch when it is not loaded yet
    (the CLI starts fast): the libraries then read ``n`` from their variables when they load;
    otherwise it is applied at once."""
    if "torch" in sys.modules or "numpy" in sys.modules:
        apply_threads(n)
    else:
        os.environ.update(dict.fromkeys(LIBRARY_ENVS, str(n)))


def apply_threads(n: int) -> None:
    """Limit torch's intra-op pool, and numpy / scipy's BLAS and OpenMP pools, to ``n``."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    with contextlib.suppress(RuntimeError):  # allowed only before torch's first inter-op work
        torch.set_num_interop_threads(n)
    threadpool_limits(limits=n)  # the BLAS / OpenMP libraries loaded so far

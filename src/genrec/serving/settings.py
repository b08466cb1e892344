"""What a service instance is configured with: runs, address, batching and request limits.

Read from ``GENREC_SERVE_*`` environment variables (pydantic-settings), overridden by
`genrec serve` options, and handed to ``create_app`` so tests build apps with their own."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """One service instance; every limit is checked per request (422 when exceeded)."""

    model_config = SettingsConfigDict(env_prefix="GENREC_SERVE_", frozen=True)

    runs: list[Path] = Field(default_factory=list)  # one run, or generative runs to ensemble
    host: str = "127.0.0.1"  # loopback: put a reverse proxy in front to expose it
    port: int = Field(8000, ge=0, le=65535)
    # Requests decoded together: batch 64 already gets most of batch 256's throughput while one
    # batch stays well under the latency target on CPU.
    # Where the network decodes ("cuda", "cuda:1"): the run loads on the CPU and moves there.
    device: str = "cpu"
    max_batch: int = Field(64, ge=1, le=4096)
    # How long the first request of a batch waits for company; a few ms cost little latency and,
    # under load, the queue fills while the previous batch decodes anyway.
    max_wait_ms: float = Field(2.0, ge=0, le=1000)
    # Requests waiting beyond the batch in flight; more answer 429 rather than queue for seconds.
    max_queue: int = Field(1024, ge=1)
    max_k: int = Field(100, ge=1)  # list length, also bounded by the catalog size
    max_history: int = Field(200, ge=1)  # item ids per request; the model reads the most recent
    max_search: int = Field(50, ge=1)  # results of one item search
    # Exclude the items avoid statements match (the guarantee of genrec.recommend.avoid); off, only
    # a model that reads statements sees them and the response says they were ignored.
    enforce_avoid: bool = True
    # Load the sentence encoder and item vectors at start-up (item search and avoid need them)
    # instead of on the first such request, which would then take seconds.
    preload_text: bool = True
    shutdown_timeout_s: float = Field(30.0, gt=0)  # in-flight requests get this long to finish

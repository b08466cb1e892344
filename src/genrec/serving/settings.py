"""What a service instance is configured with: runs, address, batching and request limits.

Read from ``GENREC_SERVE_*`` environment variables (pydantic-settings), overridden by
`genrec serve` options, and handed to ``create_app`` so tests build apps with their own."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from genrec.serving.schemas import MAX_CHARS, MAX_ID_CHARS, MAX_STATEMENTS


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
    # Requests waiting beyond the batch in flight; more answer 429 at once rather than queue. A
    # request waits about max_queue / throughput: at the ~100-400 requests/s a 2-core machine
    # decodes, 32 waiting cost 80-320 ms, so a burst is refused (and a balancer retries
    # elsewhere) before p99 passes the 150 ms target by much; raise it with the throughput
    # (a GPU) or where waiting beats a 429 (docs/serving.md).
    max_queue: int = Field(32, ge=1)
    max_k: int = Field(100, ge=1)  # list length, also bounded by the catalog size
    max_history: int = Field(200, ge=1)  # item ids per request; the model reads the most recent
    max_search: int = Field(50, ge=1)  # results of one item search
    # Exclude the items avoid statements match (the guarantee of genrec.recommend.avoid); off, only
    # a model that reads statements sees them and the response says they were ignored.
    enforce_avoid: bool = True
    # Load the sentence encoder and item vectors at start-up (item search and avoid need them)
    # instead of on the first such request, which would then take seconds.
    preload_text: bool = True
    # Largest request body in bytes (413 beyond it, before it is read further); None: the
    # largest valid request (``body_limit``), so a bigger body is refused before it is parsed.
    max_body_bytes: int | None = Field(None, ge=1024)
    # A folder with swagger-ui-bundle.js and swagger-ui.css for /docs; None: the ones the
    # fastapi-offline package ships (serve extra), else a CDN, which a machine offline lacks.
    docs_assets: Path | None = None
    shutdown_timeout_s: float = Field(30.0, gt=0)  # in-flight requests get this long to finish

    @field_validator("docs_assets")
    @classmethod
    def _has_swagger_ui(cls, folder: Path | None) -> Path | None:
        if folder is not None and not (folder / "swagger-ui-bundle.js").is_file():
            raise ValueError(
                f"{folder} holds no swagger-ui-bundle.js: name a folder with Swagger UI's "
                "swagger-ui-bundle.js and swagger-ui.css (e.g. npm's swagger-ui-dist)"
            )
        return folder

    @property
    def body_limit(self) -> int:
        """``max_body_bytes``, or the size of the largest valid request: ``max_history`` ids and
        every statement at their longest, each character outside the BMP (12 bytes as JSON's
        two ``\\uXXXX`` escapes), plus quotes and commas, and 4 KiB for the other fields."""
        if self.max_body_bytes is not None:
            return self.max_body_bytes
        ids = self.max_history * (12 * MAX_ID_CHARS + 3)
        statements = 2 * MAX_STATEMENTS * (12 * MAX_CHARS + 3)
        return ids + statements + 4096

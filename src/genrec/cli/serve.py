"""`genrec serve`: the HTTP service and web page over a trained run (needs genrec[serve])."""

from __future__ import annotations

import math
import socket
from pathlib import Path
from typing import Annotated

import typer

from genrec.errors import ConfigError


def serve_command(
    runs: Annotated[
        list[Path],
        typer.Argument(
            metavar="RUN",
            help="A run directory written by `genrec train`, or several generative runs on the "
            "same data and IDs to serve as one ensemble.",
        ),
    ],
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on (default 127.0.0.1; 0.0.0.0 for every one)."),
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    device: Annotated[
        str | None, typer.Option(help="Where the network decodes: cpu (default), cuda, cuda:1.")
    ] = None,
    max_batch: Annotated[
        int | None, typer.Option(min=1, help="Requests decoded together (default 64; 1: off).")
    ] = None,
    max_wait_ms: Annotated[
        float | None,
        typer.Option(min=0, help="How long a batch waits for more requests (default 2 ms)."),
    ] = None,
    max_queue: Annotated[
        int | None,
        typer.Option(min=1, help="Requests allowed to wait; more answer 429 (default 32)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
) -> None:
    """Serve recommendations over HTTP (POST /v1/recommend, docs at /docs) and a web page at /.
    Settings also come from GENREC_SERVE_* variables (e.g. GENREC_SERVE_MAX_BATCH=128); options
    win."""
    try:
        import uvicorn
        from pydantic import ValidationError

        from genrec.serving.app import create_app
        from genrec.serving.engine import Engine
        from genrec.serving.settings import Settings
    except ImportError as exc:
        raise ConfigError(
            f"genrec serve needs the serve extra ({exc.name} is missing): "
            "pip install 'genrec[serve]'"
        ) from None
    given = {"host": host, "port": port, "max_batch": max_batch, "max_wait_ms": max_wait_ms}
    given |= {"max_queue": max_queue, "device": device}
    try:
        settings = Settings(runs=runs, **{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:  # an option or a GENREC_SERVE_* variable
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(
            f"genrec serve: {problems} (from the options or GENREC_SERVE_* variables)"
        ) from None
    _check_port(settings.host, settings.port)  # before loading the model: it takes a while
    engine = Engine.load(settings)  # a broken run fails here, in one line, before binding
    uvicorn.run(
        create_app(settings, engine),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_s),
    )


def _check_port(host: str, port: int) -> None:
    """ConfigError in one line when ``host:port`` cannot be listened on (another program holds
    it, or the address is not this machine's). Bound as uvicorn binds, then let go."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise ConfigError(
            f"genrec serve: cannot listen on {host}:{port} ({exc.strerror or exc}); another "
            "program may be using the port: pick another with --port N"
        ) from None

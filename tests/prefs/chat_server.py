"""A chat-completions server on 127.0.0.1 for the openai generator's tests (stdlib only)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD = '[{"statement": "Likes hydrating creams", "polarity": "positive"}, "Avoids glitter"]'
LIFETIME = 60.0  # seconds: the server shuts itself down after this, whatever the test does


class ChatServer:
    """Answers POST /v1/chat/completions with ``answer(request_number, body)``, which returns
    ``(status, content)`` or ``(status, content, delay_seconds)``; counts requests and the most
    in flight at once."""

    def __init__(self, answer: Callable[[int, dict], tuple]) -> None:
        self.answer, self.requests, self.bodies, self.headers = answer, 0, [], []
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    number = server.requests
                    server.requests += 1
                    server.bodies.append(body)
                    server.headers.append(dict(self.headers))
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                try:
                    status, content, *delay = server.answer(number, body)
                    time.sleep(delay[0] if delay else 0.01)  # overlap, so concurrency shows
                    payload = content if isinstance(content, bytes) else json.dumps(
                        {"choices": [{"message": {"role": "assistant", "content": content},
                                      "finish_reason": "stop"}]}
                    ).encode()  # fmt: skip
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def log_message(self, *args) -> None:  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.stopper = threading.Timer(LIFETIME, self.httpd.shutdown)
        self.stopper.daemon = True

    def __enter__(self) -> ChatServer:
        self.thread.start()
        self.stopper.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopper.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

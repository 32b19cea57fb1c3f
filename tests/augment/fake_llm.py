"""A tiny OpenAI-compatible chat server for client tests (127.0.0.1, an ephemeral port): POST
``/v1/chat/completions`` answers by a behaviour function, GET ``/v1/models`` lists one model, ``fake``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Reply = tuple[int, str, float]
"""(HTTP status, answer text or raw body for errors, delay in seconds)."""


class FakeLLM:
    """Answers each chat with ``behaviour(request_body, call_number)``; counts calls and concurrency."""

    def __init__(self, behaviour: Callable[[dict, int], Reply]) -> None:
        self.behaviour = behaviour
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.bodies: list[dict] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake._lock:
                    fake.calls += 1
                    call = fake.calls
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                    fake.bodies.append(body)
                done = False
                try:
                    status, text, delay = fake.behaviour(body, call)
                    time.sleep(delay)
                    with fake._lock:  # the work is done: count it out before the client can see the answer
                        fake.in_flight -= 1
                        done = True
                    payload = (
                        json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]})
                        if status == 200
                        else text
                    )
                    data = payload.encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    if not done:
                        with fake._lock:
                            fake.in_flight -= 1

            def do_GET(self) -> None:  # /v1/models, as vLLM lists what it serves
                data = json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]}).encode()
                self.send_response(200 if self.path.rstrip("/").endswith("/models") else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def answer(text: str, delay: float = 0.0) -> Callable[[dict, int], Reply]:
    return lambda body, call: (200, text, delay)

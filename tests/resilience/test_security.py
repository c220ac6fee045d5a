"""Security properties on real Redis: tenants never see each other's entries,
planted code is never run, keys and logs never carry prompt text."""

from __future__ import annotations

import hashlib
import itertools
import logging
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.outputs import Generation

from redis_llm_cache.core.codec import MAGIC
from redis_llm_cache.core.embedding.embedder import EmbedderIdentity, Matrix, Role
from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.langchain.embeddings import CachedEmbeddings
from redis_llm_cache.redis.embedded import EmbeddedRedis

LLM = "model=fake;temperature=0"
DIMENSIONS = 16

# (strategy, server kind): every index strategy.
STRATEGIES = [("search", "stack"), ("vectorset", "plain"), ("client", "plain")]


class NearlyIdenticalEmbedder:
    """Every text embeds to almost the same vector (cosine > 0.99 for any pair), so
    *every* stored entry is a semantic match for *every* question: the only thing
    standing between tenants is the partition pre-filter."""

    identity = EmbedderIdentity(provider="test", model="nearly-identical", dimensions=DIMENSIONS)

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        rows = []
        for text in texts:
            seed = int.from_bytes(
                hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:4]
            )
            noise = np.random.default_rng(seed).standard_normal(DIMENSIONS) * 0.01
            rows.append(np.ones(DIMENSIONS) + noise)
        return np.asarray(rows, dtype=np.float32)

    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        return self.embed(texts, role=role)


_example = itertools.count()

tenants = st.one_of(
    st.sampled_from(["", "a", "b", "A", "a:b", "a*", "*", "tenant\x00x"]),
    st.text(max_size=8),
)
prompts = st.text(min_size=1, max_size=40).filter(lambda p: p.strip() != "")


@pytest.mark.parametrize(("strategy", "kind"), STRATEGIES, ids=[s for s, _ in STRATEGIES])
def test_no_lookup_of_one_tenant_returns_another_tenants_entry(
    redis_servers: dict[str, str], namespace: str, strategy: str, kind: str
) -> None:
    embedder = NearlyIdenticalEmbedder()

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        writes=st.lists(st.tuples(tenants, prompts), min_size=1, max_size=6),
        probes=st.lists(st.tuples(tenants, prompts), max_size=4),
    )
    def check(writes: list[tuple[str, str]], probes: list[tuple[str, str]]) -> None:
        ns = f"{namespace}-{next(_example)}"
        caches: dict[str, RedisLLMCache] = {}

        def cache_of(tenant: str) -> RedisLLMCache:
            if tenant not in caches:
                caches[tenant] = RedisLLMCache(
                    redis_url=redis_servers[kind],
                    namespace=ns,
                    tenant=tenant,
                    embedder=embedder,
                    semantic_strategy=strategy,  # type: ignore[arg-type]
                    semantic_threshold=0.5,
                    # No verifier: every stored question must match every probe (the
                    # verifier would refuse "0" / "00"), which is what makes a miss
                    # below mean "nothing of this tenant's is stored".
                    semantic_verifier=None,
                    timeout=5.0,
                    connect_timeout=5.0,
                    stampede_protection=False,  # lookups without updates here
                )
            return caches[tenant]

        try:
            written: dict[tuple[str, str], str] = {}
            for tenant, prompt in writes:
                answer = repr((tenant, prompt))
                cache_of(tenant).update(prompt, LLM, [Generation(text=answer)])
                written[(tenant, prompt)] = answer
            owners = {answer: tenant for (tenant, _), answer in written.items()}
            for tenant, prompt in [*writes, *probes]:
                found = cache_of(tenant).lookup(prompt, LLM)
                if (tenant, prompt) in written:  # exact hit, its own answer
                    assert found == [Generation(text=written[(tenant, prompt)])]
                elif found is not None:  # a semantic hit: only ever the same tenant's
                    assert owners[found[0].text] == tenant
                elif "\x00" not in prompt:  # a miss (NUL: not embeddable, exact tier only)
                    # Every entry matches every question here: a miss means this
                    # tenant has nothing stored (so the hits above were not luck).
                    assert not any(t == tenant and "\x00" not in p for t, p in written)
            for cache in caches.values():
                assert cache.stats()["errors"] == 0, cache.stats()["errors_by_kind"]
        finally:
            for cache in caches.values():
                cache.clear()
                cache.close()

    check()


# -- planted payloads ---------------------------------------------------------------------


class _Boom:
    """Unpickling this would create a file: the proof that code ran."""

    marker: Path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_planted_code_is_never_run(
    redis_servers: dict[str, str], namespace: str, tmp_path: Path
) -> None:
    marker = tmp_path / "code-ran"
    boom = _Boom()
    boom.marker = marker
    from langchain_core.load import dumpd
    from langchain_core.prompts import PromptTemplate

    payloads = {
        "pickle": MAGIC + pickle.dumps([boom]),
        "lc-constructor": MAGIC
        + orjson.dumps(
            {
                "g": [
                    {
                        "k": "lc",
                        "o": {
                            "lc": 1,
                            "type": "constructor",
                            "id": ["pathlib", "Path"],
                            "kwargs": {"args": [str(marker)]},
                        },
                    }
                ]
            }
        ),
        "lc-outside-allow-list": MAGIC
        + orjson.dumps({"g": [{"k": "lc", "o": dumpd(PromptTemplate.from_template("{x}"))}]}),
        "lc-secret": MAGIC
        + orjson.dumps({"g": [{"k": "lc", "o": {"lc": 1, "type": "secret", "id": ["HOME"]}}]}),
    }
    cache = RedisLLMCache(redis_url=redis_servers["plain"], namespace=namespace, timeout=5.0)
    client = redis.Redis.from_url(redis_servers["plain"])
    try:
        for name, payload in payloads.items():
            key = cache.core.exact.key(name, LLM)
            client.set(key, payload)
            assert cache.lookup(name, LLM) is None, name
            assert client.exists(key) == 0, f"{name} was not removed"
        stats = cache.stats()
        assert stats["corrupt_removed"] == len(payloads)
        assert stats["errors"] == 0
        assert not marker.exists()
    finally:
        cache.clear()
        cache.close()
        client.close()


# -- prompt text never in keys or logs ----------------------------------------------------

SECRET_WORDS = ("zanzibar", "quokka", "marmalade")
SECRET_PROMPT = "Please tell zanzibar about the quokka and the marmalade"


def variants(prompt: str) -> list[str]:
    return [prompt, f"{prompt}?", f"Really: {prompt}"]


@pytest.mark.parametrize(("strategy", "kind"), STRATEGIES, ids=[s for s, _ in STRATEGIES])
def test_keys_never_contain_prompt_text(
    redis_servers: dict[str, str], namespace: str, strategy: str, kind: str
) -> None:
    cache = RedisLLMCache(
        redis_url=redis_servers[kind],
        namespace=namespace,
        tenant=f"tenant of {SECRET_WORDS[0]}",  # tenants are not secret, but are hashed too
        embedder=NearlyIdenticalEmbedder(),
        semantic_strategy=strategy,  # type: ignore[arg-type]
        semantic_threshold=0.5,
        timeout=5.0,
        max_entries=100,
    )
    embeddings = CachedEmbeddings(
        NearlyIdenticalEmbedder(),  # type: ignore[arg-type]
        redis_url=redis_servers[kind],
        namespace=namespace,
    )
    client = redis.Redis.from_url(redis_servers[kind])
    try:
        for prompt in variants(SECRET_PROMPT):
            cache.lookup(prompt, LLM)  # misses take stampede leases
            cache.update(prompt, LLM, [Generation(text="answer")])
        assert cache.lookup("Please tell me about the quokka", LLM) is not None  # semantic hit
        embeddings.embed_documents(variants(SECRET_PROMPT))
        keys = [k.decode("utf-8", "replace") for k in client.scan_iter(f"{namespace}*")]
    finally:
        client.close()
        embeddings.clear()
        cache.clear()
        cache.close()
    assert len(keys) >= 5  # entries, index structures, embeddings: something to check
    leaked = [k for k in keys if any(w in k.lower() for w in SECRET_WORDS)]
    assert leaked == []


def test_logs_never_contain_prompt_text_above_debug(
    redis_servers: dict[str, str],
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = EmbeddedRedis().start()
    cache = RedisLLMCache(
        redis_url=server.url,
        namespace=namespace,
        embedder=NearlyIdenticalEmbedder(),
        semantic_strategy="client",
        semantic_threshold=0.5,
        timeout=2.0,  # the hits asserted below must not time out on a loaded machine
        max_entry_bytes=2000,
        stampede_lease=30.0,
        stampede_wait=0.1,
        breaker_cooldown=0.1,
    )
    secret_answer = f"The answer mentions {SECRET_WORDS[1]}"
    client = redis.Redis.from_url(server.url)
    try:
        with caplog.at_level(logging.DEBUG, logger="redis_llm_cache"):
            cache.lookup(SECRET_PROMPT, LLM)  # miss (takes the lease)
            cache.update(SECRET_PROMPT, LLM, [Generation(text=secret_answer)])
            cache.lookup(SECRET_PROMPT, LLM)  # exact hit
            cache.lookup(f"{SECRET_PROMPT}!", LLM)  # semantic hit
            cache.update("big " + SECRET_PROMPT, LLM, [Generation(text=secret_answer * 200)])
            cache.update(  # would not round-trip: skipped, reason at DEBUG only
                "odd " + SECRET_PROMPT,
                LLM,
                [Generation(text=secret_answer, generation_info={"t": (SECRET_WORDS[2],)})],
            )
            client.set(cache.core.exact.key("corrupt " + SECRET_PROMPT, LLM), b"garbage")
            cache.lookup("corrupt " + SECRET_PROMPT, LLM)
            client.rpush(cache.core.exact.key("list " + SECRET_PROMPT, LLM), b"x")
            cache.lookup("list " + SECRET_PROMPT, LLM)
            cache.lookup(f"{SECRET_PROMPT} {SECRET_WORDS[2]}", LLM)
            server.shutdown()
            for _ in range(3):
                cache.lookup(SECRET_PROMPT, LLM)
                cache.update(SECRET_PROMPT, LLM, [Generation(text=secret_answer)])
    finally:
        client.close()
        cache.close()
        server.stop()
    stats = cache.stats()
    assert stats["hits"] >= 2 and stats["skipped_writes"] == 2 and stats["errors"] >= 1
    assert any(r.levelno > logging.DEBUG for r in caplog.records)  # something was logged
    loud = [r.getMessage() for r in caplog.records if r.levelno > logging.DEBUG]
    leaked = [m for m in loud if any(w in m.lower() for w in SECRET_WORDS)]
    assert leaked == []

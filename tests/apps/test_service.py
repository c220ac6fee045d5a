"""The FastAPI service, in-process over httpx's ASGI transport, on real Redis."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from redis_llm_cache.embedders import LocalEmbedder
from redis_llm_cache.errors import ConfigurationError
from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.redis.embedded import EmbeddedRedis, free_port
from redis_llm_cache.service import EchoChatModel, create_app


@pytest.fixture
async def client_for(
    async_cleanup: list[RedisLLMCache],
) -> AsyncIterator[Callable[[RedisLLMCache], httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def make(cache: RedisLLMCache, **kwargs: Any) -> httpx.AsyncClient:
        async_cleanup.append(cache)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(cache, **kwargs)), base_url="http://t"
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_ask_misses_then_hits_and_metrics_follow(
    make_cache: Callable[..., RedisLLMCache],
    client_for: Callable[..., httpx.AsyncClient],
) -> None:
    client = client_for(make_cache(mark_hits=True))
    first = (await client.post("/ask", json={"question": "What is Redis?"})).json()
    assert first["answer"] == "echo: What is Redis?"
    assert (first["cached"], first["tier"]) == (False, None)
    second = (await client.post("/ask", json={"question": "What is Redis?"})).json()
    assert (second["answer"], second["cached"], second["tier"]) == (
        first["answer"], True, "exact",
    )  # fmt: skip
    with_system = await client.post(
        "/ask", json={"question": "What is Redis?", "system": "Be brief."}
    )
    assert with_system.json()["cached"] is False  # another conversation context

    scrape = (await client.get("/metrics")).text
    samples = {
        (s.name, s.labels.get("tier"), s.labels.get("direction")): s.value
        for family in text_string_to_metric_families(scrape)
        for s in family.samples
    }
    assert samples[("redis_llm_cache_hits_total", "exact", None)] == 1
    assert samples[("redis_llm_cache_misses_total", None, None)] == 2
    # The echo model reports 3 input and 4 output tokens for this question.
    assert samples[("redis_llm_cache_tokens_saved_total", None, "output")] == 4
    data = (await client.get("/metrics/json")).json()
    assert data["caches"]["llm"]["hits_exact"] == 1
    assert data["caches"]["llm"]["provider_cache"]["responses"] == 2


@pytest.fixture
def semantic_caches(
    redis_servers: dict[str, str], build_cache: Callable[..., RedisLLMCache]
) -> Callable[[str], RedisLLMCache]:
    """Semantic caches with the bundled embedder, on the named server kind."""

    def make(kind: str) -> RedisLLMCache:
        return build_cache(
            RedisLLMCache,
            redis_url=redis_servers[kind],
            mark_hits=True,
            embedder=LocalEmbedder(),
            semantic_threshold=0.9,
        )  # the default verifier: it accepts the paraphrase used below

    return make


async def test_semantic_hit_reports_similarity_and_matched_prompt(
    semantic_caches: Callable[[str], RedisLLMCache],
    client_for: Callable[..., httpx.AsyncClient],
) -> None:
    client = client_for(semantic_caches("stack"), show_matched_prompt=True)  # opted in
    await client.post("/ask", json={"question": "How do I reset my password?"})
    hit = (await client.post("/ask", json={"question": "How can I reset my password?"})).json()
    assert (hit["cached"], hit["tier"]) == (True, "semantic")
    assert hit["answer"] == "echo: How do I reset my password?"
    assert hit["matched_prompt"] == "How do I reset my password?"
    assert 0.9 <= hit["similarity"] <= 1.0
    stats = (await client.get("/stats")).json()["process"]
    assert stats["semantic"]["recent_hits"] == 1  # counted, prompt text left out
    holdings = (await client.get("/stats", params={"redis": "true"})).json()["redis"]
    assert holdings["semantic"]["usage_hits"] == 1
    assert holdings["exact"]["by_scope"][0]["model"] == "echo"


async def test_matched_prompt_is_withheld_by_default(
    semantic_caches: Callable[[str], RedisLLMCache],
    client_for: Callable[..., httpx.AsyncClient],
) -> None:
    # One user's question must not reach another user unless the operator opts in.
    client = client_for(semantic_caches("plain"))
    await client.post("/ask", json={"question": "How do I reset my password?"})
    hit = (await client.post("/ask", json={"question": "How can I reset my password?"})).json()
    assert hit["tier"] == "semantic" and hit["matched_prompt"] is None


async def test_matched_prompt_can_be_withheld_explicitly(
    semantic_caches: Callable[[str], RedisLLMCache],
    client_for: Callable[..., httpx.AsyncClient],
) -> None:
    client = client_for(semantic_caches("plain"), show_matched_prompt=False)
    await client.post("/ask", json={"question": "How do I reset my password?"})
    hit = (await client.post("/ask", json={"question": "How can I reset my password?"})).json()
    assert hit["tier"] == "semantic" and hit["matched_prompt"] is None


async def test_delete_cache_is_scoped_and_unscoped_needs_all(
    make_cache: Callable[..., RedisLLMCache],
    client_for: Callable[..., httpx.AsyncClient],
) -> None:
    cache = make_cache(mark_hits=True, tenant="acme")
    client = client_for(cache)
    for question in ("a", "b"):
        await client.post("/ask", json={"question": question})
    refused = await client.delete("/cache")
    assert refused.status_code == 400
    assert cache.core.count() == 2
    other = await client.delete("/cache", params={"tenant": "globex"})
    assert other.json()["removed"] == 0
    done = await client.delete("/cache", params={"tenant": "acme"})
    assert done.json()["removed"] == 2
    assert cache.core.count() == 0
    await client.post("/ask", json={"question": "a"})
    assert (await client.delete("/cache", params={"all": "true"})).json()["removed"] == 1


async def test_health_reports_redis_and_the_breaker(
    client_for: Callable[..., httpx.AsyncClient],
) -> None:
    server = EmbeddedRedis().start()
    try:
        # Generous: "ok" must not depend on machine load; a stopped server refuses at once.
        cache = RedisLLMCache(redis_url=server.url, mark_hits=True, timeout=2.0)
        client = client_for(cache)
        healthy = (await client.get("/health")).json()
        assert healthy["status"] == "ok" and healthy["redis"]["reachable"] is True
        server.shutdown()
        # The health check goes through the cache's failure policy: counted.
        failed = (await client.get("/health")).json()
        assert failed["redis"] == {"reachable": False, "error": "ConnectionError"}
        assert cache.stats()["errors_by_kind"] == {"ConnectionError": 1}
        # Fail-open: answers keep coming from the model; health says degraded.
        for _ in range(3):
            answer = (await client.post("/ask", json={"question": "still there?"})).json()
            assert answer["answer"] == "echo: still there?" and answer["cached"] is False
        degraded = (await client.get("/health")).json()
        assert degraded["status"] == "degraded"
        assert degraded["redis"]["reachable"] is False
        assert degraded["breaker_open"] is True
        # While the breaker is open a health check costs nothing: it is skipped.
        skips = cache.stats()["breaker_skips"]
        assert (await client.get("/health")).json()["status"] == "degraded"
        assert cache.stats()["breaker_skips"] == skips + 1
    finally:
        server.stop()


async def test_bad_requests_and_configuration(
    make_cache: Callable[..., RedisLLMCache],
    client_for: Callable[..., httpx.AsyncClient],
) -> None:
    client = client_for(make_cache(mark_hits=True))
    assert (await client.post("/ask", json={"question": ""})).status_code == 422
    assert (await client.post("/ask", json={})).status_code == 422
    with pytest.raises(ConfigurationError, match="mark_hits=True"):
        create_app(make_cache())
    with pytest.raises(ConfigurationError, match="RedisLLMCache"):
        create_app(object(), EchoChatModel())  # type: ignore[arg-type]


def test_module_entry_point_serves_over_http() -> None:
    """``python -m redis_llm_cache.service``: uvicorn, a private Redis, the echo model."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "redis_llm_cache.service", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                if httpx.get(f"{base}/health", timeout=2).json()["status"] == "ok":
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "service did not come up"
            time.sleep(0.1)  # poll interval, bounded by the deadline
        first = httpx.post(f"{base}/ask", json={"question": "ping?"}, timeout=10).json()
        second = httpx.post(f"{base}/ask", json={"question": "ping?"}, timeout=10).json()
        assert (first["cached"], second["cached"], second["tier"]) == (False, True, "exact")
        assert "redis_llm_cache_hits_total" in httpx.get(f"{base}/metrics", timeout=10).text
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
        if process.stderr is not None:
            process.stderr.close()

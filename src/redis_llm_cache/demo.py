"""``python -m redis_llm_cache.demo``: a chatbot session with and without the cache.

Runs on the embedded default: a private Redis started from the pip-installed
binaries, and a simulated chat model with realistic latency (no API keys). A
support chatbot answers a stream of user questions in which, as in real
traffic, popular questions repeat. The table at the end compares the session's
cost and latency against the same session without a cache.

A repeated question (same text, same model settings) is an exact hit; a
paraphrase -- in English or Chinese -- is a semantic hit, found by the bundled
offline embedding model; a near-miss ("reset my router" after "reset my
password") must go to the LLM.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from typing import Any

from langchain_core.globals import set_llm_cache
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from .embedders import LocalEmbedder
from .langchain import RedisLLMCache
from .redis.embedded import EmbeddedRedis

#: Simulated model: latency per call and price, in the range of hosted chat models.
LLM_LATENCY_S = (0.35, 0.9)
PRICE_PER_1K_TOKENS = 0.002
TOKENS_PER_CALL = 450

QUESTIONS = [
    "How do I reset my password?",
    "What are your opening hours?",
    "How do I reset my password?",
    "Can I change my delivery address after ordering?",
    "What are your opening hours?",
    "怎么修改我的收货地址？",
    "How do I reset my password?",
    "Do you ship to Canada?",
    "怎么修改我的收货地址？",
    "How can I reset my password?",  # a paraphrase: semantic hit
    "What are your opening hours?",
    "如何更改收货地址？",  # a Chinese paraphrase: semantic hit
    "How do I reset my router?",  # a near-miss: must NOT be served the password answer
    "Do you ship to Canada?",
]


class SimulatedChatModel(GenericFakeChatModel):
    """Sleeps like a hosted model, then answers; counts real calls."""

    calls: int = 0
    messages: Any = None

    def _generate(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        time.sleep(random.uniform(*LLM_LATENCY_S))
        question = messages[-1].content
        self.messages = iter(
            [
                AIMessage(
                    content=f"(simulated answer #{self.calls} to: {question})",
                    usage_metadata={
                        "input_tokens": 150,
                        "output_tokens": TOKENS_PER_CALL - 150,
                        "total_tokens": TOKENS_PER_CALL,
                    },
                )
            ]
        )
        return super()._generate(messages, *args, **kwargs)


def main() -> int:
    random.seed(7)
    print("Starting a private Redis 8.2 from the installed binaries ...", flush=True)
    with EmbeddedRedis() as server:
        cache = RedisLLMCache(
            redis_url=server.url,
            namespace="demo",
            ttl=3600,
            embedder=LocalEmbedder(),
            mark_hits=True,
        )
        set_llm_cache(cache)
        chat = SimulatedChatModel()
        latencies: dict[str, list[float]] = {"LLM  ": [], "cache": []}
        print(f"Redis at {server.url}; asking {len(QUESTIONS)} questions.\n", flush=True)
        for number, question in enumerate(QUESTIONS, 1):
            calls_before = chat.calls
            started = time.perf_counter()
            reply = chat.invoke(question)
            elapsed = time.perf_counter() - started
            source = "LLM  " if chat.calls > calls_before else "cache"
            latencies[source].append(elapsed)
            hit = reply.response_metadata.get("cache", {})
            how = ""
            if hit.get("tier") == "semantic":
                how = f"  <- semantic {hit['similarity']:.3f}: {hit['matched_prompt']}"
            elif hit.get("tier") == "exact":
                how = "  <- exact"
            print(
                f"  {number:2d}. [{source}] {elapsed * 1000:7.1f} ms  {question}{how}", flush=True
            )
        set_llm_cache(None)
        stats = cache.stats()
        cache.close()

    saved_calls = len(QUESTIONS) - chat.calls
    hit_latencies, llm_latencies = latencies["cache"], latencies["LLM  "]
    rows = [
        ("questions asked", f"{len(QUESTIONS)}"),
        ("LLM calls made", f"{chat.calls}"),
        ("exact hits", f"{stats['hits_exact']}"),
        ("semantic hits", f"{stats['hits_semantic']}"),
        ("misses", f"{stats['misses']}"),
        ("cache errors", f"{stats['errors']}"),
        ("LLM calls saved", f"{saved_calls} ({saved_calls / len(QUESTIONS):.0%})"),
        (
            "est. cost saved",
            f"${saved_calls * TOKENS_PER_CALL / 1000 * PRICE_PER_1K_TOKENS:.4f}"
            f" at ${PRICE_PER_1K_TOKENS}/1k tokens",
        ),
        ("answer latency p50, hits", f"{statistics.median(hit_latencies) * 1000:.1f} ms"),
        ("answer latency p50, LLM", f"{statistics.median(llm_latencies) * 1000:.1f} ms"),
        (
            "cache lookup p50 / p99",
            f"{stats['lookup_ms']['p50']:.2f} / {stats['lookup_ms']['p99']:.2f} ms",
        ),
        ("session time saved", f"~{saved_calls * statistics.mean(LLM_LATENCY_S):.1f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    print("\n" + "-" * (width + 40))
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print("-" * (width + 40))
    threshold = stats["semantic"]["threshold"]
    print(
        f"Semantic threshold {threshold:.2f} (cosine, calibrated for the bundled model); "
        "the near-miss about the router went to the LLM."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Worst latency a sick dependency adds to one LLM call through the cache.

For each dependency -- the embedder (an HTTP server speaking Ollama's
``/api/embed``), the judge of a judged verifier, the LLM -- and each way it is
sick (down, hung, slow, erroring, killed mid-call), in each mode (sync calls, one
thread or asyncio task per call), ask fresh prompts through ``RedisLLMCache`` with an
instant chat model and report the slowest call with the dependency sick, the
slowest with it healthy, and the difference of the first from the healthy median
("added"). With threads and tasks, calls also queue behind each other for Redis
and the GIL, so "added" bounds what the fault itself costs from above. Default
cache settings (``embed_timeout`` 0.25 s, ``judge_timeout`` 0.5 s, breakers after
3 failures), so the numbers read against the budget in the README (*When the
embedder, the judge or the LLM misbehaves*).

For the LLM: how long the callers waiting for a failing caller's answer wait
before one of them calls the LLM itself (its model raised; its process was
killed), against the lease (``stampede_lease``, 10 s).

    python bench/faults.py [--calls 8] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from redis_llm_cache import JudgedVerifier
from redis_llm_cache.embedders import OllamaEmbedder
from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.redis.embedded import EmbeddedRedis

DIMENSIONS = 32
SICK_S = 30.0  # how long "hung" hangs and what the embedder's own timeout is
SLOW_S = 2.0
FAULTS = ("down", "hung", "slow", "erroring", "killed")
MODES = ("sync", "threads", "async")


class EmbeddingServer:
    """``/api/embed`` with vectors from a hash of the text; ``fault`` makes it sick."""

    def __init__(self) -> None:
        self.fault = "healthy"
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fault = server.fault
                if fault in ("killed", "down"):
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault == "hung":
                    time.sleep(SICK_S)
                elif fault == "slow":
                    time.sleep(SLOW_S)
                if fault == "erroring":
                    status, payload = 500, {"error": "model runner crashed"}
                else:
                    status, payload = 200, {"embeddings": [vector(t) for t in body["input"]]}
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                try:
                    self.wfile.write(raw)
                except OSError:
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


def vector(text: str) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.lower().strip("?!. ").encode()).digest()[:8], "big")
    v = np.random.default_rng(seed).standard_normal(DIMENSIONS)
    return [float(x) for x in v / np.linalg.norm(v)]


class Echo(GenericFakeChatModel):
    """Answers ``answer to <prompt>`` at once; counts calls."""

    messages: Any = None
    calls: int = 0

    def _generate(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.messages = iter([AIMessage(content=f"answer to {messages[-1].content}")])
        return super()._generate(messages, *args, **kwargs)


def timed_calls(model: Echo, prompts: list[str], mode: str) -> list[float]:
    """Seconds of each call (sync, from threads or from asyncio tasks)."""

    def one(prompt: str) -> float:
        started = time.perf_counter()
        model.invoke(prompt)
        return time.perf_counter() - started

    async def aone(prompt: str) -> float:
        started = time.perf_counter()
        await model.ainvoke(prompt)
        return time.perf_counter() - started

    async def gathered() -> list[float]:
        return list(await asyncio.gather(*(aone(p) for p in prompts)))

    if mode == "sync":
        return [one(p) for p in prompts]
    if mode == "threads":
        with ThreadPoolExecutor(len(prompts)) as pool:
            return list(pool.map(one, prompts))
    return asyncio.run(gathered())


class Judge:
    def __init__(self) -> None:
        self.fault = "healthy"
        self.release = threading.Event()

    def __call__(self, query: str, candidate: str) -> bool:
        if self.fault == "hung":
            self.release.wait(SICK_S)
        elif self.fault == "slow":
            time.sleep(SLOW_S)
        elif self.fault in ("erroring", "down", "killed"):
            raise ConnectionError("judge failed")
        return True


def measure_model_faults(url: str, dependency: str, calls: int) -> list[dict[str, Any]]:
    rows = []
    for fault in FAULTS:
        for mode in MODES:
            server = EmbeddingServer()
            judge = Judge()
            namespace = f"bench-faults-{dependency}-{fault}-{mode}"
            verifier = JudgedVerifier(judge=judge, band=1.0) if dependency == "judge" else None
            embedder = OllamaEmbedder(
                "bench", host=server.url, native_dimensions=DIMENSIONS, timeout=SICK_S
            )
            cache = RedisLLMCache(
                redis_url=url,
                namespace=namespace,
                embedder=embedder,
                semantic_strategy="client",
                semantic_threshold=0.99,
                semantic_verifier=verifier,
            )
            model = Echo(cache=cache)
            timed_calls(model, ["warm-up"], "sync")  # connections, the index, the probe
            stored = [f"stored question {i}" for i in range(calls)]
            healthy = timed_calls(model, stored, mode)
            if dependency == "embedder":
                server.fault = fault
                prompts = [f"fresh question {fault} {i}" for i in range(calls)]
            else:
                judge.fault = fault
                prompts = [f"{p}?" for p in stored]  # paraphrases: each needs the judge
            sick = timed_calls(model, prompts, mode)
            judge.release.set()
            stats = cache.stats()
            rows.append(
                {
                    "dependency": dependency,
                    "fault": fault,
                    "mode": mode,
                    "healthy_worst_ms": round(max(healthy) * 1000, 1),
                    "sick_worst_ms": round(max(sick) * 1000, 1),
                    "worst_added_ms": round((max(sick) - statistics.median(healthy)) * 1000, 1),
                    "breaker_opens": stats[f"{dependency}_breaker_opens"],
                }
            )
            cache.clear()
            cache.close()
            server.httpd.shutdown()
    return rows


HOLDER = """
import sys, time
from redis_llm_cache.langchain import RedisLLMCache
cache = RedisLLMCache(redis_url=sys.argv[1], namespace="bench-faults-killed", timeout=5.0)
cache.lookup("q", "m")
print("holding", flush=True)
time.sleep(120)
"""


def measure_llm_faults(url: str) -> list[dict[str, Any]]:
    """Waiters' wait when the holder's model raises, and when its process dies."""
    rows = []
    cache = RedisLLMCache(redis_url=url, namespace="bench-faults-llm", stampede_wait=60.0)

    class Failing(Echo):
        def _generate(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == 1:
                time.sleep(0.2)
                raise RuntimeError("the model failed")
            return super()._generate(messages, *args, **kwargs)

    model = Failing(cache=cache)

    def ask() -> None:
        with contextlib.suppress(RuntimeError):  # the failing caller's own error
            model.invoke("q")

    started = time.perf_counter()
    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows.append(
        {
            "dependency": "llm",
            "fault": "erroring",
            "mode": "threads",
            "worst_added_ms": round((time.perf_counter() - started - 0.2) * 1000, 1),
            "llm_calls": model.calls,
        }
    )
    cache.clear()
    cache.close()

    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE)
    assert holder.stdout is not None
    holder.stdout.readline()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    waiter = RedisLLMCache(redis_url=url, namespace="bench-faults-killed", stampede_wait=60.0)
    started = time.perf_counter()
    waiter.lookup("q", "m")
    rows.append(
        {
            "dependency": "llm",
            "fault": "killed",
            "mode": "sync",
            "worst_added_ms": round((time.perf_counter() - started) * 1000, 1),
        }
    )
    waiter.clear()
    waiter.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=8, help="calls per cell")
    parser.add_argument("--json", action="store_true", help="print JSON rows")
    args = parser.parse_args(argv)
    with EmbeddedRedis() as redis_server:
        rows: list[dict[str, Any]] = []
        measure: list[Callable[[], list[dict[str, Any]]]] = [
            lambda: measure_model_faults(redis_server.url, "embedder", args.calls),
            lambda: measure_model_faults(redis_server.url, "judge", args.calls),
            lambda: measure_llm_faults(redis_server.url),
        ]
        for step in measure:
            rows.extend(step())
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("| dependency | fault | mode | slowest call, healthy | slowest call, sick | added |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        cells = [row["dependency"], row["fault"], row["mode"]]
        cells += [
            f"{row[k]:.0f} ms" if k in row else "-"
            for k in ("healthy_worst_ms", "sick_worst_ms", "worst_added_ms")
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

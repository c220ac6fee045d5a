"""An HTTP service around a cached chat model (``pip install "redis-llm-cache[service]"``).

Endpoints:

* ``POST /ask`` ``{"question", "system"?}`` -> the answer, whether it was served
  from the cache and how (tier, similarity), latency; the cached question a
  semantic hit matched (another user's words) only with ``show_matched_prompt=True``;
* ``GET /health`` -> Redis reachable (round-trip ms) and circuit breaker state;
  always 200 while the process serves (``"status": "degraded"`` when Redis is
  not reachable: answers still come, from the model);
* ``GET /metrics`` -> Prometheus text; ``GET /metrics/json`` -> the same as JSON;
* ``GET /stats`` -> this process's ``stats()`` (``?redis=true`` adds what Redis
  holds for the namespace, see :mod:`.core.inventory`);
* ``DELETE /cache?tenant=...&llm_string=...`` -> scoped clear; clearing the whole
  namespace needs ``?all=true``.

Run it: ``python -m redis_llm_cache.service --port 8000`` (a private Redis and an
echo model unless ``--url`` / your own app factory say otherwise), or build the
app yourself and serve it with any ASGI server.

Example:
    >>> from redis_llm_cache.service import create_app
    >>> cache = RedisLLMCache(redis_url="redis://localhost:6379", mark_hits=True)
    >>> app = create_app(cache, ChatOpenAI(model="gpt-4o-mini"))   # uvicorn.run(app)
"""

from __future__ import annotations

import argparse
import functools
import signal
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._extras import requires_extra
from .config import validate_redis_url
from .core.index.inventory import namespace_inventory
from .core.ops import Call
from .errors import BackendError, ConfigurationError, MissingExtraError

# The web framework and metrics: a package missing here is named as part of the
# service extra, which brings them all. LangChain (the adapters) is imported by
# what runs: create_app(), main() and EchoChatModel.
with requires_extra("service", feature="redis_llm_cache.service"):
    from fastapi import FastAPI, HTTPException, Query
    from fastapi.responses import Response
    from prometheus_client import CONTENT_TYPE_LATEST
    from pydantic import BaseModel, Field

    from .metrics import CacheMetrics, ModelPrice, public_stats

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

    from .langchain import RedisLLMCache


@functools.cache
def echo_chat_model_class() -> type[BaseChatModel]:
    """The class :data:`EchoChatModel` (defined on first use: it is a LangChain
    chat model, and LangChain is imported only by what needs it)."""
    with requires_extra("service", feature="EchoChatModel"):
        from langchain_core.language_models import BaseChatModel
        from langchain_core.messages import AIMessage
        from langchain_core.outputs import ChatGeneration, ChatResult

    class EchoChatModel(BaseChatModel):
        """A stand-in model: answers ``echo: <question>`` with token usage, so the
        service runs (and shows savings) without an API key."""

        model_name: str = "echo"

        @property
        def _llm_type(self) -> str:
            return "echo"

        def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
            question = str(messages[-1].content)
            words = sum(len(str(m.content).split()) for m in messages)
            message = AIMessage(
                content=f"echo: {question}",
                usage_metadata={
                    "input_tokens": words,
                    "output_tokens": words + 1,
                    "total_tokens": 2 * words + 1,
                },
                response_metadata={"model_name": self.model_name},
            )
            return ChatResult(generations=[ChatGeneration(message=message)])

    EchoChatModel.__qualname__ = "EchoChatModel"
    return EchoChatModel


def __getattr__(name: str) -> Any:
    # ``from redis_llm_cache.service import EchoChatModel`` builds the class.
    if name == "EchoChatModel":
        return echo_chat_model_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=100_000)
    system: str | None = Field(default=None, max_length=100_000)


class AskResponse(BaseModel):
    answer: str
    cached: bool
    tier: str | None = None
    similarity: float | None = None
    matched_prompt: str | None = None
    latency_ms: float


def create_app(
    cache: RedisLLMCache,
    llm: BaseChatModel | None = None,
    *,
    prices: Mapping[str, ModelPrice] | None = None,
    show_matched_prompt: bool = False,
) -> FastAPI:
    """A FastAPI app answering with ``llm`` (default :class:`EchoChatModel`)
    through ``cache``. The cache must be built with ``mark_hits=True`` (that is how
    ``/ask`` learns how an answer hit); a model's own ``cache`` is replaced by it.
    A semantic hit matched a question someone else asked, so ``/ask`` reports it
    (``matched_prompt``) only with ``show_matched_prompt=True``: for a single-user
    service or a debugging session, never for one shared by users who must not
    see each other's questions.
    """
    with requires_extra("service", feature="create_app"):
        from langchain_core.messages import HumanMessage, SystemMessage

        from .langchain import RedisLLMCache
        from .langchain.callbacks import ProviderCacheCallback
        from .langchain.usage import describe_stored
    if not isinstance(cache, RedisLLMCache):
        raise ConfigurationError(f"cache must be a RedisLLMCache, got {type(cache).__name__}")
    if not getattr(cache.core.exact.codec, "mark_hits", False):
        raise ConfigurationError(
            "build the cache with RedisLLMCache(..., mark_hits=True): /ask reports how answers hit"
        )
    provider = ProviderCacheCallback(cache)
    base = llm if llm is not None else echo_chat_model_class()()
    model = base.model_copy(
        update={"cache": cache, "callbacks": [*_handlers(base.callbacks), provider]}
    )
    metrics = CacheMetrics(prices=prices)
    metrics.register(cache, name="llm")
    app = FastAPI(title="redis-llm-cache", version="1")
    app.state.cache, app.state.model, app.state.metrics = cache, model, metrics

    @app.post("/ask", response_model=AskResponse)
    async def ask(request: AskRequest) -> AskResponse:
        messages: list[BaseMessage] = [HumanMessage(content=request.question)]
        if request.system is not None:
            messages.insert(0, SystemMessage(content=request.system))
        started = time.perf_counter()
        reply = await model.ainvoke(messages)
        latency_ms = (time.perf_counter() - started) * 1000
        mark = reply.response_metadata.get("cache") or {}
        return AskResponse(
            answer=str(reply.content),
            cached=bool(mark.get("hit")),
            tier=mark.get("tier"),
            similarity=mark.get("similarity"),
            matched_prompt=mark.get("matched_prompt") if show_matched_prompt else None,
            latency_ms=round(latency_ms, 3),
        )

    @app.get("/health")
    async def health() -> dict[str, Any]:
        redis_state: dict[str, Any] = {"reachable": True}
        started = time.perf_counter()
        try:
            # Through the cache's failure policy: a down Redis is counted, and while
            # the breaker is open the check costs nothing (it is skipped: degraded).
            await cache.core.runtime.arun(iter_ping(), during="health check", fail_open=False)
            redis_state["round_trip_ms"] = round((time.perf_counter() - started) * 1000, 3)
        except Exception as exc:
            cause = exc.__cause__ if isinstance(exc, BackendError) else None
            redis_state = {"reachable": False, "error": type(cause or exc).__name__}
        breaker_open = cache.stats().breaker_open
        healthy = redis_state["reachable"] and not breaker_open
        return {
            "status": "ok" if healthy else "degraded",
            "redis": redis_state,
            "breaker_open": breaker_open,
        }

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.prometheus_text(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/metrics/json")
    async def metrics_json() -> dict[str, Any]:
        return metrics.as_dict()

    @app.get("/stats")
    async def stats(redis: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"process": public_stats(cache.stats())}
        if redis:
            op = namespace_inventory(cache.settings.namespace, describe=describe_stored)
            out["redis"] = await cache.core.runtime.arun(
                op, during="stats inventory", fail_open=False
            )
        return out

    @app.delete("/cache")
    async def clear(
        tenant: str | None = None,
        llm_string: str | None = None,
        all: bool = Query(False, description="required to clear the whole namespace"),
    ) -> dict[str, Any]:
        if tenant is None and llm_string is None and not all:
            raise HTTPException(400, "give tenant and/or llm_string, or all=true")
        removed = await cache.core.aclear(tenant=tenant, llm_string=llm_string)
        return {"removed": removed, "tenant": tenant, "llm_string": llm_string}

    return app


def iter_ping() -> Any:
    """A one-request operation: ``PING``."""
    return (yield Call(("PING",)))


def _handlers(callbacks: Any) -> list[Any]:
    if callbacks is None:
        return []
    if isinstance(callbacks, list):
        return list(callbacks)
    raise ConfigurationError("pass the model's callbacks as a list (a manager is not supported)")


def main(argv: list[str] | None = None) -> None:
    """``python -m redis_llm_cache.service``: serve the echo model through a cache."""
    from .redis.embedded import EmbeddedRedis

    try:
        with requires_extra("service", feature="python -m redis_llm_cache.service"):
            import uvicorn

            from .langchain import RedisLLMCache
    except MissingExtraError as exc:  # one line, not a traceback, for a missing install
        raise SystemExit(f"python -m redis_llm_cache.service: {exc}") from exc

    parser = argparse.ArgumentParser(prog="python -m redis_llm_cache.service")
    parser.add_argument("--url", help="Redis URL (default: start a private one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--semantic", action="store_true", help="bundled embedder, semantic hits")
    parser.add_argument(
        "--show-matched-prompt",
        action="store_true",
        help="report the cached question a semantic hit matched (other users' words)",
    )
    args = parser.parse_args(argv)
    if args.url:
        try:
            validate_redis_url(args.url, name="--url")
        except ConfigurationError as exc:
            parser.error(str(exc))  # before a private Redis or the model is started
    server = None if args.url else EmbeddedRedis().start()
    embedder = None
    if args.semantic:
        from .embedders import LocalEmbedder

        embedder = LocalEmbedder()
    url = args.url or (server.url if server else None)
    cache = RedisLLMCache(redis_url=url, mark_hits=True, embedder=embedder)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler
    # found before it started; exiting through SystemExit runs the cleanup below
    # (the private Redis would otherwise outlive us).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        uvicorn.run(
            create_app(cache, show_matched_prompt=args.show_matched_prompt),
            host=args.host,
            port=args.port,
        )
    finally:
        cache.close()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()

"""The runtime's promises: an async lookup never blocks the event loop (the judge and
the dimension probe are steps the async driver awaits), and building any cache or
adapter does no I/O -- not to Redis, not to the model.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult, Generation
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import Field

from redis_llm_cache import ResponseCache
from redis_llm_cache.core.embedding.embedder import EmbedderIdentity, Matrix, Role
from redis_llm_cache.core.semantic.tier import SemanticSettings
from redis_llm_cache.core.semantic.verify import ChatModelJudge, JudgedVerifier
from redis_llm_cache.embedders import OllamaEmbedder, OpenAIEmbedder
from redis_llm_cache.embeddings import EmbeddingCache
from redis_llm_cache.langchain import (
    CachedEmbeddings,
    CachedStreamingChatModel,
    EmbedderEmbeddings,
    GenerationCodec,
    OllamaEmbeddings,
    RedisLLMCache,
)
from redis_llm_cache.langchain.embedder import LangChainEmbedder
from redis_llm_cache.llama_index import (
    CachedEmbedding,
    EmbedderEmbedding,
    LlamaIndexEmbedder,
    OllamaEmbedding,
)

LLM = "model=fake;temperature=0"
QUESTION = "How do I reset the password of my account?"
PARAPHRASE = "How can I reset the password of my account?"
DIMENSIONS = 64
# A blocking call longer than any pause the loop may see on a loaded machine.
BLOCK_S = 1.0


def chat(text: str) -> str:
    return dumps([HumanMessage(text)])


def trigram_vector(text: str) -> list[float]:
    """Character trigrams hashed into a small vector: near-equal texts, near-equal vectors."""
    vector = np.zeros(DIMENSIONS, dtype=np.float32)
    padded = f"  {text.lower()}  "
    for i in range(len(padded) - 2):
        vector[zlib.crc32(padded[i : i + 3].encode()) % DIMENSIONS] += 1.0
    return [float(x) for x in vector]


class AsyncOnlyEmbeddings(Embeddings):
    """A LangChain model whose blocking methods block (then fail); async ones answer."""

    model = "char-trigrams"

    def __init__(self) -> None:
        self.blocking_calls: list[str] = []

    def _blocked(self, name: str) -> Any:
        self.blocking_calls.append(name)
        time.sleep(BLOCK_S)
        raise AssertionError(f"{name} called on the async path")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._blocked("embed_documents")  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self._blocked("embed_query")  # type: ignore[no-any-return]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return [trigram_vector(text) for text in texts]

    async def aembed_query(self, text: str) -> list[float]:
        return trigram_vector(text)


class AsyncOnlyChatModel(BaseChatModel):
    """A chat model whose ``invoke`` blocks (then fails); ``ainvoke`` says YES."""

    blocking_calls: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "async-only"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.blocking_calls.append("invoke")
        time.sleep(BLOCK_S)
        raise AssertionError("invoke called on the async path")

    async def _agenerate(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> ChatResult:
        await asyncio.sleep(0)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="YES"))])


async def tick(gaps: list[float], stop: asyncio.Event) -> None:
    """Records the pauses between this task's turns on the loop."""
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.005)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


@pytest.mark.parametrize("strategy", ["auto", "client"])
async def test_alookup_never_blocks_the_event_loop(
    strategy: str,
    redis_servers: dict[str, str],
    build_cache: Callable[..., RedisLLMCache],
    async_cleanup: list[RedisLLMCache],
) -> None:
    embeddings = AsyncOnlyEmbeddings()
    judge_model = AsyncOnlyChatModel(cache=False)
    # No dimensions given: the vector length is learned with a probe (a step), and
    # a band of 1.0 sends every candidate to the LLM judge (another step).
    cache = build_cache(
        RedisLLMCache,
        redis_url=redis_servers["plain"],
        embedder=LangChainEmbedder(embeddings),
        semantic=SemanticSettings(
            strategy=strategy,  # type: ignore[arg-type]
            threshold=0.5,
            verifier=JudgedVerifier(judge=ChatModelJudge(judge_model), band=1.0),
        ),
        mark_hits=True,
    )
    async_cleanup.append(cache)
    gaps: list[float] = []
    stop = asyncio.Event()
    ticker = asyncio.create_task(tick(gaps, stop))
    await cache.aupdate(chat(QUESTION), LLM, [Generation(text="use the reset link")])
    hit = await cache.alookup(chat(PARAPHRASE), LLM)
    # One more turn of the ticker, so its last gap spans the end of the lookup however
    # fast the machine is (a blocked loop shows as one gap of >= BLOCK_S).
    await asyncio.sleep(0.02)
    stop.set()
    await ticker
    assert gaps and max(gaps) < BLOCK_S / 2, f"the loop stalled {max(gaps):.3f} s"
    assert embeddings.blocking_calls == [] and judge_model.blocking_calls == []
    assert hit is not None and hit[0].text == "use the reset link"
    mark = hit[0].generation_info["cache"]  # type: ignore[index]
    assert mark["tier"] == "semantic" and mark["judged_by"] == "judge"
    assert cache.stats()["errors"] == 0


async def test_a_blocking_judge_runs_off_the_event_loop(
    redis_servers: dict[str, str],
    build_cache: Callable[..., RedisLLMCache],
    async_cleanup: list[RedisLLMCache],
) -> None:
    # A plain function judge (a cross-encoder's predict, say) has no async twin: the
    # async lookup runs it in a worker thread, never on the loop's thread.
    threads: list[int] = []

    def judge(query: str, candidate: str) -> bool:
        threads.append(threading.get_ident())
        return True

    cache = build_cache(
        RedisLLMCache,
        redis_url=redis_servers["plain"],
        embedder=LangChainEmbedder(AsyncOnlyEmbeddings(), dimensions=DIMENSIONS),
        semantic=SemanticSettings(
            strategy="client", threshold=0.5, verifier=JudgedVerifier(judge=judge, band=1.0)
        ),
    )
    async_cleanup.append(cache)
    await cache.aupdate(chat(QUESTION), LLM, [Generation(text="use the reset link")])
    hit = await cache.alookup(chat(PARAPHRASE), LLM)
    assert hit is not None and hit[0].text == "use the reset link"
    assert threads and threading.get_ident() not in threads


# -- constructors do no I/O --------------------------------------------------------------


class Touched(list[str]):
    """Names of every model method called (a raising method may be swallowed)."""


def raise_touched(touched: Touched, name: str) -> Any:
    touched.append(name)
    raise AssertionError(f"{name} called while building")


class RaisingEmbeddings(Embeddings):
    model = "raises"

    def __init__(self, touched: Touched) -> None:
        self.touched = touched

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return raise_touched(self.touched, "embed_documents")  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return raise_touched(self.touched, "embed_query")  # type: ignore[no-any-return]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return raise_touched(self.touched, "aembed_documents")  # type: ignore[no-any-return]

    async def aembed_query(self, text: str) -> list[float]:
        return raise_touched(self.touched, "aembed_query")  # type: ignore[no-any-return]


class RaisingBaseEmbedding(BaseEmbedding):
    touched: Touched = Field(default_factory=Touched)

    def _get_query_embedding(self, query: str) -> list[float]:
        return raise_touched(self.touched, "_get_query_embedding")  # type: ignore[no-any-return]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return raise_touched(self.touched, "_aget_query_embedding")  # type: ignore[no-any-return]

    def _get_text_embedding(self, text: str) -> list[float]:
        return raise_touched(self.touched, "_get_text_embedding")  # type: ignore[no-any-return]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return raise_touched(self.touched, "_get_text_embeddings")  # type: ignore[no-any-return]


class RaisingEmbedder:
    """A core Embedder: its identity is plain data, every method raises."""

    identity = EmbedderIdentity(provider="test", model="raises", dimensions=8)

    def __init__(self, touched: Touched) -> None:
        self.touched = touched

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        return raise_touched(self.touched, "embed")  # type: ignore[no-any-return]

    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        return raise_touched(self.touched, "aembed")  # type: ignore[no-any-return]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port that accepts connections nobody answers: any connection attempt is seen."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.setblocking(False)
    yield server
    server.close()


def refusing_port() -> int:
    """A port nothing listens on (connections are refused)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


def build_everything(redis_url: str, http_url: str, touched: Touched) -> list[Any]:
    """Every public cache and adapter, each with a model whose every method raises."""
    built: list[Any] = []
    for strategy in ("auto", "search", "vectorset", "client"):
        built.append(
            RedisLLMCache(
                redis_url,
                embedder=LangChainEmbedder(RaisingEmbeddings(touched)),
                semantic_strategy=strategy,
            )
        )
        built.append(
            RedisLLMCache(redis_url, embedder=RaisingEmbedder(touched), semantic_strategy=strategy)
        )
    built += [
        RedisLLMCache(redis_url),
        RedisLLMCache(redis_url, embedder=RaisingEmbeddings(touched)),
        RedisLLMCache(
            redis_url,
            embedder=LlamaIndexEmbedder(RaisingBaseEmbedding(model_name="raises", touched=touched)),
            semantic_strategy="client",
        ),
        ResponseCache(
            codec=GenerationCodec(),
            redis_url=redis_url,
            embedder=RaisingEmbedder(touched),
            semantic=SemanticSettings(strategy="vectorset"),
        ),
        EmbeddingCache(RaisingEmbedder(touched), redis_url=redis_url),
        CachedEmbeddings(RaisingEmbeddings(touched), redis_url=redis_url),
        CachedEmbeddings(RaisingEmbedder(touched), redis_url=redis_url),
        CachedEmbedding(
            RaisingBaseEmbedding(model_name="raises", touched=touched), redis_url=redis_url
        ),
        EmbedderEmbeddings(RaisingEmbedder(touched)),
        EmbedderEmbedding(RaisingEmbedder(touched)),
        CachedStreamingChatModel(model=FakeListChatModel(responses=["x"])),
        OllamaEmbedder("bge-m3", host=http_url),
        OllamaEmbeddings("bge-m3", host=http_url),
        OllamaEmbedding("bge-m3", base_url=http_url),
        OpenAIEmbedder(base_url=f"{http_url}/v1", api_key="unused"),
    ]
    return built


def test_constructors_touch_neither_redis_nor_the_model(listener: socket.socket) -> None:
    host, port = listener.getsockname()
    touched = Touched()
    built = build_everything(f"redis://{host}:{port}/0", f"http://{host}:{port}", touched)
    assert len(built) == 23
    assert touched == []
    with pytest.raises(BlockingIOError):  # nothing connected to the port
        listener.accept()


def test_constructors_succeed_when_redis_refuses_connections() -> None:
    port = refusing_port()
    touched = Touched()
    built = build_everything(f"redis://127.0.0.1:{port}/0", f"http://127.0.0.1:{port}", touched)
    assert len(built) == 23 and touched == []


# -- the async twins ---------------------------------------------------------------------


class TrigramEmbedding(BaseEmbedding):
    """A LlamaIndex model over :func:`trigram_vector`."""

    def _get_query_embedding(self, query: str) -> list[float]:
        return trigram_vector(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return trigram_vector(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return trigram_vector(text)


async def test_async_twins_answer_like_their_sync_originals(
    redis_servers: dict[str, str],
    build_cache: Callable[..., Any],
    async_cleanup: list[RedisLLMCache],
) -> None:
    url = redis_servers["plain"]
    cache: RedisLLMCache = build_cache(
        RedisLLMCache,
        redis_url=url,
        embedder=LangChainEmbedder(AsyncOnlyEmbeddings()),
        semantic=SemanticSettings(strategy="client", threshold=0.5, verifier=None),
    )
    async_cleanup.append(cache)
    core = cache.core
    for n in range(3):
        await cache.aupdate(chat(f"{QUESTION} ({n})"), LLM, [Generation(text=str(n))])
    assert await core.acount() == core.count() == 3
    assert await core.acount(llm_string="another model") == 0
    assert await cache.alookup(chat(f"{QUESTION} (0)?"), LLM) is not None  # a semantic hit
    usage = await core.asemantic_usage(chat(f"{QUESTION} (0)"), LLM)
    assert usage == core.semantic_usage(chat(f"{QUESTION} (0)"), LLM) and usage["hits"] == 1

    vectors = build_cache(
        CachedEmbedding, TrigramEmbedding(model_name="char-trigrams"), redis_url=url
    )
    await vectors.aget_text_embedding_batch(["first text", "second text"])
    assert await vectors.core.acount() == vectors.core.count() == 2
    assert await vectors.aclear() == 2
    assert await vectors.core.acount() == 0
    await vectors.aclose()

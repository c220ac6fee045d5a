"""``python -m redis_llm_cache.demo``: a support chatbot and a RAG ingest on the cache.

Runs on the embedded default: a private Redis started from the pip-installed
binaries, the bundled offline embedding model, and a simulated chat model with
realistic latency. With ``OPENAI_API_KEY`` (and ``langchain-openai`` installed) or
``OLLAMA_HOST`` (and ``langchain-ollama``) it asks that real model instead
(``OPENAI_MODEL`` / ``OLLAMA_MODEL`` name the model).

The chatbot answers a stream of user questions as in real traffic: questions
repeat (exact hits), users paraphrase in English and Chinese (semantic hits, found
by the embedding model), and some questions are *near-misses* -- close in wording
to an answered question but asking something else ("reset my router" after "reset
my password"), which must go to the LLM. Then one answer is streamed through
:class:`~redis_llm_cache.langchain.CachedStreamingChatModel`, and a small help
center is ingested twice with LlamaIndex through :class:`CachedEmbedding` and
asked the same questions twice through a query engine on :class:`CachedLLM`: the
second ingest and the second pass of questions are served from Redis. The table
at the end is computed from what happened, not from expectations: every count is
what the run observed.
"""

from __future__ import annotations

import functools
import importlib
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ._extras import requires_extra
from .embedders import LocalEmbedder
from .errors import MissingExtraError
from .redis.embedded import EmbeddedRedis

if TYPE_CHECKING:
    # LangChain is imported when the demo runs: importing this module needs only
    # the base package (e.g. for HELP_CENTER).
    from langchain_core.language_models import BaseChatModel

    from .langchain import RedisLLMCache

Kind = Literal["new", "repeat", "paraphrase", "near-miss"]

#: Simulated model: seconds per call, in the range of hosted chat models.
LLM_LATENCY_S = (0.35, 0.9)
#: Assumed price (USD per million tokens), of a small hosted chat model.
PRICE_PER_M_INPUT = 0.15
PRICE_PER_M_OUTPUT = 0.60

#: (question, what it is). Paraphrases and near-misses refer to an earlier question.
SESSION: list[tuple[str, Kind]] = [
    ("How do I reset my password?", "new"),
    ("What are your opening hours?", "new"),
    ("怎么修改我的收货地址？", "new"),
    ("How do I reset my password?", "repeat"),
    ("Do you ship to Canada?", "new"),
    ("How can I reset my password?", "paraphrase"),
    ("如何更改收货地址？", "paraphrase"),
    ("How do I reset my router?", "near-miss"),
    ("What are your opening hours?", "repeat"),
    ("退货需要多长时间？", "new"),
    ("Do you ship to Mexico?", "near-miss"),
    ("退货要多久？", "paraphrase"),
    ("How do I cancel my order?", "new"),
    ("怎么修改我的手机号？", "near-miss"),
    ("How can I cancel my order?", "paraphrase"),
    ("怎么修改我的收货地址？", "repeat"),
    ("Do you ship to Canada?", "repeat"),
    ("收货地址怎么改？", "paraphrase"),
    ("How do I reset my password?", "repeat"),
]

#: Asked once more through ``stream()`` after the session (a paraphrase asked before).
STREAMED_QUESTION = "How can I cancel my order?"

#: What the simulated model answers (a real model writes its own).
SIMULATED_ANSWERS = {
    "How do I reset my password?": "Go to Settings > Security > Reset password; we email "
    "you a link that is valid for one hour.",
    "What are your opening hours?": "Our support team is available Monday to Friday, "
    "9:00-18:00 CET.",
    "怎么修改我的收货地址？": "订单发货前，可以在“我的订单”中点击“修改地址”，发货后请联系客服。",
    "Do you ship to Canada?": "Yes, we ship to Canada; delivery takes 5-8 business days.",
    "How do I reset my router?": "Hold the router's reset button for 10 seconds until the "
    "lights blink, then set it up again.",
    "退货需要多长时间？": "收到退货后 3 个工作日内处理完毕，退款 5-7 天到账。",
    "Do you ship to Mexico?": "Not yet: we ship to the US and Canada only.",
    "How do I cancel my order?": "Open My orders, choose the order and press Cancel; this "
    "works until it ships.",
    "怎么修改我的手机号？": "在“账户设置 > 安全”中点击“更换手机号”，并用短信验证码确认。",
}

#: Asked twice of the ingested help center through a LlamaIndex query engine.
RAG_QUESTIONS = (
    "How long is the password reset link valid?",
    "Which countries do you ship to?",
    "退款多久到账？",
)

#: A small help center (English and Chinese) for the RAG ingest.
HELP_CENTER = {
    "account": "Passwords. To reset your password, open Settings, choose Security and "
    "press Reset password. We send a link to your email address; it is valid for one "
    "hour. If the email does not arrive, check your spam folder or ask support. "
    "Two-factor authentication can be turned on in the same menu.",
    "shipping": "Shipping. We ship to the United States and Canada. Standard delivery "
    "takes 5-8 business days, express delivery 2-3 business days. Orders placed before "
    "14:00 leave our warehouse the same day. Tracking numbers arrive by email.",
    "returns": "Returns. You can return any item within 30 days. Print the return label "
    "from My orders and drop the parcel at any post office. Refunds are issued within "
    "three business days after the parcel arrives.",
    "orders": "Cancelling an order. Open My orders, choose the order and press Cancel. "
    "This works until the order ships; after that, return the parcel instead. Changing "
    "the delivery address is possible before shipping from the same page.",
    "账户": "账户安全。忘记密码时，在“设置 > 安全”中点击“重置密码”，我们会向你的邮箱发送"
    "一小时内有效的链接。更换手机号需要短信验证码确认。建议开启两步验证。",
    "配送": "配送说明。订单在下午两点前支付当天发货。标准配送需要五到八个工作日，加急配送"
    "两到三个工作日。发货后可以在“我的订单”中查看物流单号。",
    "退货": "退货与退款。收到商品三十天内可以申请退货。在“我的订单”中打印退货标签并寄回。"
    "我们收到退货后三个工作日内处理，退款五到七天到账。",
    "hours": "Opening hours. Our support team answers chat and email Monday to Friday, "
    "9:00-18:00 CET. Outside these hours, the help center and the order page stay "
    "available, and urgent account issues can be reported through the security form.",
}


@functools.cache
def simulated_chat_model_class() -> type[BaseChatModel]:
    """The class :data:`SimulatedChatModel` (defined on first use: it is a LangChain
    chat model, and LangChain is imported only by what needs it)."""
    with requires_extra("langchain", feature="SimulatedChatModel"):
        from langchain_core.language_models import BaseChatModel
        from langchain_core.messages import AIMessage, BaseMessage
        from langchain_core.outputs import ChatGeneration, ChatResult

    class SimulatedChatModel(BaseChatModel):
        """Sleeps like a hosted model, then answers from :data:`SIMULATED_ANSWERS`,
        with token usage as a provider reports it; counts its calls."""

        latency_s: tuple[float, float] = LLM_LATENCY_S
        calls: int = 0

        @property
        def _llm_type(self) -> str:
            return "simulated-chat"

        def _generate(
            self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
        ) -> ChatResult:
            self.calls += 1
            time.sleep(random.uniform(*self.latency_s))
            question = messages[-1].text
            answer = SIMULATED_ANSWERS.get(question, f"(simulated answer to: {question})")
            input_tokens = 180 + len(question) // 3  # a system prompt plus the question
            output_tokens = 250 + random.randrange(100)
            # A plain dict, validated by the message: langchain-core 1.8 made the token
            # detail keys of the UsageMetadata TypedDict required for type checkers.
            usage = {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            }
            message = AIMessage(content=answer, usage_metadata=usage)
            return ChatResult(generations=[ChatGeneration(message=message)])

    SimulatedChatModel.__qualname__ = "SimulatedChatModel"
    return SimulatedChatModel


@functools.cache
def simulated_llama_index_llm_class() -> type[Any]:
    """A LlamaIndex ``LLM`` that sleeps like a hosted model, then answers as
    :func:`_simulated_answer` says (defined on first use, as
    :func:`simulated_chat_model_class` is); counts its calls."""
    with requires_extra("llama-index", feature="the demo's LlamaIndex part"):
        from llama_index.core.bridge.pydantic import Field
        from llama_index.core.llms import (
            CompletionResponse,
            CompletionResponseGen,
            CustomLLM,
            LLMMetadata,
        )

    class SimulatedLlamaIndexLLM(CustomLLM):
        latency_s: tuple[float, float] = LLM_LATENCY_S
        # State, not a setting: left out of the model's dump (and so of the cache key).
        calls: int = Field(default=0, exclude=True)

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(model_name="simulated")

        def complete(self, prompt: str, formatted: bool = False, **kw: Any) -> CompletionResponse:
            self.calls += 1
            time.sleep(random.uniform(*self.latency_s))
            usage = {"prompt_tokens": len(prompt) // 4, "completion_tokens": 60}
            return CompletionResponse(
                text=_simulated_answer(prompt), raw={"model": "simulated", "usage": usage}
            )

        def stream_complete(
            self, prompt: str, formatted: bool = False, **kw: Any
        ) -> CompletionResponseGen:
            yield self.complete(prompt, formatted=formatted, **kw)

    SimulatedLlamaIndexLLM.__qualname__ = "SimulatedLlamaIndexLLM"
    return SimulatedLlamaIndexLLM


def _simulated_answer(prompt: str) -> str:
    """A question-answering prompt (LlamaIndex's template: context between dashed
    lines) is answered with the first sentence of its context; a chat (LlamaIndex's
    ``user:`` lines) from :data:`SIMULATED_ANSWERS`."""
    parts = prompt.split("---------------------")
    if len(parts) >= 3:
        first = parts[1].strip().split(". ")[0].split("。")[0]
        return f"(simulated, from the help center) {first}."
    asked = [
        line[len("user:") :].strip() for line in prompt.splitlines() if line.startswith("user:")
    ]
    question = asked[-1] if asked else prompt.strip()
    return SIMULATED_ANSWERS.get(question, f"(simulated answer to: {question})")


def __getattr__(name: str) -> Any:
    # ``from redis_llm_cache.demo import SimulatedChatModel`` builds the class.
    if name == "SimulatedChatModel":
        return simulated_chat_model_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class Turn:
    question: str
    kind: Kind
    answer: str
    seconds: float
    tier: str | None  # "exact" / "semantic" when served from the cache
    similarity: float | None = None
    matched: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    # Why the semantic tier did not serve it: "refused by the verifier", "bypassed: <rule>".
    not_served_because: str | None = None


@dataclass
class Ingest:
    seconds: float
    nodes: int
    embedded_by_model: int
    model_batches: int
    from_cache: int


@dataclass
class RagQueries:
    seconds: float
    questions: int
    llm_calls: int
    from_cache: int


@dataclass
class DemoReport:
    llm: str
    turns: list[Turn]
    ingests: list[Ingest]
    stream_question: str
    stream_chunks: int
    stream_tier: str | None
    stream_seconds: float
    lookup_ms: dict[str, float]
    cache_errors: int
    threshold: float
    rag_queries: list[RagQueries] = field(default_factory=list)

    def of_kind(self, kind: Kind) -> list[Turn]:
        return [turn for turn in self.turns if turn.kind == kind]

    @property
    def llm_calls(self) -> int:
        return sum(turn.tier is None for turn in self.turns)

    def hits(self, tier: str) -> int:
        return sum(turn.tier == tier for turn in self.turns)

    @property
    def wrong_hits(self) -> int:
        """Near-misses that were served a cached answer (an answer to another question)."""
        return sum(turn.tier is not None for turn in self.of_kind("near-miss"))


def choose_llm(say: Callable[[str], None], latency_s: tuple[float, float]) -> BaseChatModel:
    """The real model the environment names, if its LangChain package is installed;
    else the simulated one (saying why)."""
    wanted = [
        ("OPENAI_API_KEY", "langchain_openai", "ChatOpenAI", "OPENAI_MODEL", "gpt-4o-mini"),
        ("OLLAMA_HOST", "langchain_ollama", "ChatOllama", "OLLAMA_MODEL", "llama3.2"),
    ]
    for variable, package, class_name, model_variable, default_model in wanted:
        if not os.environ.get(variable):
            continue
        try:
            module = importlib.import_module(package)
        except ImportError:
            say(
                f"{variable} is set, but {package.replace('_', '-')} is not installed "
                f"(pip install {package.replace('_', '-')}): using the simulated model."
            )
            continue
        model_name = os.environ.get(model_variable, default_model)
        chat: BaseChatModel = getattr(module, class_name)(model=model_name, temperature=0)
        return chat
    # Typed as its base class, which does not declare the simulated fields.
    simulated_class: Any = simulated_chat_model_class()
    simulated: BaseChatModel = simulated_class(latency_s=latency_s)
    return simulated


def _semantic_decisions(cache: RedisLLMCache) -> tuple[int, dict[str, int]]:
    semantic = cache.stats().get("semantic") or {}
    return semantic.get("verifier_rejected", 0), dict(semantic.get("bypassed", {}))


def ask(chat: BaseChatModel, cache: RedisLLMCache, question: str, kind: Kind) -> Turn:
    rejected_before, bypassed_before = _semantic_decisions(cache)
    started = time.perf_counter()
    reply = chat.invoke(question)
    seconds = time.perf_counter() - started
    rejected_after, bypassed_after = _semantic_decisions(cache)
    because = None
    if rejected_after > rejected_before:
        because = "refused by the verifier"
    for rule, count in bypassed_after.items():
        if count > bypassed_before.get(rule, 0):
            because = f"bypassed: {rule}"
    hit = reply.response_metadata.get("cache", {})
    usage: dict[str, Any] = dict(reply.usage_metadata or {})
    return Turn(
        question=question,
        kind=kind,
        answer=reply.text,
        seconds=seconds,
        tier=hit.get("tier"),
        similarity=hit.get("similarity"),
        matched=hit.get("matched_prompt"),
        usage={k: int(v) for k, v in usage.items() if k.endswith("_tokens")},
        not_served_because=None if hit.get("tier") else because,
    )


def ingest_twice(redis_url: str, say: Callable[[str], None]) -> tuple[list[Ingest], Any]:
    """Build a LlamaIndex vector index of :data:`HELP_CENTER` twice, each time with
    a new ``CachedEmbedding`` (as a re-run of an ingest script would): what each run
    did, and the second index. Nothing (and says so) when LlamaIndex is not installed."""
    try:
        from llama_index.core import Document, VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter
    except ImportError:
        say("  LlamaIndex is not installed (pip install 'redis-llm-cache[llama-index]'): skipped.")
        return [], None

    from .llama_index import CachedEmbedding, EmbedderEmbedding

    documents = [Document(text=text, doc_id=name) for name, text in HELP_CENTER.items()]
    splitter = SentenceSplitter(chunk_size=100, chunk_overlap=0)
    runs = []
    for attempt in ("first", "second"):
        embedding = CachedEmbedding(
            EmbedderEmbedding(LocalEmbedder()), redis_url=redis_url, namespace="demo-rag"
        )
        started = time.perf_counter()
        index = VectorStoreIndex.from_documents(
            documents, transformations=[splitter], embed_model=embedding
        )
        seconds = time.perf_counter() - started
        stats = embedding.stats()
        run = Ingest(
            seconds=seconds,
            nodes=len(index.docstore.docs),
            embedded_by_model=stats["texts_embedded"],
            model_batches=stats["batches_sent"],
            from_cache=stats["hits"],
        )
        say(
            f"  {attempt} ingest: {run.nodes} chunks, {run.embedded_by_model} embedded by "
            f"the model, {run.from_cache} from Redis, {seconds * 1000:.0f} ms"
        )
        runs.append(run)
        embedding.close()  # the index's queries reconnect
    return runs, index


def query_twice(
    index: Any, redis_url: str, say: Callable[[str], None], latency_s: tuple[float, float]
) -> list[RagQueries]:
    """Ask :data:`RAG_QUESTIONS` of ``index`` through a query engine whose LLM is a
    ``CachedLLM``, twice (each time a new one, as a restarted app would have)."""
    from .llama_index import CachedLLM

    inner = simulated_llama_index_llm_class()(latency_s=latency_s)
    runs = []
    for attempt in ("first", "second"):
        llm = CachedLLM(inner, redis_url=redis_url, namespace="demo-rag-llm", timeout=1.0)
        engine = index.as_query_engine(llm=llm)
        calls_before = inner.calls
        started = time.perf_counter()
        for question in RAG_QUESTIONS:
            engine.query(question)
        run = RagQueries(
            seconds=time.perf_counter() - started,
            questions=len(RAG_QUESTIONS),
            llm_calls=inner.calls - calls_before,
            from_cache=llm.stats()["hits"],
        )
        say(
            f"  {attempt} pass: {run.questions} questions, {run.llm_calls} LLM calls, "
            f"{run.from_cache} answered from Redis, {run.seconds * 1000:.0f} ms"
        )
        runs.append(run)
        llm.close()
    return runs


def run_demo(
    *, latency_s: tuple[float, float] = LLM_LATENCY_S, say: Callable[[str], None] = print
) -> DemoReport:
    """Run the session on a private embedded Redis and return what happened."""
    with requires_extra("langchain", feature="python -m redis_llm_cache.demo"):
        from langchain_core.globals import set_llm_cache

        from .langchain import CachedStreamingChatModel, RedisLLMCache
    random.seed(7)
    say("Starting a private Redis 8.2 from the installed binaries ...")
    with EmbeddedRedis() as server:
        embedder = LocalEmbedder()
        say("Loading the bundled embedding model ...")
        embedder.embed(["warm-up"], role="query")  # as an app does at start-up
        cache = RedisLLMCache(
            redis_url=server.url,
            namespace="demo",
            ttl=3600,
            embedder=embedder,
            mark_hits=True,
            timeout=1.0,  # the demo runs on busy laptops too; the default is 50 ms
        )
        chat = choose_llm(say, latency_s)
        simulated = isinstance(chat, simulated_chat_model_class())
        llm = "simulated" if simulated else type(chat).__name__
        set_llm_cache(cache)
        try:
            say(f"Redis at {server.url}; LLM: {llm}. The chatbot answers {len(SESSION)} questions:")
            turns = []
            for number, (question, kind) in enumerate(SESSION, 1):
                turn = ask(chat, cache, question, kind)
                turns.append(turn)
                say(describe(number, turn))

            say(f"\nA streaming UI asks {STREAMED_QUESTION!r} again (stream() through the cache):")
            streaming = CachedStreamingChatModel(model=chat)
            started = time.perf_counter()
            chunks = list(streaming.stream(STREAMED_QUESTION))
            stream_seconds = time.perf_counter() - started
            stream_tier = chunks[-1].response_metadata.get("cache", {}).get("tier")
            say(
                f"  {len(chunks)} chunks in {stream_seconds * 1000:.1f} ms, "
                f"{'from the cache (' + stream_tier + ')' if stream_tier else 'from the LLM'}"
            )
        finally:
            set_llm_cache(None)
        stats = cache.stats()
        cache.close()

        say("\nA RAG app ingests its help center with LlamaIndex, twice (a re-run):")
        ingests, index = ingest_twice(server.url, say)
        rag_queries = []
        if index is not None:
            say("It answers questions with a LlamaIndex query engine on CachedLLM, twice:")
            rag_queries = query_twice(index, server.url, say, latency_s)

    return DemoReport(
        llm=llm,
        turns=turns,
        ingests=ingests,
        stream_question=STREAMED_QUESTION,
        stream_chunks=len(chunks),
        stream_tier=stream_tier,
        stream_seconds=stream_seconds,
        lookup_ms=stats["lookup_ms"],
        cache_errors=stats["errors"],
        threshold=stats["semantic"]["threshold"],
        rag_queries=rag_queries,
    )


def describe(number: int, turn: Turn) -> str:
    source = "cache" if turn.tier else "LLM  "
    how = ""
    if turn.tier == "semantic":
        how = f"  <- semantic {turn.similarity:.3f}: {turn.matched}"
    elif turn.tier == "exact":
        how = "  <- exact"
    elif turn.kind == "near-miss":
        how = "  (near-miss: sent to the LLM)"
    elif turn.kind == "paraphrase":
        how = f"  (paraphrase: {turn.not_served_because or 'below the threshold'})"
    return f"  {number:2d}. [{source}] {turn.seconds * 1000:7.1f} ms  {turn.question}{how}"


def _count_because(turns: list[Turn], reason: str) -> int:
    return sum(
        turn.tier is None and (turn.not_served_because or "").startswith(reason) for turn in turns
    )


def cost(usage: dict[str, int]) -> float:
    return (
        usage.get("input_tokens", 0) * PRICE_PER_M_INPUT
        + usage.get("output_tokens", 0) * PRICE_PER_M_OUTPUT
    ) / 1e6


def table(report: DemoReport) -> list[str]:
    """The summary table, one row per fact."""
    turns = report.turns
    served = [turn for turn in turns if turn.tier]
    paraphrases = report.of_kind("paraphrase")
    near_misses = report.of_kind("near-miss")
    llm_seconds = [turn.seconds for turn in turns if not turn.tier]
    # A hit carries the usage of the answer it replays: the tokens the LLM would
    # have spent again.
    tokens_saved = sum(turn.usage.get("total_tokens", 0) for turn in served)
    cost_saved = sum(cost(turn.usage) for turn in served)
    cost_spent = sum(cost(turn.usage) for turn in turns if not turn.tier)
    rows = [
        ("LLM", report.llm),
        ("questions asked", f"{len(turns)}"),
        ("LLM calls made", f"{report.llm_calls}"),
        (
            "hits, exact tier",
            f"{report.hits('exact')} (of {len(report.of_kind('repeat'))} repeats)",
        ),
        (
            "hits, semantic tier",
            f"{report.hits('semantic')} (paraphrases served: "
            f"{sum(t.tier is not None for t in paraphrases)}/{len(paraphrases)})",
        ),
        (
            "paraphrases not served",
            f"{_count_because(paraphrases, 'refused by the verifier')} refused by the "
            f"verifier, {_count_because(paraphrases, 'bypassed')} bypassed "
            "(see README: How right are semantic hits)",
        ),
        (
            "wrong hits avoided",
            f"{len(near_misses) - report.wrong_hits}/{len(near_misses)} near-misses sent to "
            f"the LLM (wrong hits served: {report.wrong_hits})",
        ),
        ("cache errors", f"{report.cache_errors}"),
        # Apart, not pooled: an exact hit is one GET, a semantic hit also embeds the
        # question and searches the index; one p50 of both would describe neither.
        (
            "latency p50, exact hits",
            _latency([turn.seconds for turn in turns if turn.tier == "exact"], "hits"),
        ),
        (
            "latency p50, semantic hits",
            _latency([turn.seconds for turn in turns if turn.tier == "semantic"], "hits"),
        ),
        ("latency p50, LLM calls", _latency(llm_seconds, "calls")),
        (
            "cache lookup p50 / p99",
            f"{report.lookup_ms['p50']:.2f} / {report.lookup_ms['p99']:.2f} ms",
        ),
        ("LLM calls saved", f"{len(served)} of {len(turns)} ({len(served) / len(turns):.0%})"),
        (
            "est. cost saved",
            f"${cost_saved:.5f} of ${cost_saved + cost_spent:.5f} ({tokens_saved} tokens)",
        ),
        (
            "streamed question",
            f"{report.stream_question!r}: {report.stream_chunks} chunks, "
            f"{report.stream_seconds * 1000:.1f} ms, {report.stream_tier or 'LLM'}",
        ),
    ]
    if report.ingests:
        first, second = report.ingests
        rows += [
            (
                "RAG ingest, 1st",
                f"{first.embedded_by_model} of {first.nodes} chunks embedded by the model "
                f"in {_calls(first.model_batches)}, {first.seconds * 1000:.0f} ms",
            ),
            (
                "RAG ingest, 2nd",
                f"{second.embedded_by_model} embedded in {_calls(second.model_batches)}, "
                f"{second.from_cache} from Redis, {second.seconds * 1000:.0f} ms",
            ),
        ]
    if report.rag_queries:
        first_pass, second_pass = report.rag_queries
        rows += [
            (
                "RAG queries, 1st",
                f"{first_pass.questions} questions, {first_pass.llm_calls} LLM calls, "
                f"{first_pass.seconds * 1000:.0f} ms",
            ),
            (
                "RAG queries, 2nd",
                f"{second_pass.llm_calls} LLM calls, {second_pass.from_cache} from Redis, "
                f"{second_pass.seconds * 1000:.0f} ms",
            ),
        ]
    width = max(len(name) for name, _ in rows)
    rule = "-" * (width + 60)
    return [rule, *(f"  {name:<{width}}  {value}" for name, value in rows), rule]


def _calls(count: int) -> str:
    return f"{count} model call" + ("" if count == 1 else "s")


def _latency(seconds: Sequence[float], what: str) -> str:
    """The median of ``seconds`` in ms, and how many ``what`` it is taken over."""
    if not seconds:
        return f"n/a (0 {what})"
    return f"{statistics.median(seconds) * 1000:.1f} ms ({len(seconds)} {what})"


def main() -> int:
    """``python -m redis_llm_cache.demo``; a missing extra is one line on stderr (exit 1)."""
    try:
        report = run_demo(say=lambda line: print(line, flush=True))
    except MissingExtraError as exc:
        print(f"redis_llm_cache.demo: {exc}", file=sys.stderr)
        return 1
    print()
    for line in table(report):
        print(line)
    print(
        f"Prices assumed: ${PRICE_PER_M_INPUT} / ${PRICE_PER_M_OUTPUT} per million input / "
        f"output tokens. Semantic threshold {report.threshold:.2f} (cosine, calibrated for "
        "the bundled model). How often near-misses do get served on public labelled "
        "sets: README, 'How right are semantic hits'."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

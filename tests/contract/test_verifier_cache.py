"""The verifier, feedback, bypass rules and judge hook through RedisLLMCache on real
Redis, with the bundled model and default settings unless a test says otherwise.

Similarities quoted in comments were measured with the bundled model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.load import dumps
from langchain_core.messages import HumanMessage
from langchain_core.outputs import Generation

from redis_llm_cache.core.semantic.tier import SemanticSettings
from redis_llm_cache.core.semantic.verify import ChatModelJudge, JudgedVerifier
from redis_llm_cache.embedders import LocalEmbedder
from redis_llm_cache.langchain import RedisLLMCache

LLM = "model=fake;temperature=0"
# A server-side and a client-side index: the verifier runs after either.
STRATEGIES = [("vectorset", "plain"), ("client", "stack")]


@pytest.fixture(params=STRATEGIES, ids=[f"{s}-{k}" for s, k in STRATEGIES])
def make(
    request: pytest.FixtureRequest,
    redis_servers: dict[str, str],
    build_cache: Callable[..., RedisLLMCache],
    embedder: LocalEmbedder,
) -> Callable[..., RedisLLMCache]:
    strategy, kind = request.param

    def build(semantic: dict[str, Any] | None = None, **kwargs: Any) -> RedisLLMCache:
        """``semantic``: SemanticSettings fields (the strategy is the fixture's)."""
        kwargs.setdefault("redis_url", redis_servers[kind])
        kwargs.setdefault("embedder", embedder)
        if semantic is None:
            kwargs["semantic_strategy"] = strategy
        else:
            kwargs["semantic"] = SemanticSettings(strategy=strategy, **semantic)
        return build_cache(RedisLLMCache, **kwargs)

    return build


def chat(text: str) -> str:
    return dumps([HumanMessage(text)])


def answer(text: str) -> list[Generation]:
    return [Generation(text=text)]


def test_direction_swap_is_not_served_but_a_paraphrase_is(
    make: Callable[..., RedisLLMCache],
) -> None:
    cache = make(mark_hits=True)
    cache.update(chat("深圳到上海要多久"), LLM, answer("两个小时"))
    # Same characters, other direction: similarity ~1.0, passes any cosine threshold.
    assert cache.lookup(chat("上海到深圳要多久"), LLM) is None
    hit = cache.lookup(chat("从深圳到上海需要多久"), LLM)
    assert hit is not None and hit[0].text == "两个小时"
    mark = hit[0].generation_info["cache"]  # type: ignore[index]
    assert mark["matched_prompt"] == "深圳到上海要多久"
    assert 0.0 <= mark["verifier_score"] <= 1.0 and mark["similarity"] >= 0.96
    semantic = cache.stats()["semantic"]
    assert semantic["verifier"] == "PairVerifier"
    assert semantic["verifier_rejected"] >= 1 and semantic["verifier_accepted"] == 1
    recent = semantic["recent_hits"][-1]
    assert recent["prompt"] == "从深圳到上海需要多久" and recent["verifier_score"] is not None


def test_key_word_near_miss_is_not_served_even_below_the_default_gate(
    make: Callable[..., RedisLLMCache],
) -> None:
    # 0.927 similar: a threshold of 0.90 (RedisVL's default) alone would serve it.
    with_verifier = make(semantic_threshold=0.90)
    with_verifier.update(chat("How do I reset my password?"), LLM, answer("password"))
    assert with_verifier.lookup(chat("How do I reset my router?"), LLM) is None
    assert with_verifier.lookup(chat("How can I reset my password?"), LLM) == answer("password")
    assert with_verifier.core.semantic_settings.verifier == "default"
    plain = make(semantic={"threshold": 0.90, "verifier": None})
    assert plain.lookup(chat("How do I reset my router?"), LLM) == answer("password")


def test_report_wrong_hit_stops_that_hit(make: Callable[..., RedisLLMCache]) -> None:
    cache = make()
    question = chat("How do I reset my password?")
    cache.update(question, LLM, answer("password"))
    paraphrase = chat("How can I reset my password?")
    assert cache.lookup(paraphrase, LLM) == answer("password")
    assert cache.report_wrong_hit(paraphrase, LLM) is True
    assert cache.lookup(paraphrase, LLM) is None
    assert cache.lookup(question, LLM) == answer("password")  # its own prompt still hits
    assert cache.report_wrong_hit(paraphrase, LLM) is False  # nothing answers it any more
    assert cache.stats()["semantic"]["wrong_hits_reported"] == 1
    assert cache.core.semantic_usage(question, LLM)["wrong_hits"] == 1


def test_report_wrong_hit_async(make: Callable[..., RedisLLMCache]) -> None:
    cache = make()

    async def scenario() -> None:
        await cache.aupdate(chat("怎么重置密码"), LLM, answer("a"))
        assert await cache.alookup(chat("如何重置密码"), LLM) == answer("a")
        assert await cache.areport_wrong_hit(chat("如何重置密码"), LLM) is True
        assert await cache.alookup(chat("如何重置密码"), LLM) is None
        await cache.aclose()

    asyncio.run(scenario())


def test_personal_and_time_sensitive_prompts_bypass(make: Callable[..., RedisLLMCache]) -> None:
    cache = make()
    cache.update(chat("Where is my order?"), LLM, answer("in Paris"))
    cache.update(chat("今天天气怎么样"), LLM, answer("晴"))
    assert cache.lookup(chat("Where's my order?"), LLM) is None
    assert cache.lookup(chat("今天天气如何"), LLM) is None
    assert cache.lookup(chat("Where is my order?"), LLM) == answer("in Paris")  # exact still
    bypassed = cache.stats()["semantic"]["bypassed"]
    assert bypassed == {"personal": 1, "time_sensitive": 1}
    # Turned off: the personal paraphrase is served (and indexed) again (0.981
    # similar; the verifier is off to show the bypass alone).
    open_cache = make(semantic={"bypass": (), "verifier": None})
    open_cache.update(chat("Where is my order?"), LLM, answer("in Paris"))
    assert open_cache.lookup(chat("Where's my order?"), LLM) == answer("in Paris")


def test_tool_calling_prompts_bypass(make: Callable[..., RedisLLMCache]) -> None:
    cache = make()
    tools = LLM + "[('tools', [{'type': 'function', 'function': {'name': 'search'}}])]"
    cache.update(chat("How can I reset my password?"), tools, answer("call search"))
    assert cache.lookup(chat("How do I reset my password?"), tools) is None
    assert cache.stats()["semantic"]["bypassed"] == {"tool_calling": 1}


def test_llm_judge_decides_borderline_candidates(make: Callable[..., RedisLLMCache]) -> None:
    says_yes = ChatModelJudge(FakeListChatModel(responses=["YES"]))
    # A band of 1.0 makes every candidate borderline: the judge decides all.
    cache = make(semantic={"verifier": JudgedVerifier(judge=says_yes, band=1.0)})
    cache.update(chat("深圳到上海要多久"), LLM, answer("两个小时"))
    assert cache.lookup(chat("上海到深圳要多久"), LLM) == answer("两个小时")
    says_no = ChatModelJudge(FakeListChatModel(responses=["No, they differ."]))
    strict = make(semantic={"verifier": JudgedVerifier(judge=says_no, band=1.0)})
    assert strict.lookup(chat("从深圳到上海需要多久"), LLM) is None
    for judged in (cache, strict):
        semantic = judged.stats()["semantic"]
        assert semantic["judged"] == 1 and semantic["judge_ms"]["count"] == 1
        assert semantic["judge_ms"]["p50"] >= 0.0
    # A narrow band: clear decisions never reach the judge.
    counting = FakeListChatModel(responses=["YES"])
    narrow = make(semantic={"verifier": JudgedVerifier(judge=ChatModelJudge(counting), band=0.0)})
    assert narrow.lookup(chat("上海到深圳要多久"), LLM) is None
    assert narrow.stats()["semantic"]["judged"] == 0 and counting.i == 0

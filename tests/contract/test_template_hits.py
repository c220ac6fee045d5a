"""Semantic hits in templated prompts through RedisLLMCache on real Redis, with
the bundled model and a real LangChain ``ChatPromptTemplate``: a near-miss put into
a template stays a miss, a paraphrase stays a hit; a ``semantic_text`` hook makes
the rest of the message part of the partition (another retrieved context: a
miss); and the normalized-exact step answers a prompt that differs only in case,
spacing or trailing punctuation without a vector search.

Similarities quoted in comments were measured with the bundled model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from langchain_core.load import dumps
from langchain_core.messages import HumanMessage
from langchain_core.prompts import ChatPromptTemplate

# The same caches as the verifier's tests: a server-side and a client-side index.
from test_verifier_cache import answer
from test_verifier_cache import make as make

from redis_llm_cache.langchain import RedisLLMCache

LLM = "model=fake;temperature=0"

INSTRUCTIONS = ChatPromptTemplate.from_template(
    "You are the support assistant of an online shop. Answer in at most three sentences, "
    "politely, and say so when you do not know; never invent order numbers.\n\n"
    "Question: {question}"
)
RAG = ChatPromptTemplate.from_messages(
    [
        ("system", "Answer only from the context."),
        ("human", "Context:\n{context}\n\nQuestion: {question}"),
    ]
)
SHOP = "The shop ships in 3 to 5 days. Returns are accepted within 30 days with the receipt."
MUSEUM = "The museum opens at 10am, closes on Mondays, and children under 12 enter free."


def prompt(template: ChatPromptTemplate, **values: str) -> str:
    """The ``prompt`` LangChain hands the cache for a chat model."""
    return dumps(template.invoke(values).to_messages())


def test_a_templated_near_miss_is_a_miss_and_a_templated_paraphrase_a_hit(
    make: Callable[..., RedisLLMCache],
) -> None:
    cache = make(mark_hits=True)
    cache.update(
        prompt(INSTRUCTIONS, question="How do I disable two-factor authentication?"),
        LLM,
        answer("Settings > Security > turn it off"),
    )
    # The whole messages are > 0.99 similar: the template carries any pair over
    # the gate. The difference is an opposite: vetoed.
    assert (
        cache.lookup(
            prompt(INSTRUCTIONS, question="How do I enable two-factor authentication?"), LLM
        )
        is None
    )
    cache.update(
        prompt(INSTRUCTIONS, question="How do I cancel my subscription?"), LLM, answer("cancel")
    )
    # Entity swapped: not in any word list, but the differing segments, embedded
    # again, are told apart.
    assert cache.lookup(prompt(INSTRUCTIONS, question="How do I cancel my order?"), LLM) is None
    hit = cache.lookup(prompt(INSTRUCTIONS, question="How can I cancel my subscription?"), LLM)
    assert hit is not None and hit[0].text == "cancel"
    mark = hit[0].generation_info["cache"]  # type: ignore[index]
    assert (
        mark["tier"] == "semantic" and "How do I cancel my subscription?" in mark["matched_prompt"]
    )
    semantic = cache.stats()["semantic"]
    assert semantic["verifier_rejected"] >= 1 and semantic["verifier_accepted"] == 1


def test_code_that_differs_is_a_miss_inside_a_template(make: Callable[..., RedisLLMCache]) -> None:
    cache = make()
    cache.update(
        prompt(INSTRUCTIONS, question="What does `10 // 3` return in Python?"), LLM, answer("3")
    )
    assert (
        cache.lookup(prompt(INSTRUCTIONS, question="What does `10 / 3` return in Python?"), LLM)
        is None
    )
    assert cache.lookup(
        prompt(INSTRUCTIONS, question="What does `10 // 3` return in Python?"), LLM
    ) == answer("3")


def test_semantic_text_compares_the_question_and_partitions_by_the_context(
    make: Callable[..., RedisLLMCache],
) -> None:
    cache = make(semantic_text=lambda text: text.rsplit("Question:", 1)[-1])
    cache.update(
        prompt(RAG, context=SHOP, question="Can I return an item without a receipt?"),
        LLM,
        answer("no"),
    )
    paraphrase = prompt(
        RAG, context=SHOP, question="Is it possible to return an item without a receipt?"
    )
    assert cache.lookup(paraphrase, LLM) == answer("no")
    # The same question over another retrieved context has another answer.
    other = prompt(RAG, context=MUSEUM, question="Can I return an item without a receipt?")
    assert cache.lookup(other, LLM) is None
    # A hook that finds no question: exact matching only.
    exact_only = make(semantic_text=lambda text: None)
    exact_only.update(prompt(RAG, context=SHOP, question="Where is the shop?"), LLM, answer("here"))
    assert exact_only.lookup(prompt(RAG, context=SHOP, question="Where's the shop?"), LLM) is None
    assert exact_only.lookup(
        prompt(RAG, context=SHOP, question="Where is the shop?"), LLM
    ) == answer("here")


def test_without_the_hook_another_context_is_a_miss_too(make: Callable[..., RedisLLMCache]) -> None:
    cache = make()
    cache.update(
        prompt(RAG, context=SHOP, question="Can I return an item without a receipt?"),
        LLM,
        answer("no"),
    )
    assert (
        cache.lookup(
            prompt(RAG, context=MUSEUM, question="Can I return an item without a receipt?"), LLM
        )
        is None
    )
    changed_both = prompt(
        RAG, context=MUSEUM, question="Is it possible to return an item without a receipt?"
    )
    assert cache.lookup(changed_both, LLM) is None


def test_the_normalized_exact_step(make: Callable[..., RedisLLMCache]) -> None:
    cache = make(mark_hits=True, ttl=60)
    cache.update(dumps([HumanMessage("How do I cancel my order?")]), LLM, answer("cancel"))
    # 0.985 similar to the stored question: below what the verifier serves.
    hit = cache.lookup(dumps([HumanMessage("  how do i CANCEL my order")]), LLM)
    assert hit is not None and hit[0].text == "cancel"
    mark = hit[0].generation_info["cache"]  # type: ignore[index]
    assert mark["similarity"] == 1.0 and mark["matched_prompt"] == "How do I cancel my order?"
    semantic = cache.stats()["semantic"]
    assert semantic["normalized_hits"] == 1 and semantic["verified"] == 0
    # The step keeps the partition: another model's answer is not served.
    assert cache.lookup(dumps([HumanMessage("how do i cancel my order")]), "model=other") is None
    # The pointer lives as long as the answer.
    redis = cache.core.connector.sync_client
    keys = [k for k in redis.scan_iter(match=f"{cache.settings.namespace}:sem:v1:norm:*")]
    assert len(keys) == 1 and 0 < redis.pttl(keys[0]) <= 60_000

    async def scenario() -> None:
        found = await cache.alookup(dumps([HumanMessage("HOW DO I CANCEL MY ORDER!")]), LLM)
        assert found is not None and found[0].text == "cancel"

    asyncio.run(scenario())
    assert cache.stats()["semantic"]["normalized_hits"] == 2
    cache.clear()
    assert not list(redis.scan_iter(match=f"{cache.settings.namespace}:sem:v1:norm:*"))


def test_a_failing_semantic_text_hook_fails_open(make: Callable[..., RedisLLMCache]) -> None:
    def broken(text: str) -> str:
        raise ValueError("no question marker")

    cache = make(semantic_text=broken)
    question = prompt(INSTRUCTIONS, question="How do I pay by card?")
    cache.update(question, LLM, answer("card"))
    assert cache.lookup(question, LLM) == answer("card")  # the exact tier comes first
    assert cache.lookup(prompt(INSTRUCTIONS, question="How can I pay by card?"), LLM) is None
    assert cache.stats()["errors"] >= 1

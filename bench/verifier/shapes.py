"""Semantic hits in the prompts apps send: wrong-hit and paraphrase hit rates per
prompt shape (bare question, instruction template, one-line template, RAG template,
chat messages, a template with ``semantic_text``, code), ours vs the peers' defaults.

The pairs are this project's own (``shape_pairs.py``). Each pair is put into each
shape; what is compared is what the cache compares for that shape (the last user
message's text, or the question a ``semantic_text`` hook picks out, with the rest
of the message in the partition). Decisions, on the same vectors (bundled model):

* **ours (default)**: the normalized-exact step, then the cosine gate at the model's
  calibrated threshold and the shipped ``PairVerifier`` driven as the cache drives
  it (its ``Embed`` of differing segments answered by the bundled model); a pair
  whose partitions differ is a miss;
* **RedisVL default**: cosine distance 0.1, i.e. similarity >= 0.90, on the whole text;
* **langchain-redis default**: similarity >= 0.80, on the whole text.

Run: ``python bench/verifier/shapes.py`` (vectors are cached on disk like the other
verifier benchmarks; the first run embeds ~1,500 texts, a few minutes).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

import shape_pairs as sp
from common import embed_cached, verdict_of
from redis_llm_cache.core.semantic.thresholds import CALIBRATED
from redis_llm_cache.core.semantic.tier import narrowed_to_question
from redis_llm_cache.core.semantic.verify import CandidatePair, PairVerifier
from redis_llm_cache.core.semantic.verify.diff import normalized
from redis_llm_cache.langchain.prompt import semantic_query

PEERS = {"RedisVL (>= 0.90)": 0.90, "langchain-redis (>= 0.80)": 0.80}


@dataclass(frozen=True)
class Case:
    shape: str
    language: str
    label: int  # 1: paraphrase (a hit is right), 0: near-miss (a hit is wrong)
    whole_a: str  # what a peer embeds (the whole last message)
    whole_b: str
    text_a: str  # what our cache compares
    text_b: str
    same_partition: bool


def _chat(question: str, system: str) -> str:
    return dumps(
        [
            SystemMessage(system),
            HumanMessage("Hello!"),
            AIMessage("Hello! How can I help?"),
            HumanMessage(question),
        ]
    )


def _filler(template: str, **values: str) -> Callable[[str], str]:
    return lambda q: template.format(q=q, **values)


def _after(marker: str) -> Callable[[str], str]:
    return lambda text: text.rsplit(marker, 1)[-1]


def _case(
    shape: str, language: str, label: int, a: str, b: str, question: Callable[[str], str] | None
) -> Case:
    """The pair as the LangChain adapter sees it: one human message (or a chat)."""
    prompt_a = a if a.startswith('[{"lc"') else dumps([HumanMessage(a)])
    prompt_b = b if b.startswith('[{"lc"') else dumps([HumanMessage(b)])
    whole_a = semantic_query(prompt_a)
    whole_b = semantic_query(prompt_b)
    assert whole_a is not None and whole_b is not None
    # What the cache compares: narrowed to the question when a hook names it.
    qa = whole_a if question is None else narrowed_to_question(whole_a, question)
    qb = whole_b if question is None else narrowed_to_question(whole_b, question)
    assert qa is not None and qb is not None
    return Case(
        shape,
        language,
        label,
        whole_a.text,
        whole_b.text,
        qa.text,
        qb.text,
        qa.context == qb.context,
    )


def cases() -> list[Case]:
    out: list[Case] = []
    languages = {
        "en": (sp.EN_NEAR_MISS, sp.EN_PARAPHRASE, sp.EN_INSTRUCTION, sp.EN_INLINE, sp.EN_RAG,
               sp.EN_CONTEXT, sp.EN_CONTEXT_OTHER, sp.EN_SYSTEM, "Question:"),
        "zh": (sp.ZH_NEAR_MISS, sp.ZH_PARAPHRASE, sp.ZH_INSTRUCTION, sp.ZH_INLINE, sp.ZH_RAG,
               sp.ZH_CONTEXT, sp.ZH_CONTEXT_OTHER, sp.ZH_SYSTEM, "问题："),
    }  # fmt: skip
    for language, (
        near,
        para,
        instruction,
        inline,
        rag,
        context,
        other,
        system,
        marker,
    ) in languages.items():
        hook = _after(marker)
        shapes: list[tuple[str, Callable[[str], str], Callable[[str], str] | None]] = [
            ("bare question", str, None),
            ("instruction template", _filler(instruction), None),
            ("one-line template", _filler(inline), None),
            ("RAG template (same context)", _filler(rag, context=context), None),
            ("chat: system + turns", partial(_chat, system=system), None),
            ("instruction template + semantic_text", _filler(instruction), hook),
        ]
        for label, pairs in ((0, near), (1, para)):
            for a, b in pairs:
                for shape, build, question in shapes:
                    out.append(_case(shape, language, label, build(a), build(b), question))
        # The same question over another retrieved context: another answer.
        for a, _ in para:
            for shape, question in (
                ("RAG, other context (same question)", None),
                ("RAG, other context + semantic_text", hook),
            ):
                out.append(
                    _case(
                        shape,
                        language,
                        0,
                        rag.format(context=context, q=a),
                        rag.format(context=other, q=a),
                        question,
                    )
                )
    for label, pairs in ((0, sp.CODE_NEAR_MISS), (1, sp.CODE_PARAPHRASE)):
        for a, b in pairs:
            out.append(_case("code and operators", "en", label, a, b, None))
            out.append(
                _case(
                    "code and operators in a template",
                    "en",
                    label,
                    sp.EN_INSTRUCTION.format(q=a),
                    sp.EN_INSTRUCTION.format(q=b),
                    None,
                )
            )
    return out


def main() -> int:
    all_cases = cases()
    texts = sorted({t for c in all_cases for t in (c.whole_a, c.whole_b, c.text_a, c.text_b)})
    vectors = embed_cached("shapes", texts)
    row = {t: i for i, t in enumerate(texts)}

    def similarity(a: str, b: str) -> float:
        return float(np.dot(vectors[row[a]], vectors[row[b]]))

    gate = CALIBRATED[("local", "multilingual-e5-small")].similarity
    verifier = PairVerifier()
    timings: list[float] = []
    groups: dict[tuple[str, str], list[tuple[int, bool, dict[str, bool], str | None]]] = {}
    for case in all_cases:
        sim = similarity(case.text_a, case.text_b)
        veto = None
        if not case.same_partition:
            ours = False
        elif normalized(case.text_a) == normalized(case.text_b):
            ours = True
        elif sim < gate:
            ours = False
        else:
            started = time.perf_counter()
            verifier.verify(CandidatePair(case.text_a, case.text_b, sim))  # CPU part, timed
            timings.append(time.perf_counter() - started)
            verdict = verdict_of(verifier, case.text_a, case.text_b, sim)
            ours, veto = verdict.accept, verdict.veto
        whole = similarity(case.whole_a, case.whole_b)
        peers = {name: whole >= t for name, t in PEERS.items()}
        groups.setdefault((case.shape, case.language), []).append((case.label, ours, peers, veto))

    def rates(items: list[tuple[int, bool]]) -> tuple[str, str]:
        near = [s for label, s in items if label == 0]
        para = [s for label, s in items if label == 1]
        wrong = f"{np.mean(near):.3f}" if near else "-"
        hit = f"{np.mean(para):.3f}" if para else "-"
        return wrong, hit

    print(f"gate {gate}; verifier threshold {verifier.threshold}\n")
    header = " | ".join(f"{name}: wrong / hit" for name in PEERS)
    ours = "**ours: wrong-hit** | **ours: paraphrase hit**"
    print(f"| shape | lang | pairs (para/near) | {ours} | {header} |")
    print("|---|---|---:|---:|---:|" + "---:|" * len(PEERS))
    for (shape, language), items in groups.items():
        para = sum(1 for label, *_ in items if label == 1)
        wrong, hit = rates([(label, ours) for label, ours, _, _ in items])
        peer_cells = []
        for name in PEERS:
            peer_wrong, peer_hit = rates([(label, peers[name]) for label, _, peers, _ in items])
            peer_cells.append(f"{peer_wrong} / {peer_hit}")
        print(
            f"| {shape} | {language} | {len(items)} ({para}/{len(items) - para}) "
            f"| {wrong} | {hit} | " + " | ".join(peer_cells) + " |"
        )
    vetoes: dict[str, int] = {}
    for items in groups.values():
        for label, _, _, veto in items:
            if veto is not None and label == 0:
                vetoes[veto] = vetoes.get(veto, 0) + 1
    print(f"\nnear-misses past the gate vetoed, by reason: {dict(sorted(vetoes.items()))}")
    timings.sort()
    if timings:
        print(
            "verifier CPU time per candidate past the gate: "
            f"p50 {timings[len(timings) // 2] * 1e6:.0f} us, "
            f"p99 {timings[int(len(timings) * 0.99)] * 1e6:.0f} us ({len(timings)} pairs)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``make demo`` end to end: a fresh process, no stdin, no API keys, no network."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest

from redis_llm_cache.demo import (
    LLM_LATENCY_S,
    RAG_QUESTIONS,
    SESSION,
    STREAMED_QUESTION,
    SimulatedChatModel,
    choose_llm,
)


def table_rows(output: str) -> dict[str, str]:
    """The summary table's rows, by name (two or more spaces separate the columns)."""
    rule = re.compile(r"^-{20,}$", re.MULTILINE)
    parts = rule.split(output)
    assert len(parts) == 3, f"expected one table between two rules:\n{output}"
    rows = {}
    for line in parts[1].strip("\n").splitlines():
        name, value = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        rows[name] = value
    return rows


def test_demo_runs_and_its_table_shows_what_happened() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OLLAMA_HOST")}
    result = subprocess.run(
        [sys.executable, "-m", "redis_llm_cache.demo"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=280,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout
    rows = table_rows(output)

    repeats = sum(kind == "repeat" for _, kind in SESSION)
    paraphrases = sum(kind == "paraphrase" for _, kind in SESSION)
    near_misses = sum(kind == "near-miss" for _, kind in SESSION)
    new = sum(kind == "new" for _, kind in SESSION)
    assert rows["LLM"] == "simulated"
    assert rows["questions asked"] == str(len(SESSION))
    assert rows["hits, exact tier"] == f"{repeats} (of {repeats} repeats)"
    # The default verifier refuses some true paraphrases and the "personal" bypass rule
    # skips questions about the asker's own data: each paraphrase not served says why.
    semantic = re.fullmatch(
        rf"(\d+) \(paraphrases served: (\d+)/{paraphrases}\)", rows["hits, semantic tier"]
    )
    assert semantic is not None and semantic[1] == semantic[2] and int(semantic[1]) >= 2
    served = int(semantic[1])
    refused = re.fullmatch(
        r"(\d+) refused by the verifier, (\d+) bypassed \(.*\)", rows["paraphrases not served"]
    )
    assert refused is not None and int(refused[1]) + int(refused[2]) == paraphrases - served
    assert rows["wrong hits avoided"] == (
        f"{near_misses}/{near_misses} near-misses sent to the LLM (wrong hits served: 0)"
    )
    assert rows["LLM calls made"] == str(new + near_misses + paraphrases - served)
    assert rows["LLM calls saved"].startswith(f"{repeats + served} of {len(SESSION)}")
    assert rows["cache errors"] == "0"
    assert re.fullmatch(r"\$0\.\d{5} of \$0\.\d{5} \(\d+ tokens\)", rows["est. cost saved"])
    # Exact hits, semantic hits and LLM calls each get their own p50, over as many
    # turns as each served.
    latency = {}
    for what, count, noun in (
        ("exact hits", repeats, "hits"),
        ("semantic hits", served, "hits"),
        ("LLM calls", int(rows["LLM calls made"]), "calls"),
    ):
        p50 = re.fullmatch(rf"(\d+\.\d) ms \({count} {noun}\)", rows[f"latency p50, {what}"])
        assert p50 is not None, rows[f"latency p50, {what}"]
        latency[what] = float(p50[1])
    assert latency["LLM calls"] >= LLM_LATENCY_S[0] * 1000  # the simulation's floor
    assert latency["exact hits"] < latency["LLM calls"]
    # The streamed question is named, and served from the cache (asked before).
    assert re.fullmatch(
        rf"{re.escape(repr(STREAMED_QUESTION))}: \d+ chunks, \d+\.\d ms, (exact|semantic)",
        rows["streamed question"],
    )
    assert STREAMED_QUESTION in dict(SESSION)
    assert f"asks {STREAMED_QUESTION!r} again" in output
    first_ingest = re.fullmatch(
        r"(\d+) of (\d+) chunks embedded by the model in \d+ model calls?, \d+ ms",
        rows["RAG ingest, 1st"],
    )
    assert first_ingest is not None and first_ingest[1] == first_ingest[2] != "0"
    assert re.fullmatch(
        rf"0 embedded in 0 model calls, {first_ingest[2]} from Redis, \d+ ms",
        rows["RAG ingest, 2nd"],
    )
    # The RAG app's questions, asked again through a query engine on CachedLLM, are
    # answered from Redis: no LLM call.
    first_pass = re.fullmatch(r"(\d+) questions, (\d+) LLM calls, \d+ ms", rows["RAG queries, 1st"])
    assert first_pass is not None and first_pass[1] == str(len(RAG_QUESTIONS))
    assert int(first_pass[2]) >= len(RAG_QUESTIONS)
    assert re.fullmatch(
        rf"0 LLM calls, {first_pass[2]} from Redis, \d+ ms", rows["RAG queries, 2nd"]
    )
    # The progress lines name the near-miss that must not be served the password answer.
    assert re.search(r"\[LLM  \].*How do I reset my router\?", output)
    assert "Prices assumed" in output


def test_a_named_real_llm_without_its_package_falls_back_to_the_simulation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if importlib.util.find_spec("langchain_openai") is not None:
        pytest.skip("langchain-openai is installed: the demo would call OpenAI")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used")
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    said: list[str] = []
    chat = choose_llm(said.append, (0.0, 0.0))
    assert isinstance(chat, SimulatedChatModel)
    assert said == [
        "OPENAI_API_KEY is set, but langchain-openai is not installed "
        "(pip install langchain-openai): using the simulated model."
    ]

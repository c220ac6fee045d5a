"""Every Python code block of README.md runs, as written, against a real Redis.

Each block runs in a fresh namespace with ``REDIS_URL`` naming a private Redis of
its own (the ``private_redis`` fixture), so blocks that build a cache without a
URL -- as the README shows them -- talk to it. A block that raises fails the test
named after its line and section. Blocks that would need a paid API or a server
this machine cannot run are marked in the README with ``<!-- not-run: reason -->``
on the line before the fence; they are listed as skipped with that reason, and
:func:`test_blocks_that_do_not_run_stay_rare` keeps them rare.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from langchain_core.globals import get_llm_cache, set_llm_cache
from llama_index.core import Settings

from redis_llm_cache.embeddings import EmbeddingCache
from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.langchain.embeddings import CachedEmbeddings
from redis_llm_cache.llama_index import CachedEmbedding, CachedLLM
from redis_llm_cache.redis.embedded import EmbeddedRedis

README = Path(__file__).resolve().parents[2] / "README.md"
NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(?P<reason>.+?)\s*-->$")
#: Blocks the README may mark as not run; raise it only with a reason in the README.
MAX_NOT_RUN = 1


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    heading: str
    source: str
    not_run: str | None  # the README's reason, when marked

    @property
    def test_id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")
        return f"L{self.line}-{slug or 'top'}"


def readme_blocks(text: str) -> list[Block]:
    """The ```python blocks of ``text``, with the heading above each and its
    ``not-run`` marker (the last non-blank line before the fence), if any."""
    blocks: list[Block] = []
    lines = text.splitlines()
    heading = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.startswith("```"):
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
            if line.strip() == "```python":
                before = [previous for previous in lines[:index] if previous.strip()]
                marker = NOT_RUN.match(before[-1].strip()) if before else None
                blocks.append(
                    Block(
                        line=index + 1,
                        heading=heading,
                        source="\n".join(lines[index + 1 : end]) + "\n",
                        not_run=marker["reason"] if marker else None,
                    )
                )
            index = end  # a "#" inside a block is not a heading
        index += 1
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def _closeables(namespace: dict[str, Any]) -> Iterator[Any]:
    """What a block left open: caches and servers it named, the global LLM cache,
    and the cache behind a service app."""
    yield from namespace.values()
    yield get_llm_cache()
    yield Settings._llm  # LlamaIndex's global LLM (the private field: no default built)
    app_state = getattr(namespace.get("app"), "state", None)
    yield getattr(app_state, "cache", None)


def _close_what_blocks_opened(namespace: dict[str, Any]) -> None:
    closed: set[int] = set()
    for thing in _closeables(namespace):
        if id(thing) in closed:
            continue
        closed.add(id(thing))
        if isinstance(thing, EmbeddedRedis):
            thing.stop()
        elif isinstance(
            thing, (RedisLLMCache, EmbeddingCache, CachedEmbeddings, CachedEmbedding, CachedLLM)
        ):
            thing.close()


@pytest.fixture
def readme_environment(
    private_redis: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """A fresh namespace for one block, ``REDIS_URL`` at a private Redis, and
    LangChain's and LlamaIndex's globals restored afterwards."""
    monkeypatch.setenv("REDIS_URL", private_redis.url)
    # The private field: the public getter would resolve (and build) a default
    # OpenAI model when none is set.
    embed_model_before, llm_before = Settings._embed_model, Settings._llm
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    try:
        yield namespace
    finally:
        _close_what_blocks_opened(namespace)
        set_llm_cache(None)
        Settings._embed_model, Settings._llm = embed_model_before, llm_before


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(
            block,
            id=block.test_id,
            marks=[pytest.mark.skip(reason=f"README: not-run: {block.not_run}")]
            if block.not_run
            else [],
        )
        for block in BLOCKS
    ],
)
def test_readme_block_runs(block: Block, readme_environment: dict[str, Any]) -> None:
    code = compile(block.source, f"README.md:{block.line}", "exec")
    exec(code, readme_environment)


def test_blocks_that_do_not_run_stay_rare() -> None:
    not_run = [block for block in BLOCKS if block.not_run]
    print("README blocks not run:", *(f"{b.test_id}: {b.not_run}" for b in not_run), sep="\n  ")
    assert len(not_run) <= MAX_NOT_RUN, [block.test_id for block in not_run]
    for block in not_run:  # not run, but still valid Python
        compile(block.source, f"README.md:{block.line}", "exec")


def test_the_readme_blocks_are_found() -> None:
    # Guards the extraction itself: the README has a dozen Python examples across
    # its sections; finding few would mean the parser, not the README, changed.
    assert len(BLOCKS) >= 10
    assert {"Use it", "Semantic hits (paraphrases)", "HTTP service"} <= {
        block.heading for block in BLOCKS
    }
    assert all("```" not in block.source for block in BLOCKS)


def test_a_raising_block_fails(readme_environment: dict[str, Any]) -> None:
    # The runner must not swallow what a block raises.
    (block,) = readme_blocks("## Broken\n\n```python\nundefined_name\n```\n")
    with pytest.raises(NameError):
        test_readme_block_runs(block, readme_environment)

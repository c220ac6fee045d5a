"""``warm``: question/answer pairs stored as a chat model's cache entries."""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..._extras import requires_extra
from ..output import CommandError, emit
from ..session import Session


def read_qa_pairs(path: Path) -> Iterator[tuple[str, str]]:
    """(question, answer) rows of a JSONL (``question``/``prompt`` and ``answer``)
    or CSV (header with ``question`` and ``answer``) file; a bad row raises
    ``CommandError`` naming its line."""
    try:
        yield from _read_qa_pairs(path)
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CommandError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def _read_qa_pairs(path: Path) -> Iterator[tuple[str, str]]:
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            if not reader.fieldnames or not {"question", "answer"} <= set(reader.fieldnames):
                raise CommandError(f"{path}: CSV needs a header with question,answer")
            for row in reader:
                question, answer = row.get("question"), row.get("answer")
                if not question or answer is None:
                    raise CommandError(f"{path}:{reader.line_num}: empty question")
                yield question, answer
        return
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise CommandError(f"{path}:{number}: not JSON ({exc})") from exc
            question = (
                record.get("question", record.get("prompt")) if isinstance(record, dict) else None
            )
            answer = record.get("answer") if isinstance(record, dict) else None
            if not isinstance(question, str) or not question or not isinstance(answer, str):
                raise CommandError(f"{path}:{number}: needs string 'question' and 'answer'")
            yield question, answer


def make_embedder(spec: str) -> Any:
    """``local`` (bundled), ``ollama[:MODEL]`` or ``openai[:MODEL]``."""
    kind, _, model = spec.partition(":")
    if kind == "local":
        from ...embedders import LocalEmbedder

        return LocalEmbedder()
    if kind == "ollama":
        from ...embedders import OllamaEmbedder

        return OllamaEmbedder(model or "bge-m3")
    if kind == "openai":
        from ...embedders import OpenAIEmbedder

        return OpenAIEmbedder(model or "text-embedding-3-small")
    raise CommandError(f"unknown embedder {spec!r}: local, ollama[:MODEL] or openai[:MODEL]")


def load_object(spec: str) -> Any:
    """The object ``spec`` names: ``package.module:attribute`` (the attribute may be
    dotted); the current directory is importable, as for ``python -m``."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise CommandError(f"--model {spec!r}: expected module:attribute (e.g. myapp.llm:chat)")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise CommandError(f"--model {spec!r}: cannot import {module_name!r} ({exc})") from exc
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError as exc:
            raise CommandError(f"--model {spec!r}: no attribute {name!r}") from exc
    return target


def resolve_llm_string(args: argparse.Namespace) -> str:
    """``--llm-string`` as given, or the one :func:`llm_string_of` computes for the
    chat model ``--model`` names (an instance, or a function returning one)."""
    if args.llm_string is not None:
        return str(args.llm_string)
    from langchain_core.language_models import BaseChatModel

    from ...langchain import llm_string_of

    model = load_object(args.model)
    if not isinstance(model, BaseChatModel) and callable(model):
        try:
            model = model()
        except Exception as exc:  # the user's factory: report it, whatever it raised
            raise CommandError(f"--model {args.model!r}: calling it failed ({exc})") from exc
    if not isinstance(model, BaseChatModel):
        raise CommandError(
            f"--model {args.model!r} is a {type(model).__name__}, not a LangChain chat model"
        )
    return llm_string_of(model, stop=args.stop)


def cmd_warm(args: argparse.Namespace, session: Session) -> int:
    with requires_extra("langchain", feature="redis-llm-cache warm"):
        from langchain_core.load import dumps
        from langchain_core.messages import AIMessage
        from langchain_core.outputs import ChatGeneration

        from ...langchain import RedisLLMCache
    llm_string = resolve_llm_string(args)
    # The whole file is read (and checked) before anything is written.
    items = [
        (dumps(_messages(question, args.system)), llm_string,
         [ChatGeneration(message=AIMessage(content=answer))])
        for question, answer in read_qa_pairs(Path(args.file))
    ]  # fmt: skip
    cache = RedisLLMCache(
        redis_url=session.url,
        namespace=session.namespace,
        tenant=args.tenant or "",
        ttl=args.ttl,
        timeout=args.timeout,
        connect_timeout=args.timeout,
        fail_open=False,
        embedder=make_embedder(args.embedder) if args.embedder else None,
        semantic_strategy=args.semantic_strategy,
    )
    try:
        stored = cache.store_many(items, progress=_progress_printer(len(items)))
    finally:
        cache.close()
    skipped = len(items) - stored
    emit(
        args, {"stored": stored, "skipped": skipped},
        lambda r: f"stored {r['stored']} answers, skipped {r['skipped']}",
    )  # fmt: skip
    return 0 if skipped == 0 else 1


def _messages(question: str, system: str | None) -> list[Any]:
    """The messages whose ``dumps()`` (ids cleared) is the prompt string LangChain's
    chat models look up: an optional system prompt and the question."""
    from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

    messages: list[BaseMessage] = [HumanMessage(content=question)]
    if system is not None:
        messages.insert(0, SystemMessage(content=system))
    return messages


def _progress_printer(total: int) -> Callable[[int, int], None]:
    """Progress on stderr after each stored batch (one updating line on a terminal);
    stdout keeps only the result."""
    stream = sys.stderr
    end = "\r" if stream.isatty() else "\n"

    def show(done: int, stored: int) -> None:
        print(f"warm: {done}/{total} read, {stored} stored", end=end, file=stream, flush=True)
        if done == total and end == "\r":
            print(file=stream)

    return show

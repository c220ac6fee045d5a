"""``stats``, ``inspect`` and ``clear``: what a namespace holds, entry by entry; removing it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TextIO

from ...core.index.inventory import clear_semantic, list_entries, namespace_inventory
from ...core.keys import scope_digest
from ...core.stats import CacheStats
from ..output import CommandError, emit
from ..session import Session


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


# -- stats / inspect / clear ---------------------------------------------------------------


def _names(args: argparse.Namespace) -> dict[str, str]:
    """Digest -> name for the tenants and llm_strings the user named."""
    names = {scope_digest("tenant", t): f"tenant {t!r}" for t in args.tenant or []}
    for llm in args.llm_string or []:
        names[scope_digest("llm", llm)] = f"llm_string {llm[:60]!r}"
    return names


def _render_stats(report: dict[str, Any], names: dict[str, str]) -> str:
    exact = report["exact"]
    lines = [f"namespace {report['namespace']!r}: {exact['entries']} exact entries"]
    for row in exact["by_scope"]:
        tenant = names.get(row["tenant_digest"], f"tenant#{row['tenant_digest']}")
        llm = names.get(row["llm_digest"], f"llm#{row['llm_digest']}")
        model = f"  model {row['model']}" if row.get("model") else ""
        lines.append(f"  {row['entries']:>8}  {tenant}  {llm}{model}")
    if exact["lru_tracked"]:
        lines.append(f"  max_entries bookkeeping tracks {exact['lru_tracked']} entries")
    sem = report["semantic"]
    lines.append(
        "semantic: "
        f"{sem['search_entries']} search, {sem['vectorset_elements']} vector-set, "
        f"{sem['client_entries']} client-index entries; {sem['usage']} usage records, "
        f"{sem['usage_hits']} semantic hits recorded"
    )
    for index in sem["search_indexes"]:
        if "error" in index:
            lines.append(f"  {index['index']}: {index['error']}")
        else:
            lines.append(
                f"  {index['index']}: {index['num_docs']} docs, "
                f"vectors {index['vector_index_sz_mb']:.2f} MB, "
                f"{index['indexing_failures']} indexing failures"
            )
    if "embeddings" in report:
        emb = report["embeddings"]
        lines.append(f"embeddings {emb['namespace']!r}: {emb['vectors']} vectors")
        lines += [f"  {n:>8}  model#{d}" for d, n in emb["by_model_digest"].items()]
    return "\n".join(lines)


def cmd_stats(args: argparse.Namespace, session: Session) -> int:
    report = session.run(
        namespace_inventory(
            session.namespace, embedding_namespace=args.embedding_namespace, describe=_describe()
        )
    )
    names = _names(args)
    if args.json:
        report["names"] = names
    emit(args, report, lambda r: _render_stats(r, names))
    return 0


def _describe() -> Callable[[bytes], dict[str, Any]] | None:
    try:
        from ...langchain.usage import describe_stored
    except ImportError:  # without langchain-core, entries are listed without model
        return None
    return describe_stored


def _single(values: list[str] | None, flag: str) -> str | None:
    if values and len(values) > 1:
        raise CommandError(f"{flag} may be given once for this command")
    return values[0] if values else None


def cmd_inspect(args: argparse.Namespace, session: Session) -> int:
    rows = session.run(
        list_entries(
            session.namespace,
            tenant=_single(args.tenant, "--tenant"),
            llm_string=_single(args.llm_string, "--llm-string"),
            limit=args.limit,
            describe=_describe(),
            with_text=args.show_text,
        )
    )
    names = _names(args)

    def render(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "no entries in scope"
        lines = [
            f"{'entry':<12} {'tenant':<18} {'model':<20} {'created (UTC)':<19} "
            f"{'sem.hits':>8} {'last hit (UTC)':<19} {'ttl s':>8} {'bytes':>7}"
        ]
        for row in rows:
            tenant = names.get(row["tenant_digest"], "#" + row["tenant_digest"])
            ttl = "-" if row["ttl_ms"] is None else f"{row['ttl_ms'] / 1000:.0f}"
            hits = "-" if row["semantic_hits"] is None else str(row["semantic_hits"])
            model = str(row.get("model") or "-")
            lines.append(
                f"{row['entry'][:12]:<12} {tenant[:18]:<18} {model[:20]:<20} "
                f"{_when(row['created_ms']):<19} {hits:>8} "
                f"{_when(row['last_semantic_hit_ms']):<19} {ttl:>8} {row['bytes']:>7}"
            )
            if args.show_text:
                lines.append(f"    question: {row.get('question') or '(not in a semantic index)'}")
        return "\n".join(lines)

    emit(args, rows, render)
    return 0


def _confirm(question: str, stdin: TextIO) -> bool:
    print(f"{question} [y/N] ", end="", flush=True)
    answer = stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def cmd_clear(args: argparse.Namespace, session: Session) -> int:
    tenant = _single(args.tenant, "--tenant")
    llm_string = _single(args.llm_string, "--llm-string")
    from ...core.exact import ExactTier

    # Counting and clearing never encode or decode a value: no codec is needed.
    exact: ExactTier[Any] = ExactTier(session.settings, None, CacheStats())  # type: ignore[arg-type]
    count = session.run(exact.count(tenant=tenant, llm_string=llm_string))
    scope = " and ".join(
        part
        for part in (
            f"tenant {tenant!r}" if tenant is not None else "",
            "one llm_string" if llm_string is not None else "",
        )
        if part
    )
    what = f"{count} entries of namespace {session.namespace!r}" + (f" ({scope})" if scope else "")
    if not args.yes and not _confirm(f"Remove {what}?", sys.stdin):
        print("nothing removed", file=sys.stderr)
        return 2
    removed = session.run(exact.clear(tenant=tenant, llm_string=llm_string))
    semantic = 0
    if tenant is None and llm_string is None:
        semantic = session.run(clear_semantic(session.namespace))
    result = {"removed_entries": removed, "removed_semantic_keys": semantic}
    emit(
        args, result,
        lambda r: f"removed {r['removed_entries']} entries"
        + (f" and {r['removed_semantic_keys']} semantic index keys" if semantic else ""),
    )  # fmt: skip
    return 0

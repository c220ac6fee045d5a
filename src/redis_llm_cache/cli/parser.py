"""The command line: commands, their flags and help (``argparse``, standard library)."""

from __future__ import annotations

import argparse

from ..config import DEFAULT_EMBEDDING_NAMESPACE, DEFAULT_NAMESPACE
from .redis_server import DEFAULT_DATA_DIR


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

"""The ``redis-llm-cache`` CLI, in-process (``main``) and as the installed console
script, against the real Redis servers of the fixtures."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

import redis_llm_cache.cache as cache_module
from redis_llm_cache import cli
from redis_llm_cache.core.keys import scope_digest
from redis_llm_cache.core.semantic.calibration import calibrate, load_pairs, pair_similarities
from redis_llm_cache.embedders import LocalEmbedder
from redis_llm_cache.langchain import RedisLLMCache, llm_string_of
from redis_llm_cache.redis.embedded import free_port
from support.chat_models import NamedChatModel

SCRIPT = str(Path(sys.executable).parent / "redis-llm-cache")

QA = [
    ("What is Redis?", "An in-memory data store."),
    ("Who wrote Hamlet?", "William Shakespeare."),
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    """Run in-process with --json; returns the exit code and the parsed output."""
    code = cli.main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def script(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *argv], input=stdin, capture_output=True, text=True, timeout=120)


@pytest.fixture
def chat_model() -> GenericFakeChatModel:
    """A model that fails if it is ever called: every answer must come from the cache."""
    return GenericFakeChatModel(messages=iter([]))


@pytest.fixture
def qa_file(tmp_path: Path) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in QA))
    return path


@pytest.fixture
def cleanup(redis_url: str, namespace: str) -> Iterator[None]:
    yield
    cli.main(["clear", "--yes", "--url", redis_url, "--namespace", namespace])


def test_doctor_reports_server_and_strategy(
    capsys: pytest.CaptureFixture[str], redis_url: str, redis_kind: str
) -> None:
    code, report = run(capsys, "doctor", "--url", redis_url)
    assert code == 0
    assert report["reachable"] is True
    assert report["server"]["version"].startswith("8.")
    assert report["semantic_strategy"] == {"stack": "search", "plain": "vectorset"}[redis_kind]
    assert any(m.startswith("search") for m in report["modules"]) == (redis_kind == "stack")
    assert report["round_trip_ms"]["p50"] > 0
    assert any("noeviction" in hint for hint in report["hints"])


def test_doctor_as_console_script_and_unreachable_server(redis_url: str) -> None:
    done = script("doctor", "--url", redis_url)
    assert done.returncode == 0, done.stderr
    assert "semantic:" in done.stdout and "round trip:" in done.stdout
    nowhere = f"redis://:secret@127.0.0.1:{free_port()}/0"
    failed = script("doctor", "--url", nowhere, "--timeout", "1")
    assert failed.returncode == 1
    assert "nothing listens there" in failed.stdout
    assert "secret" not in failed.stdout + failed.stderr  # the password is masked


def test_warm_then_the_app_is_served_from_the_cache(
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    namespace: str,
    qa_file: Path,
    chat_model: GenericFakeChatModel,
    make_cache: Callable[..., RedisLLMCache],
    cleanup: None,
) -> None:
    llm_string = chat_model._get_llm_string()
    code, result = run(
        capsys, "warm", str(qa_file), "--url", redis_url, "--namespace", namespace,
        "--llm-string", llm_string, "--tenant", "acme",
    )  # fmt: skip
    assert (code, result) == (0, {"stored": 2, "skipped": 0})

    cache = make_cache(tenant="acme")
    model = chat_model.model_copy(update={"cache": cache})
    assert model.invoke("Who wrote Hamlet?").content == "William Shakespeare."
    assert cache.stats()["hits_exact"] == 1
    other_tenant = chat_model.model_copy(update={"cache": make_cache(tenant="other")})
    with pytest.raises(StopIteration):  # a miss reaches the (empty) model
        other_tenant.invoke("Who wrote Hamlet?")

    code, stats = run(
        capsys, "stats", "--url", redis_url, "--namespace", namespace, "--tenant", "acme"
    )
    assert code == 0
    assert stats["exact"]["entries"] == 2
    assert stats["exact"]["by_scope"] == [
        {
            "tenant_digest": scope_digest("tenant", "acme"),
            "llm_digest": scope_digest("llm", llm_string),
            "entries": 2,
            "model": None,  # the warmed answers name no model
        }
    ]
    assert stats["names"][scope_digest("tenant", "acme")] == "tenant 'acme'"


def test_warm_reports_progress_on_stderr_and_the_result_on_stdout(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    namespace: str,
    tmp_path: Path,
    cleanup: None,
) -> None:
    monkeypatch.setattr(cache_module, "STORE_BATCH", 2)  # progress after every 2 entries
    path = tmp_path / "qa.jsonl"
    # The fourth answer is over the default max_entry_bytes (8 MiB): skipped.
    rows = [{"question": f"question {i}?", "answer": "x" * (9 << 20 if i == 3 else 10)}
            for i in range(5)]  # fmt: skip
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    code = cli.main(["warm", str(path), "--url", redis_url, "--namespace", namespace,
                     "--llm-string", "m", "--json"])  # fmt: skip
    out, err = capsys.readouterr()
    assert json.loads(out) == {"stored": 4, "skipped": 1} and code == 1
    assert err.splitlines() == [
        "warm: 2/5 read, 2 stored",
        "warm: 4/5 read, 3 stored",
        "warm: 5/5 read, 4 stored",
    ]


@pytest.mark.parametrize(
    ("strategy", "kind"), [("search", "stack"), ("vectorset", "plain"), ("client", "plain")]
)
def test_warm_semantic_then_inspect_shows_hits_and_text_only_on_request(
    capsys: pytest.CaptureFixture[str],
    redis_servers: dict[str, str],
    namespace: str,
    tmp_path: Path,
    chat_model: GenericFakeChatModel,
    strategy: str,
    kind: str,
) -> None:
    url = redis_servers[kind]
    path = tmp_path / "qa.csv"
    path.write_text(
        "question,answer\n" + "".join(f'"{q}","{a}"\n' for q, a in QA), encoding="utf-8"
    )
    llm_string = chat_model._get_llm_string()
    embedder = LocalEmbedder()
    base = ["--url", url, "--namespace", namespace]
    try:
        assert cli.main(["warm", str(path), *base, "--llm-string", llm_string,
                         "--embedder", "local", "--semantic-strategy", strategy]) == 0  # fmt: skip
        capsys.readouterr()
        cache = RedisLLMCache(
            redis_url=url, namespace=namespace, embedder=embedder, semantic_threshold=0.9,
            semantic_strategy=strategy, timeout=2.0,
            semantic_verifier=None,  # what warm wrote is checked here, not the verifier
        )  # fmt: skip
        model = chat_model.model_copy(update={"cache": cache})
        assert model.invoke("Who was the author of Hamlet?").content == "William Shakespeare."
        assert cache.stats()["hits_semantic"] == 1
        cache.close()

        code, rows = run(capsys, "inspect", *base)
        assert code == 0 and len(rows) == 2
        assert all("question" not in row for row in rows)
        assert sorted(row["semantic_hits"] for row in rows) == [0, 1]
        assert all(row["created_ms"] > 0 and row["ttl_ms"] is None for row in rows)

        code, rows = run(capsys, "inspect", *base, "--show-text")
        hit = next(row for row in rows if row["semantic_hits"] == 1)
        assert hit["question"] == "Who wrote Hamlet?"
        assert hit["last_semantic_hit_ms"] >= hit["created_ms"]

        code, stats = run(capsys, "stats", *base)
        semantic = stats["semantic"]
        counted = {
            "search": semantic["search_entries"],
            "vectorset": semantic["vectorset_elements"],
            "client": semantic["client_entries"],
        }
        assert counted == {name: 2 if name == strategy else 0 for name in counted}
        assert semantic["usage_hits"] == 1
        if strategy == "search":
            assert semantic["search_indexes"][0]["num_docs"] == 2
    finally:
        cli.main(["clear", "--yes", *base])
    capsys.readouterr()
    code, stats = run(capsys, "stats", *base)
    assert stats["exact"]["entries"] == 0
    assert all(count == 0 for key, count in stats["semantic"].items() if key != "search_indexes")


def test_stats_and_inspect_name_the_model_of_stored_answers(
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    namespace: str,
    make_cache: Callable[..., RedisLLMCache],
) -> None:
    answer = AIMessage(
        content="42",
        usage_metadata={"input_tokens": 7, "output_tokens": 1, "total_tokens": 8},
        response_metadata={"model_name": "gpt-4o-mini"},
    )
    model = GenericFakeChatModel(messages=iter([answer]), cache=make_cache())
    model.invoke("What is six times seven?")
    base = ["--url", redis_url, "--namespace", namespace]
    code, stats = run(capsys, "stats", *base)
    assert code == 0
    assert [row["model"] for row in stats["exact"]["by_scope"]] == ["gpt-4o-mini"]
    code, rows = run(capsys, "inspect", *base)
    assert (rows[0]["model"], rows[0]["input_tokens"], rows[0]["output_tokens"]) == (
        "gpt-4o-mini", 7, 1,
    )  # fmt: skip
    assert cli.main(["stats", *base]) == 0
    assert "model gpt-4o-mini" in capsys.readouterr().out


def test_clear_asks_first_and_is_scoped(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    namespace: str,
    qa_file: Path,
    cleanup: None,
) -> None:
    base = ["--url", redis_url, "--namespace", namespace]
    for tenant in ("acme", "globex"):
        assert cli.main(["warm", str(qa_file), *base, "--llm-string", "m", "--tenant", tenant]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    assert cli.main(["clear", *base, "--tenant", "acme"]) == 2
    assert "Remove 2 entries" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    assert cli.main(["clear", *base, "--tenant", "acme"]) == 0
    capsys.readouterr()
    code, stats = run(capsys, "stats", *base)
    assert code == 0
    assert [row["tenant_digest"] for row in stats["exact"]["by_scope"]] == [
        scope_digest("tenant", "globex")
    ]


def test_clear_without_confirmation_from_a_script(
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    namespace: str,
    qa_file: Path,
    cleanup: None,
) -> None:
    base = ["--url", redis_url, "--namespace", namespace]
    assert cli.main(["warm", str(qa_file), *base, "--llm-string", "m"]) == 0
    done = script("clear", *base)  # no terminal, stdin at EOF: nothing is confirmed
    assert done.returncode == 2
    assert "nothing removed" in done.stderr
    capsys.readouterr()
    code, stats = run(capsys, "stats", *base)
    assert (code, stats["exact"]["entries"]) == (0, 2)


def test_warm_rejects_a_bad_file(
    capsys: pytest.CaptureFixture[str], redis_url: str, namespace: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "a"}\n{"question": "q2"}\n')
    assert cli.main(["warm", str(bad), "--url", redis_url, "--namespace", namespace,
                     "--llm-string", "m"]) == 1  # fmt: skip
    assert "bad.jsonl:2" in capsys.readouterr().err
    cli.main(["clear", "--yes", "--url", redis_url, "--namespace", namespace])


def test_calibrate_matches_the_library(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pairs = [
        ("How do I reset my password?", "How can I reset my password?", True),
        ("What are your opening hours?", "When are you open?", True),
        ("Do you ship to Canada?", "Can you deliver to Canada?", True),
        ("How do I reset my password?", "How do I reset my router?", False),
        ("Do you ship to Canada?", "Do you ship to Mexico?", False),
        ("What are your opening hours?", "What are your prices?", False),
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"a": a, "b": b, "label": lab}) + "\n"
                            for a, b, lab in pairs))  # fmt: skip
    code, data = run(capsys, "calibrate", str(path), "--target", "0")
    expected = calibrate(
        pair_similarities(LocalEmbedder(), load_pairs(path)),
        [lab for _, _, lab in pairs],
        target_wrong_hit_rate=0.0,
    )
    assert code == 0
    assert data["threshold"] == expected.threshold
    chosen = next(row for row in data["rows"] if row["threshold"] == expected.threshold)
    assert chosen["wrong_hit_rate"] == 0.0
    assert (data["paraphrase_pairs"], data["near_miss_pairs"]) == (3, 3)
    assert cli.main(["calibrate", str(path)]) == 0
    assert "chosen threshold" in capsys.readouterr().out


def test_redis_start_keeps_data_across_stop_and_start(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "redis")
    started = script("redis", "start", "--dir", data_dir, "--modules", "none", "--json")
    assert started.returncode == 0, started.stderr
    state = json.loads(started.stdout)
    try:
        client = redis.Redis.from_url(state["url"])
        client.set("kept", "yes")
        client.close()
        again = json.loads(script("redis", "start", "--dir", data_dir, "--json").stdout)
        assert again["already_running"] is True and again["pid"] == state["pid"]
        assert script("redis", "status", "--dir", data_dir).returncode == 0
        assert script("redis", "stop", "--dir", data_dir).returncode == 0
        status = script("redis", "status", "--dir", data_dir)
        assert status.returncode == 3 and "not running" in status.stdout
        restarted = json.loads(script("redis", "start", "--dir", data_dir, "--json").stdout)
        assert restarted["port"] == state["port"]
        client = redis.Redis.from_url(restarted["url"])
        assert client.get("kept") == b"yes"
        client.close()
    finally:
        script("redis", "stop", "--dir", data_dir)


def test_doctor_hints_at_credentials_and_masks_the_password(
    capsys: pytest.CaptureFixture[str], private_redis: Any
) -> None:
    admin = redis.Redis.from_url(private_redis.url)
    admin.config_set("requirepass", "s3cret")
    admin.close()
    code, report = run(capsys, "doctor", "--url", private_redis.url)
    assert code == 1 and report["reachable"] is False
    assert any("credentials" in hint for hint in report["hints"])
    with_password = private_redis.url.replace("redis://", "redis://:s3cret@")
    code, report = run(capsys, "doctor", "--url", with_password)
    assert code == 0 and report["reachable"] is True
    assert report["user"] == "default"
    assert "s3cret" not in json.dumps(report) and ":***@" in report["url"]


# -- errors are messages, not tracebacks ---------------------------------------------------


def assert_one_line_error(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("redis-llm-cache: ")
    for text in expected:
        assert text in lines[0]


def test_warm_with_a_missing_file_is_a_message(redis_url: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.jsonl"
    done = script("warm", str(missing), "--url", redis_url, "--llm-string", "m")
    assert_one_line_error(done, str(missing), "No such file")


def test_doctor_with_a_url_that_is_not_redis_is_a_message() -> None:
    done = script("doctor", "--url", "http://user:pw@example.invalid")
    assert_one_line_error(done, "--url must start with", "redis://")
    assert "pw" not in done.stderr


def test_a_closed_output_pipe_ends_quietly(redis_url: str, namespace: str) -> None:
    # `stats | head -0`: the reader is gone before anything is written.
    process = subprocess.Popen(
        [SCRIPT, "stats", "--url", redis_url, "--namespace", namespace],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    with process.stderr:
        stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == cli.EXIT_BROKEN_PIPE
    assert stderr == ""


def test_a_configuration_error_gets_no_connection_hint(redis_url: str) -> None:
    done = script("stats", "--url", redis_url, "--timeout", "-1")
    assert_one_line_error(done, "ConfigurationError", "timeout")
    assert "hint" not in done.stderr


def test_a_connection_failure_gets_the_hint() -> None:
    hints = cli.connection_hints("redis://h:1/0", redis.ConnectionError("Error 113: no route"))
    assert any("host, port and firewall" in hint for hint in hints)
    assert cli.connection_hints("redis://h:1/0", redis.ResponseError("WRONGTYPE")) == []


# -- help --------------------------------------------------------------------------------


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[f"{parser.prog} {name}"] = sub
                found.update(subparsers(sub))
    return found


def test_every_command_and_option_has_help() -> None:
    parser = cli.build_parser()
    commands = {"redis-llm-cache": parser, **subparsers(parser)}
    assert len(commands) == 11  # the program, 7 commands, redis start/stop/status
    for prog, command in commands.items():
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                listed = {choice.dest for choice in action._choices_actions}
                assert listed == set(action.choices), prog
                assert all(choice.help for choice in action._choices_actions), prog
            else:
                assert action.help, f"{prog} {action.option_strings or action.dest}"


def test_redis_start_help_is_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["redis", "start", "--help"])
    assert exit_info.value.code == 0
    start_help = capsys.readouterr().out
    assert "usage: redis-llm-cache redis start" in start_help
    assert "--port" in start_help and "daemonized" in start_help
    with pytest.raises(SystemExit):
        cli.main(["redis", "stop", "--help"])
    stop_help = capsys.readouterr().out
    assert "usage: redis-llm-cache redis stop" in stop_help and "--port" not in stop_help


# -- doctor finds the server of `redis start --dir` ----------------------------------------


def test_doctor_finds_the_server_started_with_a_dir(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "redis")
    not_yet = script("doctor", "--dir", data_dir)
    assert_one_line_error(not_yet, "redis start --dir")
    started = script("redis", "start", "--dir", data_dir, "--modules", "none", "--json")
    assert started.returncode == 0, started.stderr
    try:
        url = json.loads(started.stdout)["url"]
        done = script("doctor", "--dir", data_dir, "--json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert (report["url"], report["reachable"]) == (url, True)
        both = script("doctor", "--dir", data_dir, "--url", url)
        assert both.returncode == 2 and "not allowed with" in both.stderr
    finally:
        script("redis", "stop", "--dir", data_dir)


# -- llm_string_of and warm --model --------------------------------------------------------


def test_llm_string_of_is_the_key_langchain_uses(
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    namespace: str,
    make_cache: Callable[..., RedisLLMCache],
) -> None:
    model = NamedChatModel(model_name="m-1", cache=make_cache())
    model.invoke("Who wrote Hamlet?", stop=["\n"])
    assert model.calls == 1
    code, stats = run(capsys, "stats", "--url", redis_url, "--namespace", namespace)
    assert code == 0
    [row] = stats["exact"]["by_scope"]
    assert row["llm_digest"] == scope_digest("llm", llm_string_of(model, stop=["\n"]))
    assert row["llm_digest"] != scope_digest("llm", llm_string_of(model))  # stop is part of it
    other = NamedChatModel(model_name="m-1", temperature=0.7)
    assert llm_string_of(other, stop=["\n"]) != llm_string_of(model, stop=["\n"])
    with pytest.raises(TypeError):
        llm_string_of("gpt-4o")  # type: ignore[arg-type]


APP_MODULE = """
from support.chat_models import NamedChatModel

chat = NamedChatModel(model_name="m-1")


def make_chat():
    return NamedChatModel(model_name="m-1")
"""


@pytest.mark.parametrize("attribute", ["chat", "make_chat"])
def test_warm_with_a_model_spec_serves_that_model(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    redis_url: str,
    namespace: str,
    qa_file: Path,
    make_cache: Callable[..., RedisLLMCache],
    attribute: str,
    cleanup: None,
) -> None:
    module = f"app_llm_{attribute}"
    (tmp_path / f"{module}.py").write_text(APP_MODULE)
    monkeypatch.setattr(sys, "path", list(sys.path))  # warm adds the working directory
    monkeypatch.chdir(tmp_path)
    request.addfinalizer(lambda: sys.modules.pop(module, None))
    code, result = run(
        capsys, "warm", str(qa_file), "--url", redis_url, "--namespace", namespace,
        "--model", f"{module}:{attribute}",
    )  # fmt: skip
    assert (code, result) == (0, {"stored": 2, "skipped": 0})

    app_model = NamedChatModel(model_name="m-1", cache=make_cache())
    assert app_model.invoke("Who wrote Hamlet?").content == "William Shakespeare."
    assert app_model.calls == 0
    configured_otherwise = NamedChatModel(model_name="m-2", cache=make_cache())
    assert configured_otherwise.invoke("Who wrote Hamlet?").content != "William Shakespeare."
    assert configured_otherwise.calls == 1


def test_warm_with_a_bad_model_spec_is_a_message(
    capsys: pytest.CaptureFixture[str], redis_url: str, qa_file: Path
) -> None:
    base = ["warm", str(qa_file), "--url", redis_url]
    assert cli.main([*base, "--model", "no_such_module_here:chat"]) == 1
    assert "cannot import 'no_such_module_here'" in capsys.readouterr().err
    assert cli.main([*base, "--model", "json:dumps"]) == 1  # a function, not a model
    assert cli.main([*base, "--model", "json"]) == 1
    assert "module:attribute" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*base, "--model", "json:dumps", "--llm-string", "m"])
    assert exit_info.value.code == 2

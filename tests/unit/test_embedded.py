"""The embedded Redis launcher used by the demo and by these tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from redis_llm_cache import ConfigurationError
from redis_llm_cache.redis.embedded import EmbeddedRedis, find_module


def module_names(url: str) -> set[str]:
    client = redis.Redis.from_url(url)
    try:
        return {entry[b"name"].decode() for entry in client.execute_command("MODULE", "LIST")}
    finally:
        client.close()


def test_stack_server_has_search_and_json() -> None:
    with EmbeddedRedis(modules=("search", "json")) as server:
        assert {"search", "ReJSON"} <= module_names(server.url)
        assert redis.Redis.from_url(server.url).info("server")["redis_version"].startswith("8.")


def test_plain_server_has_no_search_module() -> None:
    with EmbeddedRedis() as server:
        assert not {"search", "ReJSON"} & module_names(server.url)


def test_stop_ends_the_process() -> None:
    server = EmbeddedRedis().start()
    pid = server.pid
    assert pid is not None
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_unknown_module_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown module"):
        find_module("graph")


def process_gone(pid: int) -> bool:
    """No such process, or a zombie nobody has reaped yet (it no longer runs)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
    except OSError:  # no /proc: ask the kernel instead
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def port_closed(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_until(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)  # poll interval, bounded by the deadline
    return check()


#: Starts a server, reports its pid and port, then ends without stop().
STARTER = """
import os, signal, sys
from redis_llm_cache.redis.embedded import EmbeddedRedis
server = EmbeddedRedis().start()
print(server.pid, server.port, flush=True)
if sys.argv[1] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
"""


def start_in_child(how: str) -> tuple[int, int, int]:
    done = subprocess.run(
        [sys.executable, "-c", STARTER, how], capture_output=True, text=True, timeout=60
    )
    pid, port = (int(value) for value in done.stdout.split())
    return done.returncode, pid, port


def test_context_manager_stops_the_server() -> None:
    with EmbeddedRedis() as server:
        pid, port = server.pid, server.port
        assert pid is not None and port is not None
        assert redis.Redis.from_url(server.url).ping()
    assert server.process is None
    assert process_gone(pid) and port_closed(port)


def test_a_server_stops_when_the_script_exits_without_stop() -> None:
    code, pid, port = start_in_child("exit")
    assert code == 0
    assert process_gone(pid), "the atexit hook did not stop the server"
    assert port_closed(port)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_a_server_stops_when_its_python_process_is_killed() -> None:
    code, pid, port = start_in_child("kill")
    assert code == -signal.SIGKILL  # no atexit hook ran
    assert wait_until(lambda: process_gone(pid)), "redis-server outlived the killed process"
    assert wait_until(lambda: port_closed(port))


#: Starts a detached server in the data directory argv[1], reports it, then exits.
DETACHED_STARTER = """
import sys
from redis_llm_cache.redis.embedded import EmbeddedRedis
server = EmbeddedRedis(data_dir=sys.argv[1], detach=True, persist=True, appendonly=True).start()
print(server.pid, server.port, flush=True)
"""


def test_a_detached_server_outlives_its_starter_and_keeps_its_data(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", DETACHED_STARTER, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    pid, port = (int(value) for value in done.stdout.split())
    url = f"redis://127.0.0.1:{port}/0"
    try:
        assert (tmp_path / "redis.pid").read_text().strip() == str(pid)
        client = redis.Redis.from_url(url)
        client.set("kept", "yes")
        client.close()
    finally:
        os.kill(pid, signal.SIGTERM)  # it is no child of this test: nothing else stops it
    assert wait_until(lambda: process_gone(pid)) and wait_until(lambda: port_closed(port))
    again = EmbeddedRedis(data_dir=tmp_path, port=port, detach=True, appendonly=True).start()
    again_pid = again.pid
    try:
        assert again_pid == int((tmp_path / "redis.pid").read_text())
        client = redis.Redis.from_url(again.url)
        assert client.get("kept") == b"yes"  # the AOF was replayed
        client.close()
    finally:
        again.stop()
    assert again.pid is None
    assert again_pid is not None and process_gone(again_pid) and port_closed(port)


def test_a_detached_server_needs_a_data_dir() -> None:
    with pytest.raises(ConfigurationError, match="data_dir"):
        EmbeddedRedis(detach=True)

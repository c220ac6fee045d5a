"""The one place Redis keys are made.

An exact-tier entry key looks like::

    <namespace>:llm:v1:<tenant16>:<llm16>:<entry64>

* ``<entry64>`` is SHA-256 (hex) of the *length-delimited* encoding of every
  part that identifies the entry: key version, namespace, tenant, ``llm_string``
  and prompt. Each part is prefixed by its byte length, so no two different
  tuples of parts share an encoding (``("ab", "c")`` vs ``("a", "bc")``), and
  no raw prompt text ever appears in a key.
* ``<tenant16>`` and ``<llm16>`` are short digests of the tenant and of the
  ``llm_string`` alone. They exist so ``clear(tenant=...)`` and
  ``clear(llm_string=...)`` can select keys with a ``SCAN MATCH`` pattern.
* The namespace is kept readable (operators look at keys) and is escaped when
  used in a pattern. Patterns spell out the fixed-width digest fields with ``?``
  and never end in ``*``, so a pattern for namespace ``a`` cannot match keys of
  namespace ``a:llm:v1:...`` or ``a*``.

Semantic-tier keys (the vector index of each strategy, and per-entry usage) all
start with :func:`semantic_prefix`, ``<namespace>:sem:v1:``, followed by one of
the key kinds named below (``h``, ``idx``, ``c``, ``vs``, ``vsk``, ``usage``, ``obs``,
``norm``);
the strategies build their keys from these names and the inventory its scan
patterns, so the two cannot drift apart. Two digests recur in them:

* ``<index16>`` (:func:`index_digest`): SHA-256 of the length-delimited parts key
  version, strategy family, embedder identity, dimensions and stored type, so two
  embedders (or one embedder stored two ways) never share an index;
* ``<entry64>`` (:func:`entry_id`): the last ``:``-segment of the exact tier's key
  when it is a 64-hex digest (it is for every key :class:`KeySpace` makes, and that
  digest already covers namespace, tenant, ``llm_string`` and prompt), else the
  SHA-256 of the whole exact key.

Each strategy module documents what its keys hold. Cached embedding vectors:
:class:`EmbeddingKeys`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

#: Bump when the key layout or the meaning of a part changes: old entries then
#: simply stop being found (and expire by TTL) instead of being misread.
KEY_VERSION = "v1"

#: Hex characters of a scope digest (tenant, ``llm_string``, embedding model): 64
#: bits, only used to narrow a clear() or a scan.
SCOPE_HEX = 16
#: Hex characters of an entry digest: the full SHA-256, the identity of an entry.
ENTRY_HEX = 64


def encode_parts(*parts: str) -> bytes:
    """Length-delimited, injective encoding of a tuple of strings.

    ``surrogatepass`` keeps the mapping injective for strings that are not valid
    Unicode text (lone surrogates), instead of failing on them.
    """
    out = bytearray()
    for part in parts:
        raw = part.encode("utf-8", "surrogatepass")
        out += len(raw).to_bytes(8, "big")
        out += raw
    return bytes(out)


@lru_cache(maxsize=4096)
def scope_digest(kind: str, value: str) -> str:
    """Short digest of one scoping value (tenant or llm_string); memoized since
    an application uses few distinct values and each is hashed on every call."""
    return hashlib.sha256(encode_parts(KEY_VERSION, kind, value)).hexdigest()[:SCOPE_HEX]


def escape_glob(text: str) -> str:
    """Escape Redis ``MATCH`` glob metacharacters so ``text`` matches only itself."""
    out = []
    for ch in text:
        if ch in "*?[]\\":
            out.append("\\")
        out.append(ch)
    return "".join(out)


@dataclass(frozen=True)
class KeySpace:
    """Keys of one namespace."""

    namespace: str

    @property
    def prefix(self) -> str:
        return f"{self.namespace}:llm:{KEY_VERSION}:"

    @property
    def lru_key(self) -> str:
        """Sorted set of entry keys scored by last use (only with ``max_entries``)."""
        return f"{self.prefix}lru"

    def entry_key(self, tenant: str, llm_string: str, prompt: str) -> str:
        digest = hashlib.sha256(
            encode_parts(KEY_VERSION, self.namespace, tenant, llm_string, prompt)
        ).hexdigest()
        return (
            f"{self.prefix}{scope_digest('tenant', tenant)}:"
            f"{scope_digest('llm', llm_string)}:{digest}"
        )

    def lease_key(self, entry_key: str) -> str:
        """Short-lived lock on computing the value of ``entry_key`` (stampede
        protection): the entry key with ``lease:`` after the prefix, so entry
        patterns never match it and :meth:`lease_pattern` scopes it the same way."""
        return f"{self.prefix}lease:{entry_key[len(self.prefix) :]}"

    def lease_pattern(self, tenant: str | None = None, llm_string: str | None = None) -> str:
        """``SCAN MATCH`` pattern for leases, scoped like :meth:`entry_pattern`."""
        entries = self.entry_pattern(tenant, llm_string)
        escaped_prefix = escape_glob(self.prefix)
        return f"{escaped_prefix}lease:{entries[len(escaped_prefix) :]}"

    def for_tenant(self, tenant: str) -> TenantKeys:
        return TenantKeys(self, tenant)

    def entry_pattern(self, tenant: str | None = None, llm_string: str | None = None) -> str:
        """``SCAN MATCH`` pattern for entries, optionally of one tenant / llm_string."""
        any_scope = "?" * SCOPE_HEX
        tenant_part = any_scope if tenant is None else scope_digest("tenant", tenant)
        llm_part = any_scope if llm_string is None else scope_digest("llm", llm_string)
        return f"{escape_glob(self.prefix)}{tenant_part}:{llm_part}:{'?' * ENTRY_HEX}"


class TenantKeys:
    """:meth:`KeySpace.entry_key` for one fixed tenant, on the lookup hot path.

    Same keys (a property test checks it), less work per call: the hash state
    after the constant parts and the constant key prefix are computed once.
    """

    __slots__ = ("_memo", "_prefix", "_state")

    #: Recently used keys are remembered (a repeated question is exactly what a
    #: cache hit is), bounded in count and in the text held: entries over
    #: ``MEMO_MAX_CHARS`` are always hashed afresh; a full memo is emptied.
    MEMO_MAX_ENTRIES = 1024
    MEMO_MAX_CHARS = 4096

    def __init__(self, space: KeySpace, tenant: str) -> None:
        self._state = hashlib.sha256(encode_parts(KEY_VERSION, space.namespace, tenant))
        self._prefix = f"{space.prefix}{scope_digest('tenant', tenant)}:"
        self._memo: dict[tuple[str, str], str] = {}

    def entry_key(self, llm_string: str, prompt: str) -> str:
        if len(prompt) + len(llm_string) > self.MEMO_MAX_CHARS:
            return self._compute(llm_string, prompt)
        memo_key = (llm_string, prompt)
        key = self._memo.get(memo_key)
        if key is None:
            key = self._compute(llm_string, prompt)
            if len(self._memo) >= self.MEMO_MAX_ENTRIES:
                self._memo.clear()
            self._memo[memo_key] = key
        return key

    def _compute(self, llm_string: str, prompt: str) -> str:
        state = self._state.copy()
        state.update(encode_parts(llm_string, prompt))
        return f"{self._prefix}{scope_digest('llm', llm_string)}:{state.hexdigest()}"


def embedding_prefix(namespace: str) -> str:
    """Prefix of every cached embedding vector of ``namespace`` (:class:`EmbeddingKeys`)."""
    return f"{namespace}:emb:{KEY_VERSION}:"


class EmbeddingKeys:
    """Keys of cached vectors for one namespace and one embedding model.

    A vector key looks like::

        <namespace>:emb:v1:<model16>:<entry64>

    * ``<entry64>`` is SHA-256 (hex) of the length-delimited parts: key version,
      ``"embedding"``, namespace, the model's identity key (for a core
      ``Embedder``: ``EmbedderIdentity.canonical()``), the role (``"query"`` /
      ``"document"``) and the text. Different models, roles or texts never share
      a key, and no text appears in it.
    * ``<model16>`` is a short digest of the identity key alone, so one model's
      vectors can be selected with a ``SCAN MATCH`` pattern (:meth:`pattern`).

    Like :class:`TenantKeys`, the hash state after the constant parts is kept per
    role and copied for each text.
    """

    __slots__ = ("_states", "model_digest", "prefix")

    def __init__(self, namespace: str, identity_key: str) -> None:
        self.prefix = embedding_prefix(namespace)
        self.model_digest = scope_digest("embedder", identity_key)
        self._states = {
            role: hashlib.sha256(
                encode_parts(KEY_VERSION, "embedding", namespace, identity_key, role)
            )
            for role in ("query", "document")
        }

    def key(self, role: str, text: str) -> str:
        """Key of ``text`` embedded by this model in ``role``."""
        state = self._states.get(role)
        if state is None:
            raise ValueError(f"role must be 'query' or 'document', got {role!r}")
        state = state.copy()
        # encode_parts is a concatenation of length-prefixed parts, so this equals
        # hashing encode_parts(KEY_VERSION, "embedding", ..., role, text).
        state.update(encode_parts(text))
        return f"{self.prefix}{self.model_digest}:{state.hexdigest()}"

    def pattern(self, *, all_models: bool = False) -> str:
        """``SCAN MATCH`` pattern for this model's vectors (or every model's in the
        namespace); fixed-width, so it cannot match outside the namespace."""
        model = "?" * SCOPE_HEX if all_models else self.model_digest
        return f"{escape_glob(self.prefix)}{model}:{'?' * ENTRY_HEX}"


# -- the semantic tier ------------------------------------------------------------------

#: Hex characters of an index digest (64 bits: only separates indexes of one namespace).
INDEX_HEX = 16
#: Hex characters of a partition id (128 bits; ``index.base.partition_id``).
PARTITION_HEX = 32

# What a semantic-tier key holds: the segment after :func:`semantic_prefix`.
SEARCH_INDEX = "idx"  # search: the RediSearch index name, ``idx:<index16>``
SEARCH_ENTRY = "h"  # search: one hash per entry, ``h:<index16>:<entry64>``
CLIENT = "c"  # client: ``c:<index16>:`` + CLIENT_ENTRY / CLIENT_REGISTRY / CLIENT_JOURNAL
CLIENT_ENTRY = "e"  # ... ``e:<entry64>``, one hash per entry
CLIENT_REGISTRY = "ids"  # ... the ids sorted set
CLIENT_JOURNAL = "log"  # ... the change journal (a stream)
VECTOR_SET = "vs"  # vectorset: one set per partition, ``vs:<index16>:<partition32>``
VECTOR_SET_POINTER = "vsk"  # vectorset: entry -> partition, ``vsk:<index16>:<entry64>``
USAGE = "usage"  # any strategy: per-entry usage hash, ``usage:<entry64>``
# The error budget's observation lists (any strategy), ``obs:<model16>:`` then
# ``e:<entry64>`` (one entry), ``p:<partition32>`` (one partition) or ``g`` (all).
OBSERVATIONS = "obs"
#: any strategy: a question's normalized text (and partition) -> its entry,
#: ``norm:<entry64>`` (the normalized-exact step before the vector search)
NORMALIZED = "norm"

_HEX64 = re.compile(rf"[0-9a-f]{{{ENTRY_HEX}}}")


def semantic_prefix(namespace: str) -> str:
    """Prefix of every semantic-tier key of ``namespace``."""
    return f"{namespace}:sem:{KEY_VERSION}:"


def usage_prefix(namespace: str) -> str:
    """Prefix of the per-entry usage hashes (created, hits, last hit) of ``namespace``."""
    return f"{semantic_prefix(namespace)}{USAGE}:"


def normalized_prefix(namespace: str) -> str:
    """Prefix of the normalized-question keys of ``namespace``."""
    return f"{semantic_prefix(namespace)}{NORMALIZED}:"


def normalized_key(namespace: str, partition: str, normalized_text: str) -> str:
    """The key of a normalized question in a partition: SHA-256 of both, so no
    text appears in the key."""
    digest = hashlib.sha256(encode_parts(KEY_VERSION, "normalized", partition, normalized_text))
    return f"{normalized_prefix(namespace)}{digest.hexdigest()}"


def index_digest(family: str, model_key: str, dimensions: int, stored_as: str) -> str:
    """``<index16>``: the digest naming one strategy's index of one embedder."""
    raw = encode_parts(KEY_VERSION, "semantic-index", family, model_key, str(dimensions), stored_as)
    return hashlib.sha256(raw).hexdigest()[:INDEX_HEX]


def entry_id(exact_key: str) -> str:
    """``<entry64>``: the 64-hex id of the entry stored at ``exact_key`` (see the
    module docstring)."""
    last = exact_key.rsplit(":", 1)[-1]
    if _HEX64.fullmatch(last):
        return last
    return hashlib.sha256(encode_parts(KEY_VERSION, "entry", exact_key)).hexdigest()


def observation_prefix(namespace: str) -> str:
    """Prefix of the error budget's observation lists of ``namespace``."""
    return f"{semantic_prefix(namespace)}{OBSERVATIONS}:"


def observation_patterns(namespace: str) -> dict[str, str]:
    """``SCAN MATCH`` patterns of the error budget's lists of ``namespace``, any
    embedder, by kind: per entry, per partition, per embedder (fixed-width)."""
    p, model = escape_glob(observation_prefix(namespace)), "?" * SCOPE_HEX
    return {
        "budget_entry_labels": f"{p}{model}:e:{'?' * ENTRY_HEX}",
        "budget_partition_labels": f"{p}{model}:p:{'?' * PARTITION_HEX}",
        "budget_embedder_labels": f"{p}{model}:g",
    }

"""The semantic tier: a paraphrase of an answered question is served that answer.

Lookup (after an exact miss): embed the question's text, search the vector index
for the nearest stored questions **of the same partition** with similarity at
least the threshold (the partition -- tenant, ``llm_string`` and conversation
context -- is a pre-filter inside the search), then read the best candidate's
answer from the exact tier. A candidate whose answer has expired or was removed
is dropped from the index and the next one is tried.

Update (after the exact write): embed the text (usually already embedded by the
lookup that missed, so the vector is reused) and add it to the index with the
exact entry's key and TTL.

Both are operations (see :mod:`.ops`). Besides Redis requests they yield
:class:`~.ops.Embed`, which the cache's driver answers with the embedder's
``embed`` (sync) or ``aembed`` (async).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import orjson

from ...config import CacheSettings

# Defined in config (every setting lives there); importable from here as before.
from ...config import SemanticSettings as SemanticSettings
from ...config import Strategy as Strategy
from ..embedding.embedder import EmbedderIdentity, Matrix, check_vectors
from ..exact import ExactTier
from ..guard import LogLimiter
from ..index.base import (
    Candidate,
    IndexEntry,
    IndexWrites,
    VectorIndex,
    nothing_after,
    partition_id,
    run_writes,
)
from ..index.common import replace_hash
from ..index.foreign import ForeignIndex, foreign_indexes
from ..keys import (
    ENTRY_HEX,
    entry_id,
    escape_glob,
    normalized_key,
    normalized_prefix,
    usage_prefix,
)
from ..ops import Call, Command, Detach, Embed, Judge, Operation, Pipeline
from ..replies import int_map, raise_if_error
from ..scan import scan_each, unlink_batch
from ..stats import CacheStats
from .budget import DEFAULT_GATE, Belief, ErrorBudget, Observation
from .eligibility import bypass_reason, resolve_rules
from .thresholds import default_threshold
from .verify import CandidatePair, JudgedVerifier, Verdict, Verifier, resolve_verifier
from .verify.diff import normalized

T = TypeVar("T")

logger = logging.getLogger(__name__)

TIER = "semantic"


@dataclass(frozen=True, slots=True)
class SemanticQuery:
    """What an adapter extracted from a prompt.

    Attributes:
        text: What is embedded and compared: the user's last message.
        context: Everything else that must match exactly for an answer to apply
            (system prompt, earlier turns); part of the partition.
    """

    text: str
    context: str = ""


def narrowed_to_question(
    query: SemanticQuery, question: Callable[[str], str | None]
) -> SemanticQuery | None:
    """``query`` with only the question compared (``semantic_text`` /
    ``SemanticSettings.question`` picks it out of the text); ``None`` when the hook
    says the prompt has no question to match semantically.

    The text around the question (instructions, retrieved context) must match
    exactly: it joins the context, so it is part of the partition."""
    asked = question(query.text)
    if asked is None:
        return None
    if not isinstance(asked, str):
        raise TypeError(f"semantic_text must return a str or None, got {type(asked).__name__}")
    # The unit and record separators keep the parts apart.
    before, found_it, after = query.text.partition(asked)
    rest = f"{before}\x1f{after}" if found_it else query.text
    return SemanticQuery(text=asked, context=f"{query.context}\x1e{rest}")


@dataclass(frozen=True)
class SemanticHit(Generic[T]):
    value: T
    candidate: Candidate
    verdict: Verdict | None = None


class _VectorMemo:
    """Recent question vectors: the lookup that missed embedded the question, and
    the update that follows the LLM call reuses that vector."""

    def __init__(self, capacity: int = 512) -> None:
        self._capacity = capacity
        self._items: OrderedDict[str, Matrix] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> Matrix | None:
        with self._lock:
            vector = self._items.get(text)
            if vector is not None:
                self._items.move_to_end(text)
            return vector

    def put(self, text: str, vector: Matrix) -> None:
        with self._lock:
            self._items[text] = vector
            self._items.move_to_end(text)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)


def _embeddable(text: str) -> bool:
    """Text an embedder can take: valid UTF-8 (no lone surrogates, which no JSON
    API accepts) and no NUL. Other text is cached by the exact tier only."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Decisions:
    """Counts of what the verifier and the bypass rules decided, and the latency
    of the verifier and of a judge (recent calls), for ``stats()``."""

    def __init__(self, window: int = 1024) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._verify_s: deque[float] = deque(maxlen=window)
        self._judge_ms: deque[float] = deque(maxlen=window)

    def count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def verified(self, verdict: Verdict, seconds: float) -> None:
        with self._lock:
            self._counts["verified"] += 1
            self._counts["verifier_accepted" if verdict.accept else "verifier_rejected"] += 1
            if verdict.judge_ms is not None:
                self._counts["judged"] += 1
                self._counts["judge_errors"] += verdict.judged_by == "judge_error"
                self._judge_ms.append(verdict.judge_ms)
            else:
                self._verify_s.append(seconds)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            counts = dict(self._counts)
            verify_ms = sorted(s * 1000 for s in self._verify_s)
            judge_ms = sorted(self._judge_ms)
        out: dict[str, Any] = {
            name: counts.pop(name, 0)
            for name in (
                "verified",
                "verifier_accepted",
                "verifier_rejected",
                "verifier_errors",
                "judged",
                "judge_errors",
                "wrong_hits_reported",
                "uncalibrated_searches",
                "normalized_hits",
            )
        }
        out["bypassed"] = {k.removeprefix("bypassed_"): v for k, v in counts.items()}
        out["verifier_ms_p50"] = verify_ms[len(verify_ms) // 2] if verify_ms else None
        out["judge_ms"] = {
            "count": len(judge_ms),
            "p50": judge_ms[len(judge_ms) // 2] if judge_ms else None,
            "max": judge_ms[-1] if judge_ms else None,
        }
        return out


class SemanticTier(Generic[T]):
    """Operations of the semantic tier over one vector index."""

    def __init__(
        self,
        *,
        settings: SemanticSettings,
        cache_settings: CacheSettings,
        identity: EmbedderIdentity,
        index: VectorIndex,
        exact: ExactTier[T],
        stats: CacheStats,
    ) -> None:
        self.settings = settings
        self.identity = identity
        self.index = index
        self.exact = exact
        self.stats = stats
        self._tenant = cache_settings.tenant
        self._ttl_ms = cache_settings.ttl_ms
        self._sliding_ms = cache_settings.ttl_ms if cache_settings.sliding_ttl else None
        if settings.threshold is not None:
            self.threshold, self.calibrated = settings.threshold, True
        else:
            self.threshold, self.calibrated = default_threshold(identity)
        self._prepared = False
        self._memo = _VectorMemo()
        self.verifier = resolve_verifier(
            settings.verifier, embedder=(identity.provider, identity.model), gate=self.threshold
        )
        self._bypass = resolve_rules(settings.bypass)
        self._decisions = _Decisions()
        self._verifier_log = LogLimiter()
        #: Lowest similarity searched (the threshold, unless an error budget decides).
        self.gate = self.threshold
        #: The error budget (``None``: the threshold and the verifier decide).
        self.budget: ErrorBudget | None = None
        self.judge: Any = None
        # With a budget the verifier only scores and vetoes: a JudgedVerifier's
        # judge labels explored candidates in the background instead of blocking.
        self._scorer: Verifier | None = self.verifier
        if settings.error_budget is not None:
            if isinstance(self.verifier, JudgedVerifier):
                self._scorer = self.verifier.base
            self.judge = settings.judge or getattr(self.verifier, "judge", None)
            if settings.threshold is None:
                self.gate = DEFAULT_GATE
            self.budget = ErrorBudget(
                delta=settings.error_budget,
                namespace=cache_settings.namespace,
                identity_key=identity.canonical(),
                has_judge=self.judge is not None,
            )
            self._judge_log = LogLimiter()
        # Per-entry usage (created, hits, last hit): one small hash per answered
        # question, beside the index, with the answer's TTL. Any strategy.
        self._usage_prefix = usage_prefix(cache_settings.namespace)
        self._namespace = cache_settings.namespace
        #: Search indexes of other software found covering the namespace (see
        #: :meth:`_check_foreign_indexes`).
        self.foreign_indexes: list[ForeignIndex] = []

    def usage_key(self, exact_key: str) -> str:
        return f"{self._usage_prefix}{entry_id(exact_key)}"

    def eligible(self, query: SemanticQuery | None) -> bool:
        return (
            query is not None
            and bool(query.text.strip())
            and len(query.text) <= self.settings.max_text_chars
            and _embeddable(query.text)
        )

    def _vector(self, text: str) -> Operation[Matrix]:
        vector = self._memo.get(text)
        if vector is None:
            # Stored and incoming questions are the same kind of text: both "query".
            reply = yield Embed((text,), "query")
            matrix = check_vectors(reply, count=1, dimensions=self.identity.dimensions)
            vector = matrix[0]
            self._memo.put(text, vector)
        return vector

    def _prepare(self) -> Operation[None]:
        if not self._prepared:
            yield from self.index.prepare()
            yield from self._check_foreign_indexes()
            self._prepared = True

    def _check_foreign_indexes(self) -> Operation[None]:
        """Once per process, before first use: look for search indexes of other
        software that list our hashes (see :mod:`.foreign_index`); a clear of theirs
        would delete our entries. Counted in ``stats()`` and warned about once;
        a failed check is not an error of the cache."""
        try:
            found = yield from foreign_indexes(self._namespace)
        except Exception:  # best effort: the cache works without the check
            return
        self.foreign_indexes = found
        if found:
            logger.warning(
                "%d search index(es) of other software cover namespace %r, so they list "
                "its entries and clearing them deletes ours: %s. Use a namespace "
                "none of their prefixes starts (or drop those indexes).",
                len(found),
                self._namespace,
                "; ".join(f"{i.name} (prefixes {list(i.prefixes)})" for i in found),
            )

    def lookup(self, llm_string: str, query: SemanticQuery) -> Operation[SemanticHit[T] | None]:
        """Best answered paraphrase of ``query`` in its partition, or ``None``.

        Candidates at or above the threshold are checked by the verifier in order of
        similarity; the first one it accepts (and whose answer still exists) is
        served. A prompt a bypass rule matches gets ``None`` without a search."""
        reason = bypass_reason(self._bypass, query.text, llm_string)
        if reason is not None:
            self._decisions.count(f"bypassed_{reason}")
            return None
        hit = yield from self._normalized_hit(llm_string, query)
        if hit is None:
            hit = yield from self._find(llm_string, query)
        if hit is not None:
            usage = self.usage_key(hit.candidate.exact_key)
            # Best effort: a failed count must not cost the hit (errors are per command).
            counts: tuple[Command, ...] = (
                ("HINCRBY", usage, "hits", 1),
                ("HSET", usage, "last_hit_ms", int(time.time() * 1000)),
            )
            if self._sliding_ms is None:
                yield Pipeline(counts)
            else:
                # The answer's TTL was just renewed (GETEX): the index entry and the
                # usage hash get the same, or the paraphrase would stop matching
                # while its answer lives on.
                partition = partition_id(self._tenant, llm_string, query.context)
                renew_usage = ("PEXPIRE", usage, self._sliding_ms)
                renew_normalized = (
                    "PEXPIRE",
                    self._normalized_key(partition, hit.candidate.text),
                    self._sliding_ms,
                )
                yield from self.index.renew(
                    hit.candidate,
                    partition,
                    self._sliding_ms,
                    also=(*counts, renew_usage, renew_normalized),
                )
        return hit

    def _normalized_key(self, partition: str, text: str) -> str:
        return normalized_key(self._namespace, partition, normalized(text))

    def _normalized_hit(
        self, llm_string: str, query: SemanticQuery
    ) -> Operation[SemanticHit[T] | None]:
        """The normalized-exact step: a stored question of the partition equal to
        ``query`` after NFKC, case folding, whitespace and trailing punctuation
        normalization answers it without embedding or searching."""
        partition = partition_id(self._tenant, llm_string, query.context)
        key = self._normalized_key(partition, query.text)
        raw = yield Call(("GET", key))
        if raw is None:
            return None
        try:
            stored = orjson.loads(raw)
            exact_key, text = str(stored["key"]), str(stored["text"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            yield Call(("UNLINK", key))  # not ours, or from another version
            return None
        details = {"similarity": 1.0, "matched_prompt": text, "normalized": True}
        value = yield from self.exact.read(exact_key, tier=TIER, details=details)
        if value is None:  # the answer expired or was removed
            yield Call(("UNLINK", key))
            return None
        self._decisions.count("normalized_hits")
        return SemanticHit(value, Candidate(exact_key, 1.0, text, 0))

    def _find(
        self, llm_string: str, query: SemanticQuery, *, feedback: bool = False
    ) -> Operation[SemanticHit[T] | None]:
        """The candidate that answers ``query``. With a budget, ``feedback`` picks the
        nearest candidate no verifier vetoes (what a report or a label is about)
        instead of deciding."""
        yield from self._prepare()
        vector = yield from self._vector(query.text)
        partition = partition_id(self._tenant, llm_string, query.context)
        candidates = yield from self.index.search(
            vector, partition, k=self.settings.candidates, min_similarity=self.gate
        )
        if not self.calibrated and self.budget is None:
            # Warned about once per process; counted on every search it decides.
            self._decisions.count("uncalibrated_searches")
        beliefs: list[Belief] = []
        partition_belief: Belief | None = None
        if self.budget is not None and not feedback:
            self.budget.begin()
            if candidates:
                keys = [c.exact_key for c in candidates]
                partition_belief, beliefs = yield from self.budget.read(partition, keys)
        stale: list[str] = []
        hit: SemanticHit[T] | None = None
        for position, candidate in enumerate(candidates):
            verdict = yield from self._verify(query.text, vector, candidate)
            if self.budget is None:
                if verdict is not None and not verdict.accept:
                    continue
            elif feedback:
                if verdict is not None and verdict.veto is not None:
                    continue
            else:
                assert partition_belief is not None
                decision = self.budget.decide(
                    beliefs[position], candidate.similarity, verdict, partition_belief
                )
                if decision.action == "miss":
                    continue
                if decision.action == "explore" and not self.settings.judge_inline:
                    # Answered as a miss; the judge labels the pair in the background.
                    yield from self._explore(query.text, candidate, verdict, partition)
                    break
                if decision.action == "explore":
                    # judge_inline: the judge decides now (bounded); its label is
                    # stored in the background.
                    same = yield from self._judge(query.text, candidate)
                    if same is not None:
                        labelling = self._record(candidate, verdict, partition, same)
                        yield Detach(labelling, "budget_record")
                    if not same:
                        break
                    self.budget.stats.count("judged_inline_served")
                if decision.audit:  # served, and labelled in the background
                    yield from self._explore(query.text, candidate, verdict, partition)
            details: dict[str, Any] = {
                "similarity": round(candidate.similarity, 4),
                "matched_prompt": candidate.text,
            }
            if verdict is not None:
                details["verifier_score"] = round(verdict.score, 4)
                details["judged_by"] = verdict.judged_by
            value = yield from self.exact.read(candidate.exact_key, tier=TIER, details=details)
            if value is None:  # answer expired, evicted or corrupt: not a hit
                stale.append(candidate.exact_key)
                continue
            hit = SemanticHit(value, candidate, verdict)
            break
        if stale:
            yield from self.index.remove(stale)
        return hit

    # -- the error budget's labels ----------------------------------------------------------

    def _explore(
        self, text: str, candidate: Candidate, verdict: Verdict | None, partition: str
    ) -> Operation[None]:
        assert self.budget is not None
        if self.judge is None:
            return
        labelling = self._judge_and_record(text, candidate, verdict, partition)
        accepted = yield Detach(labelling, "budget_judge")
        if not accepted:  # too many judges pending: this label is not learned
            self.budget.stats.count("judge_dropped")

    def _judge_and_record(
        self, text: str, candidate: Candidate, verdict: Verdict | None, partition: str
    ) -> Operation[None]:
        """Ask the judge about an explored pair and store its label (run detached)."""
        same = yield from self._judge(text, candidate)
        if same is not None:
            yield from self._record(candidate, verdict, partition, same)

    def _judge(self, text: str, candidate: Candidate) -> Operation[bool | None]:
        """The judge's verdict on a pair, bounded by ``label_timeout``; ``None`` when
        it fails or is late (counted, warned about once: it costs only the label)."""
        assert self.budget is not None
        started = time.perf_counter()
        try:
            answer = yield Judge(self.judge, text, candidate.text, self.settings.label_timeout)
            same = bool(answer) if isinstance(answer, bool) else float(answer) >= 0.5
        except Exception as exc:
            kind = "judge_timeouts" if isinstance(exc, TimeoutError) else "judge_errors"
            self.budget.stats.count(kind)
            self._judge_log.warn_failure(
                logger, exc, "the error budget's judge failed; no label recorded"
            )
            return None
        self.budget.stats.judged((time.perf_counter() - started) * 1000)
        if same:
            self.budget.stats.count("judge_same")
        return same

    def _record(
        self, candidate: Candidate, verdict: Verdict | None, partition: str, same: bool
    ) -> Operation[None]:
        assert self.budget is not None
        observation = Observation(
            similarity=candidate.similarity,
            same=same,
            score=None if verdict is None else verdict.score,
            veto=verdict is not None and verdict.veto is not None,
        )
        yield from self.budget.record(
            candidate.exact_key, partition, observation, level_ttl_ms=self._ttl_ms
        )

    def label(self, llm_string: str, query: SemanticQuery, same: bool) -> Operation[str | None]:
        """Record whether the stored question nearest to ``query`` (that no verifier
        vetoes) wants the same answer; returns that question, ``None`` without one
        (or without an error budget: nothing learns from labels then)."""
        if self.budget is None:
            return None
        hit = yield from self._find(llm_string, query, feedback=True)
        if hit is None:
            return None
        partition = partition_id(self._tenant, llm_string, query.context)
        yield from self._record(hit.candidate, hit.verdict, partition, same)
        self.budget.stats.count("labels")
        return hit.candidate.text

    def _verify(self, text: str, vector: Matrix, candidate: Candidate) -> Operation[Verdict | None]:
        """The verifier's verdict (``None`` without a verifier); a verifier that
        raises rejects the candidate and is counted. A verifier with a judge
        (``verdict_op``) asks it with a ``Judge`` step, awaited on the async path."""
        if self._scorer is None:
            return None
        pair = CandidatePair(text, candidate.text, candidate.similarity, vector)
        started = time.perf_counter()
        verdict: Verdict
        try:
            verdict_op = getattr(self._scorer, "verdict_op", None)
            if verdict_op is not None:
                verdict = yield from verdict_op(pair)
            else:
                verdict = self._scorer.verify(pair)
        except Exception as exc:
            self._decisions.count("verifier_errors")
            self._verifier_log.warn_failure(logger, exc, "verifier failed; candidate rejected")
            return Verdict(accept=False, score=0.0, judged_by="error")
        self._decisions.verified(verdict, time.perf_counter() - started)
        return verdict

    def report_wrong_hit(self, llm_string: str, query: SemanticQuery) -> Operation[str | None]:
        """Stop the entry that now answers ``query`` semantically from answering any
        paraphrase: it leaves the vector index (its answer still serves its own
        exact prompt) and its usage hash counts ``wrong_hits``. Returns the matched
        prompt, or ``None`` when no entry answers ``query`` semantically."""
        hit = yield from self._find(llm_string, query, feedback=True)
        if hit is None:
            return None
        if self.budget is not None:  # a wrong hit is a label too
            partition = partition_id(self._tenant, llm_string, query.context)
            yield from self._record(hit.candidate, hit.verdict, partition, False)
        yield from self.index.remove([hit.candidate.exact_key])
        usage = self.usage_key(hit.candidate.exact_key)
        yield Pipeline((("HINCRBY", usage, "wrong_hits", 1),))
        self._decisions.count("wrong_hits_reported")
        return hit.candidate.text

    def decisions(self) -> dict[str, Any]:
        """Verifier, bypass and feedback counters, judge latency and -- with an
        error budget -- what it decided and learned (this process)."""
        out = self._decisions.snapshot()
        if self.budget is not None:
            out["budget"] = self.budget.stats.snapshot(self.budget.delta, self.budget.account.bar)
        return out

    def add(self, exact_key: str, llm_string: str, query: SemanticQuery) -> Operation[None]:
        """Index ``query`` as answered by the value under ``exact_key`` (not done for a
        prompt a bypass rule matches: it must not answer others either)."""
        writes = yield from self.writes(((exact_key, llm_string, query),))
        yield from run_writes(writes)

    def writes(self, items: Sequence[tuple[str, str, SemanticQuery]]) -> Operation[IndexWrites]:
        """What indexing ``items`` -- (exact key, llm_string, query) -- takes: their
        index entries and usage hashes, for the caller to send beside the answers'
        writes (see :class:`~.index.base.IndexWrites`). Embeds the texts not just
        embedded by a lookup in one ``Embed`` step; skips bypassed prompts."""
        bypass = self._bypass
        items = [item for item in items if bypass_reason(bypass, item[2].text, item[1]) is None]
        if not items:
            return IndexWrites((), nothing_after)
        yield from self._prepare()
        vectors = yield from self._vectors([query.text for _, _, query in items])
        created_ms = int(time.time() * 1000)
        entries = [
            IndexEntry(
                exact_key=exact_key,
                partition=partition_id(self._tenant, llm_string, query.context),
                vector=vector,
                text=query.text,
                created_ms=created_ms,
                ttl_ms=self._ttl_ms,
            )
            for (exact_key, llm_string, query), vector in zip(items, vectors, strict=True)
        ]
        index_writes = self.index.writes(entries)
        usage = {"created_ms": created_ms, "hits": 0}
        usage_commands = tuple(
            replace_hash(self.usage_key(entry.exact_key), usage, self._ttl_ms) for entry in entries
        )
        expiry: tuple[Any, ...] = () if self._ttl_ms is None else ("PX", self._ttl_ms)
        # The normalized-exact step's pointers: normalized text -> entry.
        pointers = tuple(
            (
                "SET",
                self._normalized_key(entry.partition, entry.text),
                orjson.dumps({"key": entry.exact_key, "text": entry.text}),
                *expiry,
            )
            for entry in entries
        )
        indexed = len(index_writes.commands)

        def finish(replies: list[Any]) -> Operation[None]:
            yield from index_writes.finish(replies[:indexed])
            for reply in replies[indexed:]:
                raise_if_error(reply)

        return IndexWrites(index_writes.commands + usage_commands + pointers, finish)

    def _vectors(self, texts: list[str]) -> Operation[list[Matrix]]:
        """Vectors of ``texts`` (float32, contiguous): the memo's (a lookup that missed
        embedded them), the rest in one ``Embed`` step (not memoized: a bulk
        store must not push out the vectors of lookups in flight)."""
        found: list[Matrix | None] = [self._memo.get(text) for text in texts]
        missing = [i for i, vector in enumerate(found) if vector is None]
        if missing:
            reply = yield Embed(tuple(texts[i] for i in missing), "query")
            matrix = check_vectors(reply, count=len(missing), dimensions=self.identity.dimensions)
            for i, row in zip(missing, matrix, strict=True):
                found[i] = row
        return [np.ascontiguousarray(v, dtype=np.float32) for v in found if v is not None]

    def usage(self, exact_key: str) -> Operation[dict[str, int]]:
        """``created_ms``, ``hits`` and ``last_hit_ms`` of the entry answered by
        ``exact_key`` (empty if unknown or expired)."""
        raw = yield Call(("HGETALL", self.usage_key(exact_key)))
        return int_map(raw)

    def clear(self) -> Operation[int]:
        removed: int = yield from self.index.clear()
        yield from scan_each(escape_glob(self._usage_prefix) + "?" * ENTRY_HEX, unlink_batch)
        if self.budget is not None:
            yield from self.budget.clear()
        normalized_keys = escape_glob(normalized_prefix(self._namespace)) + "?" * ENTRY_HEX
        yield from scan_each(normalized_keys, unlink_batch)
        return removed

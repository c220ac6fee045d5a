"""The error budget: serve, miss or explore each semantic candidate so that the
expected share of wrong answers served stays at or below a chosen ``delta``.

A static similarity threshold is one line for every stored question; the right
line differs per question and per embedder. With ``semantic_error_budget`` set,
the semantic tier learns that line from labelled observations -- a pair's
similarity and whether the two questions want the same answer -- which come
from a **judge** (an LLM or a cross-encoder asked about explored candidates, off
the critical path), from ``report_wrong_hit`` and from explicit labels.

The model (our own design, after the published idea of vCache, arXiv 2502.03771):

- ``P(same | s) = sigmoid(a + b * x)`` with ``x = -log(1 - s)`` (shifted; the
  log of the cosine distance). Its parameters have a Gaussian belief (mean,
  covariance), fitted by damped Newton steps of the penalized log-likelihood
  (the Laplace approximation).
- Three levels share evidence: the **global** belief of the embedder (all of its
  observations in the namespace) starts from a broad prior whose boundary is at
  similarity 1.0, so an embedder nobody calibrated starts by trusting nothing; a
  **partition**'s belief starts from the global one, widened; an **entry**'s
  from its partition's, widened. A level without observations is its prior.
- For a candidate at similarity ``s``, the belief gives a lower bound ``L`` and
  an upper bound ``U`` of ``P(same)``. It is **served** when ``L`` clears a bar
  and the account (:class:`Account`) can pay its expected error ``1 - L``: the
  account holds the sum of ``1 - L`` over served candidates at or below
  ``delta`` per lookup (over a moving window), and moves the bar so that the budget goes to the best
  candidates (vCache serves at random with probability ``delta / (1 - L)``
  instead; on our streams that spent the budget on poor candidates).
  Otherwise it is **explored** (answered as a miss; the judge's verdict is
  recorded in the background) with a probability that falls as the belief
  sharpens, or **missed** -- when even ``U`` is below the bar, without a judge
  but for a small share still explored so the belief keeps learning there.
- A candidate the verifier vetoes (``Verdict.veto``) is a miss and never judged.
- Without a judge only labels and reports teach it: a candidate is served only
  when the belief vouches for it (``L`` clears the bar); nothing is explored.
- The guarantee is relative to the model and to the labels: a judge that errs
  on a share ``e`` of its calls teaches a wrong line (expect up to ``delta + e``),
  and the Laplace approximation is only an approximation (see
  :data:`MIN_LABEL_WEIGHT`). A partition's labels also count in its embedder's
  belief, so they weigh a little more than once there.

Observations are stored in Redis so every process learns from every other: a
bounded list per entry (expiring with the entry's answer), per partition and per
embedder (:class:`BudgetKeys`), each one a short text ``similarity,score,veto,same``.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..keys import entry_id, observation_patterns, observation_prefix, scope_digest
from ..ops import Command, Pipeline, RedisOperation
from ..replies import raise_if_error, text
from ..scan import scan_each, unlink_batch
from .verify import Verdict

#: The feature is ``-log(1 - s + FEATURE_FLOOR) - FEATURE_CENTER``: the log of
#: the cosine distance, which spreads the similarities near 1 (where
#: paraphrases and near-misses meet) and lets P(same) approach 1 there.
FEATURE_FLOOR = 1e-3
FEATURE_CENTER = 3.0  # about similarity 0.95

#: The prior of the global belief: boundary at similarity 1.0, broad.
PRIOR_SLOPE = 2.0
PRIOR_MEAN = (-PRIOR_SLOPE * (-math.log(FEATURE_FLOOR) - FEATURE_CENTER), PRIOR_SLOPE)
PRIOR_SD = (8.0, 4.0)
#: Covariance factor from a level's belief to the prior of the level below it:
#: an entry's line may lie elsewhere than its partition's.
WIDEN = 4.0

#: The least curvature one label adds to the belief (its weight ``p(1 - p)`` at
#: ``p = 0.98``; 0.05 let the replay bench overshoot a 1 % budget). Without it,
#: labels that all agree -- the usual case at one entry -- would never narrow
#: the belief: at separable data the Laplace curvature vanishes (vCache looks
#: variances up in a table for that case).
MIN_LABEL_WEIGHT = 0.02

#: Observations kept per entry, per partition and per embedder (the newest).
ENTRY_OBSERVATIONS = 32
PARTITION_OBSERVATIONS = 256
GLOBAL_OBSERVATIONS = 512

#: Default lowest similarity searched with a budget (the tier's threshold, when
#: set, replaces it): the learned line lies above it.
DEFAULT_GATE = 0.85

#: z of the lower bound of P(same) a served candidate must clear (90 %, one-sided).
LOWER_Z = 1.2816
#: z of the upper bound: below the bar even at this bound is a clear miss.
UPPER_Z = 2.0
#: Share of served candidates the judge also labels (in the background).
AUDIT_SERVED = 0.2
#: Share of clear misses still explored, so the belief keeps learning there.
EXPLORE_CLEAR_MISSES = 0.02
#: An uncertain candidate (its bounds straddle the bar) is explored with
#: probability ``min(1, EXPLORE_PER_SD * sd)``, ``sd`` of its logit: always
#: while little is known, less and less as observations pile up.
EXPLORE_PER_SD = 2.0
#: The bar on the lower bound of P(same) starts at ``1 - delta`` and moves in
#: [BAR_MIN, BAR_MAX]: never serve what is more likely another question.
BAR_MIN = 0.5
BAR_MAX = 0.999
#: Lookups the moving average of the expected error spans, and how fast the bar
#: follows it (logit units per lookup at twice the budget).
HORIZON = 500
BAR_GAIN = 0.02
#: Expected wrong answers the account may run ahead of ``delta * lookups``.
SLACK = 1.0

#: Seconds a process reuses a partition's or the embedder's belief before
#: reading the observations other processes added.
REFRESH_S = 2.0

Action = Literal["serve", "miss", "explore"]


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    e = math.exp(value)
    return e / (1.0 + e)


def feature(similarity: float) -> float:
    """The belief's input for a cosine ``similarity`` (see :data:`FEATURE_FLOOR`)."""
    return -math.log(1.0 - min(similarity, 1.0) + FEATURE_FLOOR) - FEATURE_CENTER


def similarity_of(value: float) -> float:
    """The similarity whose :func:`feature` is ``value``."""
    return 1.0 + FEATURE_FLOOR - math.exp(-(value + FEATURE_CENTER))


# -- observations ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observation:
    """One labelled pair: a query and a stored question at ``similarity``.

    Attributes:
        similarity: Their cosine similarity.
        same: Whether one answer serves both (the judge's or a user's label).
        score: The verifier's score of the pair (``None`` without a verifier);
            kept for inspection, the belief uses the similarity.
        veto: Whether the verifier vetoed the pair.
    """

    similarity: float
    same: bool
    score: float | None = None
    veto: bool = False

    def encode(self) -> str:
        score = "" if self.score is None else f"{self.score:.4f}"
        return f"{self.similarity:.5f},{score},{int(self.veto)},{int(self.same)}"

    @classmethod
    def decode(cls, raw: Any) -> Observation | None:
        """The observation ``raw`` encodes, ``None`` for anything malformed (a
        value written by other software is skipped, never trusted)."""
        try:
            parts = text(raw).split(",")
            if len(parts) != 4 or parts[2] not in ("0", "1") or parts[3] not in ("0", "1"):
                return None
            similarity = float(parts[0])
            score = float(parts[1]) if parts[1] else None
        except (TypeError, ValueError, UnicodeDecodeError):
            return None
        if not math.isfinite(similarity) or not -1.0 <= similarity <= 1.0:
            return None
        return cls(similarity, parts[3] == "1", score, parts[2] == "1")


def decode_all(raw: Any) -> list[Observation]:
    if not isinstance(raw, list):
        return []
    return [obs for obs in map(Observation.decode, raw) if obs is not None]


# -- the belief --------------------------------------------------------------------------


@dataclass(frozen=True)
class Belief:
    """A Gaussian belief over ``(a, b)`` of ``P(same | s) = sigmoid(a + b * x(s))``.

    Attributes:
        mean: Its mean, shape (2,).
        cov: Its covariance, shape (2, 2).
        observations: How many observations it was fitted on (its own level's).
    """

    mean: np.ndarray
    cov: np.ndarray
    observations: int = 0

    def logit(self, similarity: float) -> tuple[float, float]:
        """Mean and standard deviation of the logit of ``P(same)`` at ``similarity``."""
        x = np.array([1.0, feature(similarity)])
        variance = float(x @ self.cov @ x)
        return float(x @ self.mean), math.sqrt(max(variance, 0.0))

    def p_same(self, similarity: float) -> float:
        return _sigmoid(self.logit(similarity)[0])

    @property
    def boundary(self) -> float | None:
        """The similarity where ``P(same) = 0.5`` (``None`` if the belief does not
        rise with similarity)."""
        a, b = float(self.mean[0]), float(self.mean[1])
        if b <= 1e-9:
            return None
        return similarity_of(-a / b)

    def widened(self, factor: float = WIDEN) -> Belief:
        return Belief(self.mean, self.cov * factor, self.observations)


def prior() -> Belief:
    """The belief before any observation: boundary at similarity 1.0, broad."""
    return Belief(np.array(PRIOR_MEAN, dtype=float), np.diag(np.square(PRIOR_SD)).astype(float))


def fit(observations: Sequence[Observation], start: Belief, *, steps: int = 25) -> Belief:
    """The Laplace approximation of the posterior of ``start`` after ``observations``.

    Newton's method on the log-likelihood plus the Gaussian log-prior (the prior
    keeps the optimum finite when the observations are separable); the returned
    covariance is the inverse Hessian at the optimum.
    """
    if not observations:
        return start
    x = np.column_stack([np.ones(len(observations)), [feature(o.similarity) for o in observations]])
    y = np.array([1.0 if o.same else 0.0 for o in observations])
    prior_precision = np.linalg.inv(start.cov)

    def objective(theta: np.ndarray) -> float:
        z = x @ theta
        # log-likelihood of the labels (log sigmoid(z) = -log(1 + e^-z)) plus the log-prior.
        loglik = float(np.sum(y * -np.logaddexp(0.0, -z) + (1 - y) * -np.logaddexp(0.0, z)))
        offset = theta - start.mean
        return loglik - 0.5 * float(offset @ prior_precision @ offset)

    theta = start.mean.copy()
    value = objective(theta)
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ theta, -35.0, 35.0)))
        gradient = x.T @ (y - p) - prior_precision @ (theta - start.mean)
        hessian = (x.T * (p * (1.0 - p))) @ x + prior_precision
        step = np.linalg.solve(hessian, gradient)
        # Damped: halve the step until the objective rises (plain Newton can
        # overshoot far on nearly separable labels).
        for _ in range(30):
            candidate = theta + step
            candidate_value = objective(candidate)
            if candidate_value >= value - 1e-12:
                break
            step = step / 2.0
        else:
            break
        theta, value = candidate, candidate_value
        if float(np.max(np.abs(step))) < 1e-6:
            break
    p = 1.0 / (1.0 + np.exp(-np.clip(x @ theta, -35.0, 35.0)))
    weight = np.maximum(p * (1.0 - p), MIN_LABEL_WEIGHT)
    hessian = (x.T * weight) @ x + prior_precision
    return Belief(theta, np.linalg.inv(hessian), len(observations))


# -- the decision ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one candidate.

    Attributes:
        action: ``"serve"``, ``"miss"`` (next candidate) or ``"explore"`` (the
            lookup is a miss; a judge labels the pair in the background).
        lower: The lower bound of ``P(same)`` (what a serve is charged: ``1 - lower``).
        p_same: The belief's point estimate of ``P(same)``.
        level: The belief used: ``"entry"``, ``"partition"``, ``"global"`` or
            ``"prior"``.
        reason: Why a miss is a miss: ``"veto"``, ``"clear"`` (even the upper
            bound is below the bar), ``"uncertain"`` (not explored this time),
            ``"budget"`` (the account is spent) or ``"no_judge"``.
        audit: For a serve: also have the judge label the pair in the background.
    """

    action: Action
    lower: float
    p_same: float
    level: str
    reason: str | None = None
    audit: bool = False


def bounds(belief: Belief, similarity: float) -> tuple[float, float, float]:
    """Lower and upper bound of ``P(same)`` at ``similarity`` and the standard
    deviation of its logit."""
    mean, sd = belief.logit(similarity)
    return _sigmoid(mean - LOWER_Z * sd), _sigmoid(mean + UPPER_Z * sd), sd


def decide(
    belief: Belief,
    similarity: float,
    verdict: Verdict | None,
    *,
    bar: float,
    affordable: float,
    has_judge: bool,
    draw: float,
    level: str = "entry",
) -> Decision:
    """Serve, miss or explore a candidate at ``similarity``.

    Args:
        belief: The belief at the most specific level available.
        similarity: The candidate's cosine similarity.
        verdict: The verifier's verdict (``None`` without a verifier); a veto is a miss.
        bar: The lower bound of ``P(same)`` a served candidate must reach.
        affordable: The expected error the account can still spend on this lookup.
        has_judge: Whether explored candidates can be labelled.
        draw: A uniform random number in [0, 1) (given, so decisions replay).
        level: The name of ``belief``'s level, for the record.
    """
    lower, upper, sd = bounds(belief, similarity)
    p_same = belief.p_same(similarity)
    if verdict is not None and verdict.veto is not None:
        return Decision("miss", lower, p_same, level, "veto")
    if lower >= bar:
        if 1.0 - lower <= affordable:
            # A served pair is served again each time its question comes back:
            # auditing a share of serves catches the wrong ones the belief missed.
            audit = has_judge and draw < AUDIT_SERVED
            return Decision("serve", lower, p_same, level, audit=audit)
        return Decision("miss", lower, p_same, level, "budget")
    if not has_judge:
        return Decision("miss", lower, p_same, level, "no_judge")
    if upper < bar:
        if draw < EXPLORE_CLEAR_MISSES:
            return Decision("explore", lower, p_same, level)
        return Decision("miss", lower, p_same, level, "clear")
    if draw < min(1.0, EXPLORE_PER_SD * sd):
        return Decision("explore", lower, p_same, level)
    return Decision("miss", lower, p_same, level, "uncertain")


class Account:
    """The expected wrong answers served against ``delta`` per lookup.

    A served candidate costs ``1 - lower`` (its lower bound of ``P(same)``). The
    bar moves with the moving average of that cost: down (more hits) while
    lookups spend less than ``delta``, up while they spend more; and a serve is
    refused outright when the last :data:`HORIZON` lookups would spend more than
    ``delta`` each (plus :data:`SLACK`). This spends the budget on the best
    candidates instead of at random, and steadily rather than all at once.
    """

    def __init__(self, delta: float) -> None:
        self.delta = delta
        self.lookups = 0
        self.spent = 0.0
        self._average = delta
        self._bar_logit = math.log((1.0 - delta) / delta)
        self._lock = threading.Lock()

    @property
    def bar(self) -> float:
        return _sigmoid(self._bar_logit)

    def begin(self) -> None:
        """One more lookup decided by the budget."""
        with self._lock:
            self.lookups += 1
            self._average -= self._average / HORIZON
            step = BAR_GAIN * (self._average - self.delta) / self.delta
            low, high = math.log(BAR_MIN / (1 - BAR_MIN)), math.log(BAR_MAX / (1 - BAR_MAX))
            self._bar_logit = min(max(self._bar_logit + step, low), high)

    def affordable(self) -> float:
        """What a serve may cost now: the budget of the last :data:`HORIZON`
        lookups less what they spent (a quiet past does not pay for a burst of
        doubtful serves later), plus :data:`SLACK`."""
        with self._lock:
            return (self.delta - self._average) * HORIZON + SLACK

    def charge(self, cost: float) -> None:
        with self._lock:
            self.spent += cost
            self._average += cost / HORIZON


# -- where observations live -------------------------------------------------------------


class BudgetKeys:
    """Keys of the observation lists of one namespace and one embedder.

    ``<namespace>:sem:v1:obs:<model16>:`` then ``e:<entry64>`` (one entry),
    ``p:<partition>`` (one partition) or ``g`` (every observation of the
    embedder); ``<model16>`` is the digest of the embedder's identity, so one
    embedder's line is never another's.
    """

    def __init__(self, namespace: str, identity_key: str) -> None:
        self.namespace = namespace
        self.prefix = observation_prefix(namespace)
        self.model_prefix = f"{self.prefix}{scope_digest('embedder', identity_key)}:"

    def entry(self, exact_key: str) -> str:
        return f"{self.model_prefix}e:{entry_id(exact_key)}"

    def partition(self, partition: str) -> str:
        return f"{self.model_prefix}p:{partition}"

    @property
    def all(self) -> str:
        return f"{self.model_prefix}g"

    def patterns(self) -> tuple[str, ...]:
        """``SCAN MATCH`` patterns of every observation list of the namespace
        (any embedder)."""
        return tuple(observation_patterns(self.namespace).values())


def _push(key: str, value: str, keep: int, ttl_ms: int | None) -> tuple[Command, ...]:
    commands: tuple[Command, ...] = (("RPUSH", key, value), ("LTRIM", key, -keep, -1))
    if ttl_ms is not None and ttl_ms > 0:
        commands += (("PEXPIRE", key, ttl_ms),)
    return commands


# -- per-process counters and cached beliefs ----------------------------------------------


class BudgetStats:
    """What the budget decided and learned in this process, for ``stats()``."""

    def __init__(self, window: int = 1024) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self._judge_ms: deque[float] = deque(maxlen=window)
        self._expected_wrong = 0.0
        self._charged = 0.0
        self._boundaries: dict[str, float | None] = {}

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.counts[name] += amount

    def decided(self, decision: Decision) -> None:
        with self._lock:
            name: str = decision.action
            if decision.reason is not None:
                name = f"{name}_{decision.reason}"
            self.counts[name] += 1
            if decision.action == "serve":
                self._expected_wrong += 1.0 - decision.p_same
                self._charged += 1.0 - decision.lower

    def judged(self, milliseconds: float) -> None:
        with self._lock:
            self.counts["judge_calls"] += 1
            self._judge_ms.append(milliseconds)

    def boundary(self, partition: str, belief: Belief) -> None:
        with self._lock:
            if len(self._boundaries) < 64 or partition in self._boundaries:
                self._boundaries[partition] = belief.boundary

    def snapshot(self, delta: float, bar: float | None = None) -> dict[str, Any]:
        with self._lock:
            counts = dict(self.counts)
            judge_ms = sorted(self._judge_ms)
            expected = self._expected_wrong
            charged = self._charged
            boundaries = dict(self._boundaries)
        lookups = counts.get("lookups", 0)
        return {
            "delta": delta,
            "lookups": lookups,
            "served": counts.get("serve", 0),
            "explored": counts.get("explore", 0),
            "missed": {
                reason: counts.get(f"miss_{reason}", 0)
                for reason in ("veto", "clear", "uncertain", "budget", "no_judge")
            },
            "bar": bar,
            "judge_calls": counts.get("judge_calls", 0),
            "judge_errors": counts.get("judge_errors", 0),
            "judge_timeouts": counts.get("judge_timeouts", 0),
            "judge_dropped": counts.get("judge_dropped", 0),
            "judge_said_same": counts.get("judge_same", 0),
            # With judge_inline: explored candidates served because the judge said same.
            "judged_inline_served": counts.get("judged_inline_served", 0),
            "observations": counts.get("observations", 0),
            "labels": counts.get("labels", 0),
            "judge_ms_p50": judge_ms[len(judge_ms) // 2] if judge_ms else None,
            # Σ (1 - P(same)) over what was served, per lookup decided by the budget.
            "estimated_wrong_hit_rate": expected / lookups if lookups else None,
            # Σ (1 - lower bound of P(same)): what the account charged, per lookup.
            "charged_wrong_hit_rate": charged / lookups if lookups else None,
            "boundary_by_partition": boundaries,
        }


class Beliefs:
    """Beliefs of the global and partition levels, read from Redis at most every
    :data:`REFRESH_S` seconds per level (and updated at once with what this
    process records)."""

    def __init__(self, keys: BudgetKeys, *, refresh_s: float = REFRESH_S) -> None:
        self.keys = keys
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        # key -> (read at, observations)
        self._lists: dict[str, tuple[float, list[Observation]]] = {}
        self._fits: dict[tuple[str, ...], Belief] = {}

    def stale(self, partition: str) -> list[str]:
        """The level keys whose observations should be read again."""
        now = time.monotonic()
        with self._lock:
            return [
                key
                for key in (self.keys.all, self.keys.partition(partition))
                if key not in self._lists or now - self._lists[key][0] > self._refresh_s
            ]

    def store(self, key: str, observations: list[Observation]) -> None:
        with self._lock:
            self._lists[key] = (time.monotonic(), observations)
            if len(self._lists) > 4096:  # bound the memory: forget the oldest half
                for old in sorted(self._lists, key=lambda k: self._lists[k][0])[:2048]:
                    del self._lists[old]
            self._fits = {k: v for k, v in self._fits.items() if key not in k}

    def add(self, partition: str, observation: Observation) -> None:
        for key, keep in (
            (self.keys.all, GLOBAL_OBSERVATIONS),
            (self.keys.partition(partition), PARTITION_OBSERVATIONS),
        ):
            with self._lock:
                read_at, current = self._lists.get(key, (0.0, []))
            self.store(key, [*current, observation][-keep:])
            if read_at == 0.0:  # never read: let the next lookup read what others wrote
                with self._lock:
                    self._lists[key] = (-math.inf, self._lists[key][1])

    def _observations(self, key: str) -> list[Observation]:
        with self._lock:
            return self._lists.get(key, (0.0, []))[1]

    def partition_belief(self, partition: str) -> Belief:
        """The partition's belief (from the embedder's, widened)."""
        global_key, partition_key = self.keys.all, self.keys.partition(partition)
        with self._lock:
            cached = self._fits.get((global_key, partition_key))
        if cached is not None:
            return cached
        with self._lock:
            global_fit = self._fits.get((global_key,))
        if global_fit is None:
            global_fit = fit(self._observations(global_key), prior())
        part_fit = fit(self._observations(partition_key), global_fit.widened())
        if part_fit.observations == 0:
            part_fit = global_fit
        with self._lock:
            self._fits[(global_key,)] = global_fit
            self._fits[(global_key, partition_key)] = part_fit
            if len(self._fits) > 4096:
                self._fits.clear()
        return part_fit

    def global_observations(self) -> int:
        return len(self._observations(self.keys.all))


def level_name(entry: Belief, partition: Belief, global_count: int) -> str:
    if entry.observations:
        return "entry"
    if partition.observations:
        return "partition"
    return "global" if global_count else "prior"


class ErrorBudget:
    """The error budget of one semantic tier: its beliefs, decisions and the Redis
    work that stores observations (operations, like the rest of the tier)."""

    def __init__(
        self,
        *,
        delta: float,
        namespace: str,
        identity_key: str,
        has_judge: bool,
        seed: int | None = None,
    ) -> None:
        self.delta = delta
        self.has_judge = has_judge
        self.keys = BudgetKeys(namespace, identity_key)
        self.beliefs = Beliefs(self.keys)
        self.stats = BudgetStats()
        self.account = Account(delta)
        self._random = random.Random(seed)
        self._random_lock = threading.Lock()

    def draw(self) -> float:
        with self._random_lock:
            return self._random.random()

    def begin(self) -> None:
        """A lookup the budget decides (with or without candidates)."""
        self.account.begin()
        self.stats.count("lookups")

    def read(
        self, partition: str, exact_keys: Iterable[str]
    ) -> RedisOperation[tuple[Belief, list[Belief]]]:
        """The partition's belief and each candidate entry's: one round trip reading
        the entries' observations (and the partition's and embedder's, when stale)."""
        exact_keys = list(exact_keys)
        stale = self.beliefs.stale(partition)
        commands: tuple[Command, ...] = tuple(
            ("LRANGE", key, 0, -1) for key in [*stale, *map(self.keys.entry, exact_keys)]
        )
        replies: list[Any] = []
        if commands:
            replies = yield Pipeline(commands)
        for key, reply in zip(stale, replies, strict=False):
            if not isinstance(reply, Exception):
                self.beliefs.store(key, decode_all(reply))
        partition_belief = self.beliefs.partition_belief(partition)
        self.stats.boundary(partition, partition_belief)
        start = partition_belief.widened()
        out: list[Belief] = []
        for reply in replies[len(stale) :]:
            entry_obs = [] if isinstance(reply, Exception) else decode_all(reply)
            out.append(fit(entry_obs, start) if entry_obs else partition_belief)
        return partition_belief, out

    def decide(
        self, belief: Belief, similarity: float, verdict: Verdict | None, partition_belief: Belief
    ) -> Decision:
        level = level_name(belief, partition_belief, self.beliefs.global_observations())
        decision = decide(
            belief,
            similarity,
            verdict,
            bar=self.account.bar,
            affordable=self.account.affordable(),
            has_judge=self.has_judge,
            draw=self.draw(),
            level=level,
        )
        if decision.action == "serve":
            self.account.charge(1.0 - decision.lower)
        self.stats.decided(decision)
        return decision

    def record(
        self,
        exact_key: str,
        partition: str,
        observation: Observation,
        *,
        level_ttl_ms: int | None,
    ) -> RedisOperation[None]:
        """Store ``observation`` beside the entry (with the entry's remaining TTL;
        not at all when the entry is gone), for its partition and its embedder."""
        remaining = yield Pipeline((("PTTL", exact_key),))
        ttl_ms = remaining[0] if isinstance(remaining[0], int) else -2
        value = observation.encode()
        commands: tuple[Command, ...] = ()
        if ttl_ms != -2:
            commands += _push(
                self.keys.entry(exact_key),
                value,
                ENTRY_OBSERVATIONS,
                ttl_ms if ttl_ms > 0 else None,
            )
        commands += _push(
            self.keys.partition(partition), value, PARTITION_OBSERVATIONS, level_ttl_ms
        )
        commands += _push(self.keys.all, value, GLOBAL_OBSERVATIONS, None)
        replies = yield Pipeline(commands)
        for reply in replies:
            raise_if_error(reply)
        self.beliefs.add(partition, observation)
        self.stats.count("observations")

    def clear(self) -> RedisOperation[int]:
        removed = 0
        for pattern in self.keys.patterns():
            removed += yield from scan_each(pattern, unlink_batch)
        return removed

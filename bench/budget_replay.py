"""Replay streams of questions through the error budget and compare it with static rules.

Streams come from labelled pair sets (``--data``, TEST split, the vectors cached
by ``bench/verifier/common.py``): union-find over the positive pairs gives
paraphrase clusters, the negative pairs stay as near-misses in other clusters,
and each lookup asks a random member of a cluster drawn with Zipf popularity.
A lookup whose text is stored is an exact hit (left out of the rates); any other
lookup searches the stored questions (one partition, nearest 4 at or above the
gate), and a served answer is wrong when its question is in another cluster. A
miss stores the question (the LLM answered it).

Policies, each on the same stream:

- ``budget``: the error budget of ``redis_llm_cache.core.semantic.budget`` --
  the same ``ErrorBudget.read`` / ``record`` operations the cache runs, driven
  with the sync driver against a **real Redis** (a private ``redis-server``) --
  with a judge simulated from the labels that errs on a given share of calls
  (its label is recorded at once, as if the background judge were instant);
- ``defaults``: today's defaults (calibrated threshold 0.96 and the shipped
  ``PairVerifier``);
- ``static``: the nearest candidate at or above one threshold; the threshold is
  chosen per set *with hindsight*: the most hits at a realized wrong-hit rate no
  higher than the budget's, and the most at one no higher than ``delta``;
- ``always-judge``: every candidate above the gate is judged inline.

Run: ``python bench/budget_replay.py --data <dir> [--lookups 10000] [--json out.json]``.
``hit``, ``wrong`` and ``prec`` are per semantic lookup (lookups that were not
exact hits); judge calls and LLM calls (misses) are per 100 lookups of any kind.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).parent / "verifier"))
from common import embedded
from redis_llm_cache.core.drivers import run_sync
from redis_llm_cache.core.ops import Call, Pipeline
from redis_llm_cache.core.semantic.budget import (
    DEFAULT_GATE,
    ErrorBudget,
    Observation,
)
from redis_llm_cache.core.semantic.verify import CandidatePair, PairVerifier
from redis_llm_cache.redis.embedded import EmbeddedRedis

SETS = ("lcqmc_test_zh", "bq_test_zh", "oppo_xiaobu_dev_zh", "afqmc_dev_zh")
PARTITION = "0" * 32
CANDIDATES = 4
WINDOW = 1000


@dataclass
class Stream:
    texts: list[str]
    vectors: np.ndarray
    cluster: list[int]
    lookups: list[int]  # indexes into texts


def build_stream(path: Path, lookups: int, seed: int, pairs: int) -> Stream:
    rows, va, vb = embedded(path, "test", pairs)
    index: dict[str, int] = {}
    texts: list[str] = []
    vectors: list[np.ndarray] = []
    for row, a, b in zip(rows, va, vb, strict=True):
        for t, v in ((row["a"], a), (row["b"], b)):
            if t not in index:
                index[t] = len(texts)
                texts.append(t)
                vectors.append(v / np.linalg.norm(v))
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for row in rows:
        if int(row["label"]) == 1:
            parent[root(index[row["a"]])] = root(index[row["b"]])
    cluster = [root(i) for i in range(len(texts))]
    members: dict[int, list[int]] = {}
    for i, c in enumerate(cluster):
        members.setdefault(c, []).append(i)
    rng = random.Random(seed)
    order = list(members)
    rng.shuffle(order)
    weights = [1.0 / (rank + 1) for rank in range(len(order))]
    chosen = rng.choices(order, weights=weights, k=lookups)
    return Stream(
        texts,
        np.array(vectors, dtype=np.float32),
        cluster,
        [rng.choice(members[c]) for c in chosen],
    )


@dataclass
class Tally:
    lookups: int = 0
    semantic: int = 0
    hits: int = 0
    wrong: int = 0
    judge_calls: int = 0
    llm_calls: int = 0
    windows: list[dict[str, float]] = field(default_factory=list)
    _w: list[int] = field(default_factory=lambda: [0, 0, 0, 0])

    def add(self, *, exact: bool, hit: bool, wrong: bool, judged: int) -> None:
        self.lookups += 1
        self.judge_calls += judged
        self.llm_calls += not hit
        self._w[3] += judged
        if not exact:
            self.semantic += 1
            self.hits += hit
            self.wrong += wrong
            self._w[0] += 1
            self._w[1] += hit
            self._w[2] += wrong
        if self.lookups % WINDOW == 0:
            n = max(self._w[0], 1)
            self.windows.append(
                {
                    "lookups": self.lookups,
                    "hit_rate": self._w[1] / n,
                    "wrong_rate": self._w[2] / n,
                    "judge_per_100": 100 * self._w[3] / WINDOW,
                }
            )
            self._w = [0, 0, 0, 0]

    def summary(self) -> dict[str, Any]:
        n = max(self.semantic, 1)
        after = [w["judge_per_100"] for w in self.windows if w["lookups"] > 2000]
        return {
            "semantic_lookups": self.semantic,
            "hit_rate": self.hits / n,
            "wrong_rate": self.wrong / n,
            "precision": (self.hits - self.wrong) / self.hits if self.hits else None,
            "judge_per_100": 100 * self.judge_calls / max(self.lookups, 1),
            # Over every lookup (exact hits included): what the app pays and gets wrong.
            "llm_calls_per_100": 100 * self.llm_calls / max(self.lookups, 1),
            "wrong_per_100_lookups": 100 * self.wrong / max(self.lookups, 1),
            "judge_per_100_after_2000": float(np.mean(after)) if after else None,
            "windows": self.windows,
        }


Decide = Callable[[int, list[tuple[int, float]]], tuple[int | None, int]]


def replay(stream: Stream, gate: float, choose: Decide) -> Tally:
    """Run the stream; ``choose(query, candidates)`` -> (served index or None, judge calls)."""
    stored: list[int] = []
    stored_set: set[int] = set()
    matrix = np.zeros((0, stream.vectors.shape[1]), dtype=np.float32)
    tally = Tally()
    for q in stream.lookups:
        if q in stored_set:
            tally.add(exact=True, hit=True, wrong=False, judged=0)
            continue
        candidates: list[tuple[int, float]] = []
        if stored:
            sims = matrix @ stream.vectors[q]
            top = np.argsort(-sims)[:CANDIDATES]
            candidates = [(stored[i], float(sims[i])) for i in top if sims[i] >= gate]
        served, judged = choose(q, candidates)
        wrong = served is not None and stream.cluster[served] != stream.cluster[q]
        tally.add(exact=False, hit=served is not None, wrong=wrong, judged=judged)
        if served is None:
            stored.append(q)
            stored_set.add(q)
            matrix = np.vstack([matrix, stream.vectors[q][None, :]])
    return tally


def redis_executor(client: redis.Redis) -> Callable[[Any], Any]:
    def execute(step: Any) -> Any:
        if isinstance(step, Call):
            return client.execute_command(*step.command)
        if isinstance(step, Pipeline):
            pipe = client.pipeline(transaction=False)
            for command in step.commands:
                pipe.execute_command(*command)
            return pipe.execute(raise_on_error=False)
        raise TypeError(step)

    return execute


def budget_policy(
    stream: Stream,
    client: redis.Redis,
    delta: float,
    judge_error: float,
    seed: int,
    name: str,
    *,
    inline: bool = False,
) -> tuple[Decide, ErrorBudget]:
    budget = ErrorBudget(
        delta=delta, namespace=f"bench:{name}:{delta}:{judge_error}", identity_key=name,
        has_judge=True, seed=seed,
    )  # fmt: skip
    execute = redis_executor(client)
    verifier = PairVerifier()
    judge_rng = random.Random(seed + 1)

    def key(i: int) -> str:
        return f"e:{i:064x}"  # any exact key shape: entry_id hashes it

    def choose(q: int, candidates: list[tuple[int, float]]) -> tuple[int | None, int]:
        budget.begin()
        if not candidates:
            return None, 0
        part, beliefs = run_sync(budget.read(PARTITION, [key(c) for c, _ in candidates]), execute)
        for (c, sim), belief in zip(candidates, beliefs, strict=True):
            pair = CandidatePair(stream.texts[q], stream.texts[c], sim, stream.vectors[q])
            verdict = verifier.verify(pair)
            decision = budget.decide(belief, sim, verdict, part)
            if decision.action == "miss":
                continue
            if decision.action == "serve" and not decision.audit:
                return c, 0
            truth = stream.cluster[c] == stream.cluster[q]
            said = truth if judge_rng.random() >= judge_error else not truth
            obs = Observation(sim, said, verdict.score, verdict.veto is not None)
            run_sync(budget.record(key(c), PARTITION, obs, level_ttl_ms=None), execute)
            # judge_inline: what the judge calls the same is served at once.
            served = decision.action == "serve" or (inline and said)
            return (c if served else None), 1
        return None, 0

    return choose, budget


def defaults_policy(stream: Stream) -> Decide:
    verifier = PairVerifier()

    def choose(q: int, candidates: list[tuple[int, float]]) -> tuple[int | None, int]:
        for c, sim in candidates:
            pair = CandidatePair(stream.texts[q], stream.texts[c], sim, stream.vectors[q])
            if verifier.verify(pair).accept:
                return c, 0
        return None, 0

    return choose


def nearest_policy(threshold: float) -> Decide:
    def choose(q: int, candidates: list[tuple[int, float]]) -> tuple[int | None, int]:
        if candidates and candidates[0][1] >= threshold:
            return candidates[0][0], 0
        return None, 0

    return choose


def always_judge_policy(stream: Stream, judge_error: float, seed: int) -> Decide:
    rng = random.Random(seed + 2)

    def choose(q: int, candidates: list[tuple[int, float]]) -> tuple[int | None, int]:
        calls = 0
        for c, _ in candidates:
            calls += 1
            truth = stream.cluster[c] == stream.cluster[q]
            if truth if rng.random() >= judge_error else not truth:
                return c, calls
        return None, calls

    return choose


ROW = "{:<30} {:>8} {:>8} {:>8} {:>10} {:>12} {:>9}"


def show(label: str, s: dict[str, Any]) -> None:
    prec = "-" if s["precision"] is None else f"{s['precision']:.3f}"
    late = s["judge_per_100_after_2000"]
    late_text = "-" if late is None else f"{late:.1f}"
    cells = (f"{s['hit_rate']:.3f}", f"{s['wrong_rate']:.4f}", prec, f"{s['judge_per_100']:.1f}")
    print(ROW.format(label, *cells, late_text, f"{s['llm_calls_per_100']:.1f}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--lookups", type=int, default=10000)
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--deltas", nargs="+", type=float, default=[0.01, 0.02, 0.05])
    parser.add_argument("--judge-errors", nargs="+", type=float, default=[0.0, 0.05, 0.10])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--inline", action="store_true", help="judge_inline=True: serve what the judge calls same"
    )
    args = parser.parse_args()

    results: list[dict[str, Any]] = []
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        for name in args.sets:
            stream = build_stream(args.data / f"{name}.jsonl", args.lookups, args.seed, args.pairs)
            defaults = replay(stream, 0.96, defaults_policy(stream)).summary()
            statics = {
                t: replay(stream, t, nearest_policy(t)).summary()
                for t in np.round(np.arange(0.86, 1.0001, 0.005), 3)
            }
            print(f"\n{name}: {len(stream.texts)} texts, {len(set(stream.cluster))} clusters")
            head = ("policy", "hit", "wrong", "prec", "judge/100", "judge/100>2k", "llm/100")
            print(ROW.format(*head))

            show("defaults (0.96 + verifier)", defaults)
            for judge_error in args.judge_errors:
                always = replay(stream, DEFAULT_GATE, always_judge_policy(stream, judge_error, 1))
                show(f"always-judge err={judge_error:.2f}", always.summary())
                for delta in args.deltas:
                    choose, budget = budget_policy(
                        stream, client, delta, judge_error, args.seed, name, inline=args.inline
                    )
                    summary = replay(stream, DEFAULT_GATE, choose).summary()
                    allowed = max(summary["wrong_rate"], 1e-9)
                    best_t, best = max(
                        ((t, s) for t, s in statics.items() if s["wrong_rate"] <= allowed),
                        key=lambda item: item[1]["hit_rate"],
                        default=(None, None),
                    )
                    show(f"budget d={delta:.2f} err={judge_error:.2f}", summary)
                    if best is not None:
                        show(f"  static t={best_t} (hindsight)", best)
                    delta_t, at_delta = max(
                        ((t, s) for t, s in statics.items() if s["wrong_rate"] <= delta),
                        key=lambda item: item[1]["hit_rate"],
                    )
                    show(f"  static t={delta_t} (<= d, hindsight)", at_delta)
                    boundary = budget.stats.snapshot(delta)["boundary_by_partition"]
                    results.append(
                        {
                            "set": name,
                            "delta": delta,
                            "judge_error": judge_error,
                            "budget": summary,
                            "static_threshold": best_t,
                            "static": best,
                            "static_threshold_at_delta": delta_t,
                            "static_at_delta": at_delta,
                            "always_judge": always.summary(),
                            "defaults": defaults,
                            "boundary": boundary.get(PARTITION),
                        }
                    )
            client.flushall()
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

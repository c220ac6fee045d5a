"""``calibrate``: a similarity threshold chosen from labelled pairs."""

from __future__ import annotations

import argparse

from ..output import CommandError, emit
from .warm import make_embedder


def cmd_calibrate(args: argparse.Namespace) -> int:
    from ...core.semantic.calibration import (
        DEFAULT_GRID,
        calibrate,
        format_table,
        load_pairs,
        pair_similarities,
    )

    try:
        pairs = load_pairs(args.pairs)
    except (OSError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    embedder = make_embedder(args.embedder)
    similarities = pair_similarities(embedder, pairs)
    grid = [float(t) for t in args.grid.split(",")] if args.grid else DEFAULT_GRID
    try:
        result = calibrate(
            similarities, [p.label for p in pairs], target_wrong_hit_rate=args.target, grid=grid
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    data = {
        "embedder": embedder.identity.canonical(),
        "threshold": result.threshold,
        "target_wrong_hit_rate": result.target_wrong_hit_rate,
        "paraphrase_pairs": result.positives,
        "near_miss_pairs": result.negatives,
        "rows": [
            {
                "threshold": r.threshold,
                "hits": r.hits,
                "precision": r.precision,
                "recall": r.recall,
                "wrong_hit_rate": r.wrong_hit_rate,
            }
            for r in result.rows
        ],
    }
    emit(args, data, lambda _: f"embedder: {data['embedder']}\n{format_table(result)}")
    return 0 if result.threshold is not None else 1

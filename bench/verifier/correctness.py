"""Semantic-hit correctness with the verifier: wrong-hit rate and paraphrase hit rate.

What is compared, per labelled set (``{"a", "b", "label"}`` per line; label 1 =
paraphrase, a hit would be right; label 0 = near-miss, a hit would be a wrong
answer), on the same embeddings (bundled model, ``query`` role on both sides):

* **default**: the semantic tier's DEFAULT decision -- the cosine gate at the
  model's calibrated threshold, then the shipped ``PairVerifier`` at its shipped
  decision threshold (nothing tuned by this script);
* **best single cosine threshold at the same wrong-hit rate**: the highest
  paraphrase hit rate any one cosine threshold reaches with a wrong-hit rate no
  higher than the default's on the same pairs; the ratio of the two is the gain;
* the peers' defaults for contrast: RedisVL (similarity 0.90), langchain-redis (0.80),
  and our cosine gate alone.

Splits (deterministic, by hashing each pair: ``sha256(set name, a, b)``):

* ``pawsx_zh``: hash < 0.5 is the FIT half (the shipped weights are fit on it and on
  generated pairs, see ``bench/verifier/fit.py``); the other half is TEST.
* every other set: hash < 0.25 is DEV, the rest TEST. The DEV pairs are only read
  with ``--split dev`` (a look at the decision threshold before shipping it); no
  shipped number is fit on any set but PAWS-X FIT and the generated pairs. TEST is
  what the tables report; ``--pairs N`` takes the first N TEST pairs of each file
  (file order), ``--dev-pairs`` the first N DEV pairs.

Embeddings are cached on disk outside the repository
(``~/.cache/redis-llm-cache-bench/``, one ``.npz`` per set and split) because the
bundled model takes tens of minutes for all texts on a small machine.

Run: ``.venv/bin/python bench/verifier/correctness.py --data <dir>`` (one command:
embeds what is not cached, then prints the tables). ``--embed-only`` fills the cache.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import MEAN_SETS, PAWSX, embedded, set_files
from report import per_domain, report


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=500, help="TEST pairs per set")
    parser.add_argument("--dev-pairs", type=int, default=250, help="DEV pairs per set")
    parser.add_argument("--split", choices=("test", "dev"), default="test")
    parser.add_argument("--embed-only", action="store_true")
    parser.add_argument(
        "--safe-wrong",
        type=float,
        default=0.05,
        help="wrong-hit bar of the 'one static threshold safe on every set' baseline",
    )
    parser.add_argument(
        "--per-domain",
        type=float,
        metavar="TARGET",
        help="also calibrate per set on its DEV pairs (--dev-pairs) to this wrong-hit rate, "
        "cosine alone vs the verifier's threshold, and report both on TEST",
    )
    args = parser.parse_args()
    files = set_files(args.data)
    if args.embed_only:
        embedded(args.data / f"{PAWSX}.jsonl", "fit", None)
        # The sets of the reported mean first (embedding is the slow part).
        for path in sorted(files, key=lambda p: p.stem not in MEAN_SETS):
            embedded(path, args.split, args.pairs if args.split == "test" else args.dev_pairs)
        return 0
    code = report(files, args, embedded)
    if args.per_domain is not None:
        per_domain(files, args, embedded)
    return code


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Proves one end of the dependency ranges pyproject.toml declares, in a fresh venv:
#   newest  -- the newest versions the ranges allow today (a fresh resolution, no lock)
#   oldest  -- every direct dependency at the oldest version its range allows
# and runs the core suites there. On failure it names the packages the failing tests ran
# through, with their installed and locked versions (.ci/versions.py blame).
# Needs .venv/bin/uv (made by `make test`).
set -euo pipefail
mode=${1:?usage: range_check.sh newest|oldest}
cd "$(dirname "$0")/.."

UV=.venv/bin/uv
LOCK=requirements/dev.lock
# Every runtime extra a user can install, plus the test tools.
EXTRAS=(langchain llama-index server local hiredis ollama openai metrics test)
# The core suites: exact and semantic tiers on both single-server Redis kinds, the
# embedding caches of both frameworks, the codecs, fail-open and the embedders. (The full
# suite, cluster included, runs at the locked versions.)
SUITES=(
    tests/contract/test_exact_contract.py
    tests/unit/test_codec.py
    tests/unit/test_keys.py
    tests/resilience/test_fail_open.py
    tests/contract/test_semantic_cache.py
    tests/contract/test_embedding_store.py
    tests/adapters/langchain/test_langchain_cached_embeddings.py
    tests/adapters/llama_index/test_llama_index_cached_embedding.py
    tests/adapters/embedders/test_ollama_embedder.py
    tests/adapters/langchain/test_langchain_standard.py
)
# The Redis Cluster kind is left to the full suite: these checks are about versions.
DESELECT=(-k "not cluster")

case $mode in
    newest) resolution=(--upgrade) ;;
    oldest) resolution=(--resolution lowest-direct) ;;
    *) echo "unknown mode $mode" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
extra_args=()
for extra in "${EXTRAS[@]}"; do extra_args+=(--extra "$extra"); done

echo "== $mode versions: resolving"
"$UV" pip compile -q pyproject.toml "${extra_args[@]}" "${resolution[@]}" \
    --python .venv/bin/python --no-header -o "$work/requirements.txt"
"$UV" venv -q --python .venv/bin/python "$work/venv"
"$UV" pip install -q --python "$work/venv/bin/python" -r "$work/requirements.txt"
"$UV" pip install -q --python "$work/venv/bin/python" --no-deps .
py="$work/venv/bin/python"

if [ "$mode" = oldest ]; then
    echo "== oldest versions: every direct dependency at its declared floor"
    "$py" .ci/versions.py floors "${EXTRAS[@]}"
fi
echo "== $mode versions: what differs from $LOCK"
"$py" .ci/versions.py drift "$LOCK"

echo "== $mode versions: core suites"
if ! timeout 600 "$py" -m pytest -q -p no:cacheprovider --junitxml="$work/junit.xml" "${DESELECT[@]}" "${SUITES[@]}"; then
    echo "== $mode versions: FAILED. The failing tests ran through:"
    [ -f "$work/junit.xml" ] && "$py" .ci/versions.py blame "$LOCK" "$work/junit.xml"
    exit 1
fi

# Sourced by bench.sh and smoke.sh: the build and install tree to use, as
# for the integration tests (CARDEA_BUILD, default _build in the repository;
# CARDEA_PREFIX, default that build's prefix).
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH_DIR/../.." && pwd)"
export CARDEA_BUILD="${CARDEA_BUILD:-$REPO/_build}"
if [ -z "${CARDEA_PREFIX:-}" ] && [ -f "$CARDEA_BUILD/Makefile" ]; then
	CARDEA_PREFIX=$(sed -n 's/^prefix = //p' "$CARDEA_BUILD/Makefile")
	export CARDEA_PREFIX
fi

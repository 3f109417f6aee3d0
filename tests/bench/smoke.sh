#!/usr/bin/env bash
# The CI part of the benchmark (TAP on stdout): cardea-load with a few peers
# for a few seconds against Cardea's videoroom, asserting that every
# subscriber receives every stream with no loss and no SRTP error (also through
# the broadcast plugin, scenario d's Cardea side); then once
# against Debian's Janus 1.1.2, which checks the tool itself against the
# reference. Nothing here asserts timings.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/env.sh"
echo "1..5"
if make -s -C "$CARDEA_BUILD/tests/bench" cardea-load >&2; then
	echo "ok 1 - cardea-load builds"
else
	echo "not ok 1 - cardea-load builds"
fi
n=2
while read -r target shape; do
	out=$(/usr/bin/python3 "$HERE/bench.py" --smoke "$target" $shape --duration 3 --warmup 1 --threads 2 --video-kbps 300 --video-pps 30 --fps 15 2>&1)
	if [ $? -eq 0 ]; then
		echo "ok $n - $target: $shape: every stream at every subscriber, no loss"
	else
		echo "not ok $n - $target: $shape"
		printf '%s\n' "$out" | tail -n 30 | sed 's/^/# /'
	fi
	n=$((n + 1))
done <<'CASES'
cardea --publishers 1 --subscribers 3
cardea --rooms 2 --publishers 3 --subscribers 1 --mesh
cardea --plugin cardea.plugin.broadcast --publishers 1 --subscribers 3
janus --publishers 1 --subscribers 3
CASES

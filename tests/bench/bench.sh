#!/usr/bin/env bash
# tests/bench/bench.sh SCENARIO [N] [SECONDS]
# Runs one scenario (a, b, c, d, or all) against Debian's Janus and against
# Cardea, alternating, and prints a table of absolute figures then one line
#   cardea/janus cpu_per_pkt=R rss_per_sub=R max_subs=R p99_delay=R join=R
# Needs a configured and installed build: CARDEA_BUILD (default _build in the
# repository) and CARDEA_PREFIX (default: that build's prefix). See README.md.
set -eu
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/env.sh"
make -s -C "$CARDEA_BUILD/tests/bench" cardea-load >/dev/null
exec /usr/bin/python3 "$HERE/bench.py" "$@"

#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ./configure --enable-fuzzing) in their
# own build folder and runs each one: first every file of its seed corpus
# (tests/fuzz/corpus/<target>/, crash regressions included), then RUNS fuzzing
# iterations from that corpus. Prints TAP, one result per target, and a last
# line "N passed, N failed".
#
#   tests/fuzz/run.sh [RUNS] [TARGET...]     # RUNS default 20000; all targets
#
# Environment:
#   CARDEA_FUZZ_BUILD  build folder (default: _build-fuzz in the repository)
#   CARDEA_FUZZ_TIME   seconds cap per target (default 60; 0 = none)
#   CARDEA_FUZZ_SEED   libFuzzer -seed (default: 1, so runs are repeatable)
# New inputs found go to a scratch folder, never into the committed corpus;
# crashing inputs land in logs/fuzz/ (keep them as corpus regressions once
# fixed). A long run by hand, e.g. 10 million executions of the SDP target:
#   _build-fuzz/tests/fuzz/fuzz_sdp -runs=10000000 /tmp/sdp-work tests/fuzz/corpus/sdp
set -u

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${CARDEA_FUZZ_BUILD:-$REPO/_build-fuzz}"
LOGS="$REPO/logs/fuzz"
RUNS="${1:-20000}"
shift $(( $# > 0 ? 1 : 0 ))
TARGETS="${*:-sdp rtp rtcp api jcfg svc whip}"
TIME="${CARDEA_FUZZ_TIME:-60}"
# fuzz_whip's live resource is made from a real Chromium offer: the shared
# fixtures beside the repository (as CI has them).
export CARDEA_FUZZ_OFFER="${CARDEA_FUZZ_OFFER:-$REPO/../shared/fixtures/sdp/chromium-offer-audio-video.sdp}"
SEED="${CARDEA_FUZZ_SEED:-1}"

mkdir -p "$LOGS"
n=0 pass=0 fail=0
set -- $TARGETS
echo "1..$#"

finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
	exit $?
}

# Build (or refresh) the fuzzing flavour: only what the targets use (the
# core, the echotest, broadcast and test plugins, the HTTP transport). A
# failure fails every target.
build_log="$LOGS/build.log"
if ! command -v clang >/dev/null 2>&1; then
	echo "clang not found: apt-get install -y clang libclang-rt-14-dev (scripts/setup.sh --test does)" >"$build_log"
fi
if command -v clang >/dev/null 2>&1 && {
	{ [ -x "$REPO/configure" ] || (cd "$REPO" && ./autogen.sh); } &&
	mkdir -p "$BUILD" &&
	{ [ -f "$BUILD/Makefile" ] && grep -q -- '--enable-fuzzing' "$BUILD/config.status" 2>/dev/null ||
		(cd "$BUILD" && CC=clang "$REPO/configure" --enable-fuzzing --prefix="$BUILD/inst"); } &&
	make -C "$BUILD/core" -j"$(nproc)" libcardeacore.la &&
	make -C "$BUILD/plugins" -j"$(nproc)" cardea_plugin_echotest.la cardea_plugin_broadcast.la &&
	make -C "$BUILD/transports/http" -j"$(nproc)" cardea_transport_http.la &&
	make -C "$BUILD/tests/plugins" -j"$(nproc)" cardea_plugin_test.la &&
	make -C "$BUILD/tests/fuzz" -j"$(nproc)"; } >"$build_log" 2>&1; then
	:
else
	for t in $TARGETS; do
		n=$((n + 1)) fail=$((fail + 1))
		echo "not ok $n - $t: the fuzzing build failed (see ${build_log#"$REPO"/})"
	done
	tail -n 20 "$build_log" | sed 's/^/# /'
	finish
fi

export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export LSAN_OPTIONS="suppressions=$REPO/tests/fuzz/lsan.supp:print_suppressions=0"
# GLib's g_slice blocks (list nodes, queues, arrays) go through malloc, so
# ASan sees each one instead of GLib's per-thread caches.
export G_SLICE=always-malloc

for t in $TARGETS; do
	n=$((n + 1))
	bin="$BUILD/tests/fuzz/fuzz_$t" corpus="$REPO/tests/fuzz/corpus/$t" log="$LOGS/$t.log"
	work=$(mktemp -d "${TMPDIR:-/tmp}/cardea-fuzz-$t.XXXXXX")
	if [ ! -x "$bin" ] || [ ! -d "$corpus" ]; then
		fail=$((fail + 1))
		echo "not ok $n - $t: no $bin or no $corpus"
		rm -rf "$work"
		continue
	fi
	files=$(find "$corpus" -type f | wc -l)
	# Every corpus file on its own first: a regression shows by name.
	if ! "$bin" -artifact_prefix="$LOGS/$t-" $(find "$corpus" -type f | sort) >"$log" 2>&1; then
		fail=$((fail + 1))
		echo "not ok $n - $t: a corpus file fails (log: ${log#"$REPO"/})"
		grep -E 'Running:|ERROR|SUMMARY|runtime error' "$log" | tail -n 5 | sed 's/^/# /'
		rm -rf "$work"
		continue
	fi
	runs=$RUNS
	# whip: each input is a TCP exchange with the HTTP transport, a POST a
	# whole PeerConnection set-up (a few hundred inputs/s): fewer runs.
	[ "$t" = whip ] && [ "$runs" -gt 500 ] && runs=500
	opts=(-runs="$runs" -seed="$SEED" -print_final_stats=1 -artifact_prefix="$LOGS/$t-")
	[ "$TIME" -gt 0 ] && opts+=(-max_total_time="$TIME")
	if "$bin" "${opts[@]}" "$work" "$corpus" >>"$log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
		cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
		pass=$((pass + 1))
		echo "ok $n - $t: $files corpus files, ${execs:-?} executions (${rate:-?}/s, $cov)"
	else
		fail=$((fail + 1))
		echo "not ok $n - $t: the fuzzer found a failure (log: ${log#"$REPO"/})"
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | tail -n 5 | sed 's/^/# /'
	fi
	rm -rf "$work"
done
finish

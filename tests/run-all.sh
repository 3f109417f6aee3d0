#!/usr/bin/env bash
# Runs every test layer against a configured build and its install tree, and
# ends with exactly one line "N passed, N failed[, N skipped]" (the sum of all
# layers). Exits non-zero when anything failed or nothing passed.
#
#   tests/run-all.sh [unit] [integration] [node] [sdk] [compat] [fuzz] [asan] [bench]   # none = the default set
#
# Layers:
#   unit         make check in the build folder; results from automake's .trs files
#   integration  pytest (Debian's /usr/bin/python3) on tests/integration; junit xml
#   node         node --test (TAP) on tests/e2e/*.test.mjs: Janode, the JS client and
#                the demo pages in Debian's Chromium (playwright-core)
#   sdk          tests/sdk/run.sh: a plugin built out of tree with pkg-config (TAP)
#   compat       the shared janus.js check (../shared/compat/run.sh) against a daemon
#                started by tests/compat/run-compat.mjs; its TAP is counted
#   fuzz         tests/fuzz/run.sh: builds the libFuzzer targets (clang) in their own
#                folder, runs each on its corpus and CARDEA_FUZZ_RUNS (20000) iterations;
#                one TAP result per target
#   bench        tests/bench/smoke.sh: cardea-load, a few peers for a few seconds against
#                Cardea's videoroom (and once against Janus), no loss allowed (TAP)
#   asan         builds the ASan+UBSan flavour (--enable-sanitizers) in its own folder
#                and runs the unit, integration and node layers against it ("asan-"
#                lines); any sanitizer report fails the test that caused it
#
# Environment:
#   CARDEA_BUILD    configured build folder (default: _build in the repository)
#   CARDEA_PREFIX   install prefix the daemon runs from (default: the build's prefix)
#   CARDEA_SKIP_INSTALL=1  do not run "make install" first (scripts/test.sh just did)
#   CARDEA_FUZZ_BUILD / CARDEA_ASAN_BUILD  the fuzz / asan layers' build folders
#                   (default _build-fuzz / _build-asan in the repository)
#   CARDEA_LOGS     where logs go (default logs/ in the repository)
# A failing layer's log tail is printed.
set -u

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${CARDEA_BUILD:-$REPO/_build}"
LOGS="${CARDEA_LOGS:-$REPO/logs}"
PYTHON=/usr/bin/python3
ALL_LAYERS="unit integration node sdk compat fuzz asan bench"
# The default run: every layer whose cases all apply to what is built. asan
# costs ~15-20 min on 2 cores (its own build, then unit ~1, integration ~7,
# browser ~4: 700 passed, 5 skipped on 2026-12-06).
DEFAULT_LAYERS="unit integration node sdk compat fuzz asan bench"

layers="${*:-$DEFAULT_LAYERS}"
for l in $layers; do
	case " $ALL_LAYERS " in
	*" $l "*) ;;
	*) echo "unknown layer '$l' (known: $ALL_LAYERS)" >&2; echo "0 passed, 1 failed"; exit 2 ;;
	esac
done

mkdir -p "$LOGS"
total_pass=0 total_fail=0 total_skip=0

# finish_layer NAME PASS FAIL SKIP LOG: adds to the totals, prints the layer's
# own line (never starting with a digit, so the last line stays the only
# bare "N passed, N failed") and the log tail when it failed.
finish_layer() {
	local name=$1 p=$2 f=$3 s=$4 log=$5
	total_pass=$((total_pass + p)); total_fail=$((total_fail + f)); total_skip=$((total_skip + s))
	if [ "$f" -gt 0 ]; then
		echo "--- tail of $log ---"
		tail -n 40 "$log"
		echo "---"
	fi
	echo "${LAYER_TAG:-}$name: $p passed, $f failed, $s skipped (log: ${log#"$REPO"/})"
}

final() {
	local line="$total_pass passed, $total_fail failed"
	[ "$total_skip" -gt 0 ] && line="$line, $total_skip skipped"
	echo "$line"
	[ "$total_fail" -eq 0 ] && [ "$total_pass" -gt 0 ]
	exit $?
}

# count_tap FILE: prints "PASS FAIL SKIP" for the top-level TAP result lines
# (subtests are indented). "# SKIP"/"# TODO" results are skips.
count_tap() {
	awk '
		/^(not )?ok [0-9]+/ {
			if ($0 ~ /# (SKIP|skip|TODO|todo)/) s++
			else if ($0 ~ /^not ok/) f++
			else p++
		}
		END { printf "%d %d %d\n", p, f, s }' "$1" 2>/dev/null || echo "0 0 0"
}

if [ ! -f "$BUILD/Makefile" ]; then
	echo "no configured build in $BUILD: run scripts/test.sh (or set CARDEA_BUILD)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
build_prefix=$(sed -n 's/^prefix = //p' "$BUILD/Makefile")
export CARDEA_BUILD="$BUILD"
export CARDEA_PREFIX="${CARDEA_PREFIX:-$build_prefix}"

# Keep the install tree the daemon-based layers use in step with the build.
if [ "${CARDEA_SKIP_INSTALL:-0}" != 1 ] && [ "$CARDEA_PREFIX" = "$build_prefix" ] &&
	[ "$layers" != unit ]; then
	if ! make -C "$BUILD" -j"$(nproc)" install >"$LOGS/build.log" 2>&1; then
		finish_layer build 0 1 0 "$LOGS/build.log"
		final
	fi
fi

run_unit() {
	local log="$LOGS/unit.log" marker="$LOGS/.unit-start" rc p f s
	touch "$marker"
	timeout -k 10 1200 make -C "$BUILD" -j"$(nproc)" check >"$log" 2>&1
	rc=$?
	# Only results written by this run: a test dropped from TESTS leaves a
	# stale .trs behind.
	read -r p f s < <(find "$BUILD" -name '*.trs' -newer "$marker" -exec cat {} + 2>/dev/null | awk '
		/^:test-result: (PASS|XFAIL)/ { p++ }
		/^:test-result: (FAIL|XPASS|ERROR)/ { f++ }
		/^:test-result: SKIP/ { s++ }
		END { printf "%d %d %d\n", p, f, s }')
	# automake's per-directory summaries hold the failing tests' output.
	[ "$f" -gt 0 ] && find "$BUILD" -name test-suite.log -newer "$marker" -exec cat {} + >>"$log" 2>/dev/null
	rm -f "$marker"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "make check exited $rc without a failing test result (build error?)" >>"$log"
		f=1
	fi
	finish_layer unit "$p" "$f" "$s" "$log"
}

run_integration() {
	local log="$LOGS/integration.log" xml="$LOGS/integration.xml" rc p=0 f=0 s=0
	rm -f "$xml"
	: >"$log"
	# A failure here shows as the Chromium-driven tests' own failures.
	ensure_e2e_modules "$log" || true
	(cd "$REPO" && PYTHONDONTWRITEBYTECODE=1 timeout -k 10 2400 \
		"$PYTHON" -m pytest tests/integration -q -p no:cacheprovider --junitxml="$xml") >>"$log" 2>&1
	rc=$?
	if [ -f "$xml" ]; then
		read -r p f s < <("$PYTHON" - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = f = s = 0
for su in suites:
    t += int(su.get("tests", 0))
    f += int(su.get("failures", 0)) + int(su.get("errors", 0))
    s += int(su.get("skipped", 0))
print(max(t - f - s, 0), f, s)
PY
		) || { p=0; f=0; s=0; }
	fi
	# 5 = no tests collected: an empty layer is a failure, not a pass.
	if [ "$rc" -eq 5 ]; then
		echo "pytest collected no tests (exit 5)" >>"$log"
		f=$((f + 1))
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "pytest exited $rc without a failing test result" >>"$log"
		f=1
	fi
	finish_layer integration "$p" "$f" "$s" "$log"
}

# tests/e2e's node modules (playwright-core, Janode): the browser layer and
# the integration tests that drive Chromium (browserpeer.mjs) both use them.
# npm ci wipes node_modules, so run it only when the lock changed.
ensure_e2e_modules() {
	local dir="$REPO/tests/e2e" log=$1
	if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
		[ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
		if ! (cd "$dir" && npm ci) >>"$log" 2>&1; then
			echo "npm ci failed in tests/e2e" >>"$log"
			return 1
		fi
	fi
}

run_node() {
	local log="$LOGS/node.log" tap="$LOGS/node.tap" dir="$REPO/tests/e2e" rc p f s files=()
	: >"$tap"
	: >"$log"
	if ! ensure_e2e_modules "$log"; then
		finish_layer node 0 1 0 "$log"
		return
	fi
	for f in "$dir"/*.test.mjs; do [ -f "$f" ] && files+=("$f"); done
	if [ ${#files[@]} -eq 0 ]; then
		echo "no tests/e2e/*.test.mjs files" >>"$log"
		finish_layer node 0 1 0 "$log"
		return
	fi
	# --test-force-exit: a client left open by a failed test must not hang the
	# run. Debian's node 18 lacks it (and --test-concurrency, whose default is
	# cores - 1 there) and relies on the timeout instead.
	local opts=() help
	help=$(node --help 2>/dev/null)
	case "$help" in *--test-force-exit*) opts+=(--test-force-exit) ;; esac
	case "$help" in *--test-concurrency*) opts+=(--test-concurrency=1) ;; esac
	# TAP to stderr: written synchronously, so it survives --test-force-exit.
	(cd "$dir" && timeout -k 10 "${NODE_SECS:-600}" node --test "${opts[@]}" \
		--test-reporter=spec --test-reporter-destination=stdout \
		--test-reporter=tap --test-reporter-destination=stderr \
		"${files[@]}" 2>"$tap") >>"$log"
	rc=$?
	read -r p f s < <(count_tap "$tap")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "node --test exited $rc without a failing test result" >>"$log"
		f=1
	fi
	finish_layer node "$p" "$f" "$s" "$log"
}

# run_tap_script NAME SECONDS SCRIPT [ARGS...]: a layer that is one bash
# script printing TAP (plan first) on stdout.
run_tap_script() {
	local name=$1 secs=$2 script=$3 rc p f s
	local log="$LOGS/$name.log" tap="$LOGS/$name.tap"
	shift 3
	timeout -k 10 "$secs" bash "$REPO/$script" "$@" >"$tap" 2>"$log"
	rc=$?
	cat "$tap" >>"$log"
	read -r p f s < <(count_tap "$tap")
	if ! grep -qE '^1\.\.[0-9]+' "$tap"; then
		echo "$script did not finish (exit $rc, no TAP plan)" >>"$log"
		f=$((f + 1))
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "$script exited $rc without a failing test result" >>"$log"
		f=1
	fi
	finish_layer "$name" "$p" "$f" "$s" "$log"
}

run_sdk() {
	run_tap_script sdk 300 tests/sdk/run.sh
}

run_bench() {
	run_tap_script bench 600 tests/bench/smoke.sh
}

run_compat() {
	local log="$LOGS/compat.log" rc p f s tap
	# The check runs from a private copy in logs/compat; its TAP lands there.
	COMPAT_DIR="$LOGS/compat" timeout -k 10 900 node "$REPO/tests/compat/run-compat.mjs" >"$log" 2>&1
	rc=$?
	tap="$LOGS/compat/logs/node.tap"
	read -r p f s < <(count_tap "$tap")
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		echo "the compat check reported no result (exit $rc)" >>"$log"
		f=1
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "the compat check exited $rc without a failing result" >>"$log"
		f=1
	fi
	finish_layer compat "$p" "$f" "$s" "$log"
}

# The build is a full clang + ASan flavour, then ~1-2 min of fuzzing.
run_fuzz() {
	run_tap_script fuzz 1800 tests/fuzz/run.sh "${CARDEA_FUZZ_RUNS:-20000}"
}

# The unit, integration and browser (node) layers again, on the sanitizer
# flavour built in its own folder (never the main build, which the other
# layers use). The daemons the suites start are ASan binaries themselves (no
# LD_PRELOAD needed; node and Chromium are not instrumented), and the harnesses
# (tests/integration/gateway.py, tests/e2e/lib/gateway.mjs) fail the test
# that stops a daemon whose log holds an ASan/LSan/UBSan report.
run_asan() {
	local build="${CARDEA_ASAN_BUILD:-$REPO/_build-asan}" log="$LOGS/asan/build.log"
	mkdir -p "$LOGS/asan" "$build"
	if ! { { [ -f "$build/Makefile" ] && grep -q -- '--enable-sanitizers' "$build/config.status" 2>/dev/null ||
			(cd "$build" && "$REPO/configure" --enable-sanitizers --prefix="$build/inst"); } &&
			make -C "$build" -j"$(nproc)" && make -C "$build" install; } >"$log" 2>&1; then
		finish_layer asan-build 0 1 0 "$log"
		return
	fi
	local saved_build="$BUILD" saved_logs="$LOGS" saved_cb="$CARDEA_BUILD" saved_cp="$CARDEA_PREFIX"
	local had_ubsan=${UBSAN_OPTIONS+x} had_asan=${ASAN_OPTIONS+x}
	BUILD="$build" LOGS="$LOGS/asan" LAYER_TAG=asan-
	export CARDEA_BUILD="$build" CARDEA_PREFIX="$build/inst"
	# UBSan only prints by default: make a report fail the process. Daemons
	# started by the suites get the same (tests/integration/gateway.py).
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
	export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
	# ASan makes the daemon 2-3x slower: the browser run gets more time.
	run_unit
	run_integration
	NODE_SECS=1500 run_node
	BUILD="$saved_build" LOGS="$saved_logs" LAYER_TAG=
	export CARDEA_BUILD="$saved_cb" CARDEA_PREFIX="$saved_cp"
	[ -n "$had_ubsan" ] || unset UBSAN_OPTIONS
	[ -n "$had_asan" ] || unset ASAN_OPTIONS
}

for l in $layers; do
	echo "== $l"
	"run_$l"
done
final

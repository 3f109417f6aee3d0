#!/usr/bin/env bash
# The third-party author's path, end to end (prints TAP on stdout, details on
# stderr): build tests/sdk/hello_plugin.c out of tree against the installed
# SDK using nothing but pkg-config, run the installed daemon with it, talk to
# it over the HTTP Janus API, stop the daemon and expect exit status 0.
#
#   CARDEA_PREFIX=/path/to/install tests/sdk/run.sh     (default: _install)
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PREFIX="${CARDEA_PREFIX:-$REPO/_install}"
PYTHON=/usr/bin/python3
CC="${CC:-cc}"
STOP_TIMEOUT=10

TMP="$(mktemp -d "${TMPDIR:-/tmp}/cardea-sdk.XXXXXX")"
PID=""
n=0 failed=0 blocked=""

cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

# step "description" command...: one TAP result. After a failure the later
# steps depend on, they are reported as failures without running.
step() {
	local desc=$1; shift
	n=$((n + 1))
	if [ -n "$blocked" ]; then
		echo "not ok $n - $desc (not run: $blocked)"
		failed=$((failed + 1))
		return 1
	fi
	if "$@" >"$TMP/step.log" 2>&1; then
		echo "ok $n - $desc"
		return 0
	fi
	echo "not ok $n - $desc"
	sed 's/^/# /' "$TMP/step.log"
	failed=$((failed + 1))
	return 1
}

free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# post PATH JSON: prints the reply body; fails on a transport error.
post() {
	curl -sS -m 10 -H 'Content-Type: application/json' -d "$2" "$BASE$1"
}

# check JSON PYTHON-EXPR: the expression, evaluated with j = parsed JSON, must be true.
check() {
	"$PYTHON" -c 'import json, sys
j = json.loads(sys.argv[1])
ok = eval(sys.argv[2])
if not ok:
    print("unexpected reply:", sys.argv[1]); print("expected:", sys.argv[2])
sys.exit(0 if ok else 1)' "$1" "$2"
}

get() { "$PYTHON" -c 'import json, sys; j = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

echo "TAP version 13"
echo "1..9"

export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
t_pkgconfig() {
	FLAGS=$(pkg-config --cflags --libs cardea-plugin) || return 1
	echo "pkg-config cardea-plugin: $FLAGS"
	case " $FLAGS " in *" -I$PREFIX/include "*) ;; *) echo "cflags lack -I$PREFIX/include"; return 1 ;; esac
}
step "pkg-config finds cardea-plugin in $PREFIX" t_pkgconfig || blocked="pkg-config failed"

mkdir -p "$TMP/plugins" "$TMP/transports" "$TMP/conf"
SO="$TMP/plugins/cardea_plugin_hello.so"
t_build() {
	# shellcheck disable=SC2086 # pkg-config output is meant to split
	"$CC" -shared -fPIC -Wall -o "$SO" "$HERE/hello_plugin.c" $FLAGS
}
step "hello_plugin.c builds out of tree with the pkg-config flags only" t_build || blocked="the plugin did not build"

t_exports() {
	local syms
	syms=$(nm -D --defined-only "$SO" | awk '{ print $NF }' | sort | tr '\n' ' ')
	echo "exported: $syms"
	[ "$syms" = "cardea_module_entry " ]
}
step "the plugin exports exactly one symbol, cardea_module_entry" t_exports

HTTP_PORT=$(free_port)
BASE="http://127.0.0.1:$HTTP_PORT/janus"
# Only the HTTP transport, so nothing else binds a (possibly fixed) port.
ln -s "$PREFIX/lib/cardea/transports/cardea_transport_http.so" "$TMP/transports/"
cat >"$TMP/conf/cardea.jcfg" <<EOF
general: {
	server_name = "cardea-sdk-test"
	session_timeout = 60
	admin_secret = "sdk-test-admin"
}
EOF
cat >"$TMP/conf/cardea.transport.http.jcfg" <<EOF
general: {
	port = $HTTP_PORT
	ip = "127.0.0.1"
	base_path = "/janus"
}
admin: {
	admin_http = false
}
EOF
cat >"$TMP/conf/cardea.plugin.hello.jcfg" <<EOF
general: {
	greeting = "world"
}
EOF

t_start() {
	"$PREFIX/bin/cardea" -C "$TMP/conf/cardea.jcfg" -F "$TMP/conf" -P "$TMP/plugins" \
		-T "$TMP/transports" -d 4 >"$TMP/daemon.log" 2>&1 </dev/null &
	PID=$!
	local info
	for _ in $(seq 1 200); do
		kill -0 "$PID" 2>/dev/null || { echo "daemon exited during start-up"; return 1; }
		info=$(curl -s -m 1 "$BASE/info") && check "$info" 'j["janus"] == "server_info"' >/dev/null 2>&1 && break
		sleep 0.1
	done
	check "$info" '"cardea.plugin.hello" in j.get("plugins", {})'
}
step "the daemon starts with the plugin and lists it in server_info" t_start || blocked="the daemon did not start"

t_attach() {
	local r
	r=$(post "" '{"janus":"create","transaction":"sdk-1"}') || return 1
	check "$r" 'j["janus"] == "success" and isinstance(j["data"]["id"], int)' || return 1
	SID=$(get "$r" 'j["data"]["id"]')
	r=$(post "/$SID" '{"janus":"attach","plugin":"cardea.plugin.hello","transaction":"sdk-2"}') || return 1
	check "$r" 'j["janus"] == "success" and isinstance(j["data"]["id"], int)' || return 1
	HID=$(get "$r" 'j["data"]["id"]')
}
step "a client creates a session and attaches cardea.plugin.hello" t_attach || blocked="attach failed"

t_hello() {
	local r
	r=$(post "/$SID/$HID" '{"janus":"message","transaction":"sdk-3","body":{"request":"hello","name":"sdk-test"}}') || return 1
	check "$r" 'j["janus"] == "success" and j["transaction"] == "sdk-3" and j["sender"] == '"$HID"' and j["plugindata"] == {"plugin": "cardea.plugin.hello", "data": {"hello": "world", "name": "sdk-test"}}'
}
step "hello is answered synchronously with {hello: world, name}" t_hello

t_bad() {
	local r
	r=$(post "/$SID/$HID" '{"janus":"message","transaction":"sdk-4","body":{"request":"hello","name":42}}') || return 1
	check "$r" 'j["janus"] == "error" and j["error"]["code"] == 462 and j["transaction"] == "sdk-4"'
}
step "a malformed hello gets Janus error 462" t_bad

t_teardown() {
	local r
	r=$(post "/$SID/$HID" '{"janus":"detach","transaction":"sdk-5"}') || return 1
	check "$r" 'j["janus"] == "success"' || return 1
	r=$(post "/$SID" '{"janus":"destroy","transaction":"sdk-6"}') || return 1
	check "$r" 'j["janus"] == "success"'
}
step "detach and destroy succeed" t_teardown

blocked=""
[ -n "$PID" ] || blocked="the daemon never started"
t_stop() {
	kill -TERM "$PID" || return 1
	local rc
	for _ in $(seq 1 $((STOP_TIMEOUT * 10))); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$PID" 2>/dev/null; then
		echo "daemon still running ${STOP_TIMEOUT}s after SIGTERM"
		return 1
	fi
	wait "$PID"
	rc=$?
	PID=""
	echo "daemon exit status $rc"
	[ "$rc" = 0 ]
}
step "SIGTERM stops the daemon with exit status 0" t_stop

if [ "$failed" -gt 0 ] && [ -f "$TMP/daemon.log" ]; then
	echo "--- daemon log (tail) ---" >&2
	tail -n 60 "$TMP/daemon.log" >&2
fi
[ "$failed" = 0 ]

# Shared set-up for scripts/run.sh and scripts/test.sh (sourced by both; not
# run on its own). After sourcing, REPO, BUILD and PREFIX are set and
# `cardea_setup [--test]` does, in order, only what is needed:
#   1. apt-get install the Debian packages that are missing (build + runtime
#      deps; with --test also the test deps). A ready machine never calls apt.
#   2. ./autogen.sh when configure is missing or older than configure.ac or a
#      Makefile.am.
#   3. configure (out of tree, in $BUILD) when config.status is missing, older
#      than configure, or the configure arguments changed.
#   4. make -j$(nproc) && make install (into $PREFIX).
#
# Environment:
#   CARDEA_BUILD             build folder        (default $REPO/_build)
#   CARDEA_PREFIX            install prefix      (default $REPO/_install)
#   CARDEA_CONFIGURE_FLAGS   extra configure arguments, e.g. --enable-sanitizers
#   CARDEA_NO_APT=1          never call apt-get; list what is missing and stop

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${CARDEA_BUILD:-$REPO/_build}"
PREFIX="${CARDEA_PREFIX:-$REPO/_install}"

CARDEA_BUILD_PKGS=(autoconf automake libtool pkg-config make gcc
	libglib2.0-dev libjansson-dev libconfig-dev libmicrohttpd-dev
	libwebsockets-dev libnice-dev libsrtp2-dev libssl-dev libusrsctp-dev
	libcurl4-openssl-dev   # libcurl: the auth_http and webhook modules
	libev-dev libwebsockets-evlib-ev)   # the WebSocket transport's epoll loop (lws's libev plugin)
# ca-certificates: npm needs it to reach the registry over TLS on a minimal image.
CARDEA_TEST_PKGS=(python3-pytest python3-aiohttp python3-websockets python3-aiortc
	nodejs npm chromium janus valgrind curl ca-certificates coturn
	clang libclang-rt-14-dev   # clang + its runtime: the libFuzzer targets (tests/fuzz)
	golang-go   # builds examples/go-backend in the tests
	iproute2   # `ip netns` / tun links: tests/integration/netns.py (test_netem.py)
	janus-tools ffmpeg)   # janus-pp-rec + ffprobe: tests/integration/test_recording.py

cardea_say() { printf '==> %s\n' "$*"; }
cardea_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# True when the Debian package is installed. nodejs from NodeSource bundles
# npm (and conflicts with Debian's npm package), so a working `npm` counts.
cardea_pkg_present() {
	case "$1" in
	npm) command -v npm >/dev/null 2>&1 && return 0 ;;
	esac
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

cardea_install_pkgs() {
	local missing=() p sudo=()
	for p in "$@"; do cardea_pkg_present "$p" || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	cardea_say "missing Debian packages: ${missing[*]}"
	if [ "${CARDEA_NO_APT:-0}" = 1 ]; then
		cardea_die "CARDEA_NO_APT=1: install them with: apt-get install -y ${missing[*]}"
	fi
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null 2>&1 ||
			cardea_die "not root and no sudo: run as root, or: apt-get install -y ${missing[*]}"
		sudo=(sudo)
	fi
	# One update per run, and only when something has to be installed.
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
		cardea_die "apt-get update failed"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}" ||
		cardea_die "apt-get install failed for: ${missing[*]}"
	# Debian's janus package starts a service on 8088/8188, the ports
	# run.sh needs; the tests only want the binary as a reference.
	case " ${missing[*]} " in
	*" janus "*)
		if [ -d /run/systemd/system ]; then
			cardea_say "disabling the janus service (installed only as the tests' reference binary)"
			"${sudo[@]}" systemctl disable --now janus.service || true
		fi ;;
	esac
}

# True when configure must be regenerated (missing, or older than an input).
cardea_need_autogen() {
	[ -x "$REPO/configure" ] || return 0
	[ -f "$REPO/build-aux/tap-driver.sh" ] || return 0
	[ -n "$(find "$REPO" \( -name .git -o -name node_modules -o -path "$BUILD" -o -path "$PREFIX" \) -prune \
		-o \( -name configure.ac -o -name Makefile.am \) -newer "$REPO/configure" -print 2>/dev/null | head -n 1)" ]
}

cardea_build() {
	local args stamp
	if cardea_need_autogen; then
		cardea_say "bootstrapping (./autogen.sh)"
		(cd "$REPO" && sh ./autogen.sh) || cardea_die "autogen.sh failed"
	fi
	# An in-tree configure makes automake refuse every out-of-tree build.
	if [ -f "$REPO/config.status" ] && [ "$BUILD" != "$REPO" ]; then
		cardea_die "$REPO is configured in-tree; run 'make distclean' there first"
	fi
	mkdir -p "$BUILD"
	args="--prefix=$PREFIX${CARDEA_CONFIGURE_FLAGS:+ $CARDEA_CONFIGURE_FLAGS}"
	stamp="$BUILD/.cardea-configure-args"
	if [ ! -f "$BUILD/config.status" ] || [ "$REPO/configure" -nt "$BUILD/config.status" ] ||
		[ "$(cat "$stamp" 2>/dev/null)" != "$args" ]; then
		cardea_say "configuring in $BUILD ($args)"
		# shellcheck disable=SC2086 # extra flags are meant to split
		(cd "$BUILD" && "$REPO/configure" $args) || cardea_die "configure failed (see $BUILD/config.log)"
		printf '%s' "$args" >"$stamp"
	fi
	cardea_say "building (make -j$(nproc))"
	make -C "$BUILD" --no-print-directory -j"$(nproc)" || cardea_die "build failed"
	cardea_say "installing into $PREFIX"
	make -C "$BUILD" --no-print-directory install >"$BUILD/.install.log" 2>&1 ||
		{ tail -n 30 "$BUILD/.install.log" >&2; cardea_die "make install failed"; }
}

# cardea_setup [--test]
cardea_setup() {
	local pkgs=("${CARDEA_BUILD_PKGS[@]}")
	[ "${1:-}" = --test ] && pkgs+=("${CARDEA_TEST_PKGS[@]}")
	command -v dpkg-query >/dev/null 2>&1 ||
		cardea_die "this script targets Debian 12 (no dpkg-query); build by hand, see README.md"
	cardea_install_pkgs "${pkgs[@]}"
	cardea_build
}

#!/usr/bin/env bash
# Quick start: installs what is missing, builds and installs Cardea into
# _install/, then runs it in the foreground with the installed sample
# configuration. Ctrl-C stops it. Extra arguments go to the daemon
# (e.g. ./scripts/run.sh -d 5).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

cardea_setup

CONF="$PREFIX/etc/cardea"
[ -f "$CONF/cardea.jcfg" ] || cardea_die "$CONF/cardea.jcfg is missing (did make install run?)"

# A second gateway (or Janus) on the default ports would make the daemon fail
# to bind; say so plainly instead.
for port in 8088 8188 7088 7188; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		cardea_die "something already listens on 127.0.0.1:$port (another Cardea, or Janus: systemctl stop janus); stop it first"
	fi
done

cat <<MSG

Cardea $(sed -n 's/^#define CARDEA_VERSION_STRING "\(.*\)"/\1/p' "$PREFIX/include/cardea/version.h")
  demo pages    http://127.0.0.1:8088/
  Janus API     http://127.0.0.1:8088/janus
                ws://127.0.0.1:8188          (subprotocol janus-protocol)
  admin API     http://127.0.0.1:7088/admin
                ws://127.0.0.1:7188          (subprotocol janus-admin-protocol)
                admin_secret "cardeaoverlord" (change it in $CONF/cardea.jcfg)
  configs       $CONF
Press Ctrl-C to stop.

MSG
exec "$PREFIX/bin/cardea" -C "$CONF/cardea.jcfg" -F "$CONF" "$@"

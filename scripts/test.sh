#!/usr/bin/env bash
# Installs what is missing (build, runtime and test deps), builds and installs
# Cardea into _install/, then runs the whole suite (tests/run-all.sh). The last
# line printed is "N passed, N failed". Arguments name layers to run
# (unit, integration, node, sdk); none = all.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

cardea_setup --test

export CARDEA_BUILD="$BUILD" CARDEA_PREFIX="$PREFIX"
# The build above is current; the runner need not run make install again.
export CARDEA_SKIP_INSTALL=1
exec bash "$REPO/tests/run-all.sh" "$@"

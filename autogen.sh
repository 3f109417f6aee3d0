#!/bin/sh
# Regenerates configure and the Makefile.in files (needs autoconf, automake, libtool).
set -e
cd "$(dirname "$0")"
mkdir -p m4 build-aux
autoreconf -fi
# automake does not copy its TAP driver on its own.
cp -f "$(automake --print-libdir)/tap-driver.sh" build-aux/tap-driver.sh

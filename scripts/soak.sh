#!/usr/bin/env bash
# The full soak (docs/RELIABILITY.md): 10,000 concurrent sessions through one
# tunnel held for 30 s with an echo on each every 5 s, all closed with no fd
# left; then 60 s of create/remove API churn while traffic flows. Figures are
# printed. It runs tests/e2e/test_soak.py with bigger numbers, so CI and this
# script check the same things. Bounded: it gives up after 10 minutes.
#
#   bash scripts/soak.sh                 # builds build/ if needed
#   GT_BIN=build-rel/bin bash scripts/soak.sh
#   SOAK_SESSIONS=20000 SOAK_HOLD=60 bash scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SOAK_SESSIONS:-10000}
HOLD=${SOAK_HOLD:-30}
INTERVAL=${SOAK_INTERVAL:-5}
CHURN=${SOAK_CHURN:-60}
export GT_SRC=$PWD
export GT_BIN=${GT_BIN:-$PWD/build/bin}
export PYTHONDONTWRITEBYTECODE=1

if [ ! -x "$GT_BIN/gt-server" ] || [ ! -x "$GT_BIN/gt-bench" ]; then
	echo "== building into build/"
	cmake -S . -B build -DGT_WERROR=ON >/dev/null
	cmake --build build -j2
	GT_BIN=$PWD/build/bin
fi

# Every session costs a descriptor in the bench, the server, the client and
# the echo target: each needs SESSIONS + some.
need=$((SESSIONS + 1024))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
	echo "soak.sh: the hard fd limit is $hard, $need needed (raise it, e.g. in limits.conf)" >&2
	exit 1
fi
ulimit -n "$need"

echo "== soak: $SESSIONS sessions for ${HOLD}s (echo every ${INTERVAL}s), ${CHURN}s of API churn"
echo "   $(nproc) cores, $(uname -r), GT_BIN=$GT_BIN"
GT_SOAK_SESSIONS=$SESSIONS GT_SOAK_HOLD=$HOLD GT_SOAK_INTERVAL=$INTERVAL \
GT_SOAK_CHURN=$CHURN timeout 600 python3 tests/e2e/test_soak.py

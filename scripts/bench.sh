#!/usr/bin/env bash
# Benchmark gt on 127.0.0.1 next to its ceilings and ssh -R, and regenerate
# docs/BENCHMARKS.md and docs/bench.svg (issue 8). Run as root on Debian 12:
#   bash scripts/bench.sh
# It installs what is missing, builds gt in Release into build-bench/, and
# takes about 10 minutes. Everything it starts is stopped on exit and its
# temporary folder removed. Knobs (environment): BENCH_RUNS (3),
# BENCH_SECONDS (5, per throughput run), BENCH_SHORT_SECONDS (3, per RTT and
# rate run), BENCH_HOLD (10000 sessions), BENCH_HOLD_SECONDS (10),
# BENCH_PIPE_BYTES (bytes per bare TLS pipe run), BENCH_OUT (docs).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
OUT=${BENCH_OUT:-$SRC/docs}
BUILD=$SRC/build-bench

# ---------------------------------------------------------------- packages
bash scripts/deps.sh
PKGS=(iperf3 openssh-server openssh-client gnuplot-nox python3)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench.sh: missing packages (${missing[*]}); run as root" >&2
		exit 1
	fi
	# Installing openssh-server must not start a system sshd: the benchmark
	# runs its own on 127.0.0.1. policy-rc.d 101 tells invoke-rc.d "no".
	added_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		added_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=300 update -qq
	apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
		"${missing[@]}" || { [ -n "$added_policy" ] && rm -f /usr/sbin/policy-rc.d; exit 1; }
	[ -n "$added_policy" ] && rm -f /usr/sbin/policy-rc.d
fi

# ---------------------------------------------------------------- build
echo "== build (Release) into build-bench/"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target gt-server gt-client gt-certgen gt-bench gt-tlspipe

# ---------------------------------------------------------------- limits, cleanup
# 10,000 held sessions need ~10,000 descriptors in each of gt-bench, gt-server,
# gt-client and the echo target: raise the soft limit as far as allowed.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

TMP=$(mktemp -d /tmp/gt-bench.XXXXXX)
: >"$TMP/pids"
RUNNER=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$RUNNER" ] && kill -0 "$RUNNER" 2>/dev/null; then
		kill -TERM "$RUNNER" 2>/dev/null || true
		wait "$RUNNER" 2>/dev/null || true
	fi
	# Whatever the driver could not stop: each pid leads its own group.
	while read -r pid; do
		[ -n "$pid" ] || continue
		kill -KILL -- "-$pid" 2>/dev/null || true
	done <"$TMP/pids"
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- measure, report
echo "== measuring (about 10 minutes; progress on stderr)"
python3 scripts/bench/run.py -bin "$BUILD/bin" -tmp "$TMP" -src "$SRC" \
	-out "$TMP/results.json" &
RUNNER=$!
wait "$RUNNER"
RUNNER=
cp "$TMP/results.json" "$BUILD/bench-results.json"

echo "== writing $OUT/BENCHMARKS.md and $OUT/bench.svg"
mkdir -p "$OUT"
python3 scripts/bench/report.py -in "$TMP/results.json" -md "$OUT/BENCHMARKS.md" \
	-dat "$TMP/bench.dat"
gnuplot -e "datafile='$TMP/bench.dat'; outfile='$OUT/bench.svg'; runs=${BENCH_RUNS:-3}" \
	scripts/bench/chart.gp
echo "== done: $OUT/BENCHMARKS.md, $OUT/bench.svg (raw: build-bench/bench-results.json)"

#!/usr/bin/env bash
# README's test command: install what is missing, build normally and with
# ASan+UBSan, run the whole suite in both, the image and the systemd units
# for real (OPS_CHECKS=0 skips them), then run each fuzzer for a while.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
OPS_CHECKS=${OPS_CHECKS:-1}

bash scripts/deps.sh

echo "== build (RelWithDebInfo, -Werror) $(date +%T)"
cmake -S . -B build -DGT_WERROR=ON >/dev/null
cmake --build build -j2
echo "== tests $(date +%T)"
ctest --test-dir build --output-on-failure -j2

echo "== build (ASan+UBSan) $(date +%T)"
cmake -S . -B build-asan -DGT_SANITIZE=ON -DGT_WERROR=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j2
echo "== tests under ASan+UBSan $(date +%T)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir build-asan --output-on-failure -j2

if [ "$OPS_CHECKS" = 1 ]; then
	# Budgets: a run that hangs is stopped (its trap removes what it started).
	echo "== docker image, run and compose (scripts/docker-check.sh) $(date +%T)"
	t=$SECONDS
	timeout -k 120 1200 bash scripts/docker-check.sh
	echo "== docker-check: $((SECONDS - t)) s"
	echo "== systemd units under systemd-nspawn (scripts/systemd-check.sh) $(date +%T)"
	t=$SECONDS
	timeout -k 120 600 bash scripts/systemd-check.sh
	echo "== systemd-check: $((SECONDS - t)) s"
fi

echo "== fuzzers (${FUZZ_SECONDS}s each) $(date +%T)"
CC=clang cmake -S . -B build-fuzz -DGT_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j2
for f in build-fuzz/bin/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	corpus=tests/fuzz/corpus/${name#fuzz_}
	work=$(mktemp -d)
	[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
	echo "-- $name"
	"$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 "$work" 2>&1 | tail -n 12
	rm -rf "$work"
done
echo "== all tests passed in ${SECONDS}s"

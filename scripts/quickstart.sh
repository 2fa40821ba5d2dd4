#!/usr/bin/env bash
# quickstart.sh: README's first command. On a fresh Debian 12 machine (as
# root): install what is missing, build, create demo certificates, start
# gt-server with the shipped config.yaml and gt-client beside it, create a
# demo tunnel mapping through the API and prove a round trip through it.
# Then stay in the foreground until Ctrl-C, which stops everything.
#
#   sudo bash scripts/quickstart.sh           # run the demo until Ctrl-C
#   sudo bash scripts/quickstart.sh --check   # the same, then stop; exit 0 if it all worked
#
# Idempotent: certs/ is reused when complete, the mapping is created only
# when missing (it lives in data/mappings.db across runs). Logs: run/.
#
# For tests only: GT_BIN=<folder of the programs> skips deps and build;
# GT_QS_CONFIG, GT_QS_API_PORT, GT_QS_TUNNEL_PORT, GT_QS_DEMO_PORT and
# GT_QS_TARGET_PORT replace config.yaml and its ports 8080, 9000 and the
# demo's 10022 -> 127.0.0.1:18000 (the config must agree with them).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

CHECK=0
case "${1:-}" in
"") ;;
--check) CHECK=1 ;;
-h|--help|-help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) echo "quickstart: unknown argument \"$1\" (use --check or nothing)" >&2; exit 2 ;;
esac

CONFIG=${GT_QS_CONFIG:-config.yaml}
API_PORT=${GT_QS_API_PORT:-8080}
TUNNEL_PORT=${GT_QS_TUNNEL_PORT:-9000}
DEMO_PORT=${GT_QS_DEMO_PORT:-10022}
TARGET_PORT=${GT_QS_TARGET_PORT:-18000}
API=http://127.0.0.1:$API_PORT
RUN=$ROOT/run
SRV_PID= CLI_PID= TGT_PID=

if [ -t 1 ]; then
	say() { printf '\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '== %s\n' "$*"; }
fi
die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

# Stop what this script started, newest first: SIGTERM, then wait (<= 6 s each).
stop_all() {
	local name pid i
	trap - EXIT INT TERM
	for name in TGT CLI SRV; do
		eval "pid=\${${name}_PID}"
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null || continue
		for i in $(seq 60); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "quickstart: pid $pid did not stop on SIGTERM; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
		eval "${name}_PID="
	done
}

# Poll "$@" every 0.1 s for up to $1 seconds; the condition, not a fixed sleep.
wait_for() {
	local secs=$1 what=$2 i
	shift 2
	for i in $(seq $((secs * 10))); do
		"$@" && return 0
		sleep 0.1
	done
	die "timed out after ${secs} s waiting for $what"
}

# Print the port of each host:port given that something already listens on.
busy_ports() {
	python3 - "$@" <<'EOF'
import socket, sys
for hp in sys.argv[1:]:
    host, port = hp.rsplit(":", 1)
    s = socket.socket()
    try:
        s.bind((host, int(port)))
    except OSError:
        print(port)
    finally:
        s.close()
EOF
}

alive() { kill -0 "$1" 2>/dev/null; }

# Fail with the end of a program's log when it has exited.
check_alive() {
	alive "$1" && return 0
	echo "quickstart: $2 exited; the end of run/$3:" >&2
	tail -n 15 "$RUN/$3" >&2 || true
	exit 1
}

health() { check_alive "$SRV_PID" gt-server server.log; curl -sf "$API/health" >/dev/null; }

client_count() {
	curl -sf -H "Authorization: Bearer $TOKEN" "$API/api/tunnel/clients" |
	    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["count"])'
}

client_up() { check_alive "$CLI_PID" gt-client client.log; [ "$(client_count 2>/dev/null)" -ge 1 ] 2>/dev/null; }

target_up() { check_alive "$TGT_PID" gt-bench target.log; (exec 3<>"/dev/tcp/127.0.0.1/$TARGET_PORT") 2>/dev/null; }

# Send 256 KiB through the demo port and compare what the echo sends back.
roundtrip() {
	python3 - "$DEMO_PORT" <<'EOF'
import os, socket, sys
data = os.urandom(256 * 1024)
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = bytearray()
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
sys.exit(0 if bytes(got) == data else 1)
EOF
}

# ---------------------------------------------------------------- 1. packages, build
if [ -n "${GT_BIN:-}" ]; then
	BIN=$GT_BIN
	say "using the programs in $BIN (GT_BIN set: no package install, no build)"
else
	say "installing missing Debian packages (scripts/deps.sh)"
	bash scripts/deps.sh
	say "building into build/ (cmake)"
	cmake -S . -B build >/dev/null
	cmake --build build -j2 >"$ROOT/build/quickstart-build.log" 2>&1 ||
	    { tail -n 30 "$ROOT/build/quickstart-build.log" >&2; die "the build failed (full log: build/quickstart-build.log)"; }
	BIN=$ROOT/build/bin
fi
for p in gt-server gt-client gt-certgen gt-bench; do
	[ -x "$BIN/$p" ] || die "$BIN/$p is missing"
done
for t in python3 curl; do
	command -v "$t" >/dev/null || die "$t is missing (bash scripts/deps.sh installs it)"
done

# ---------------------------------------------------------------- 2. certificates
FILES="ca.crt ca.key server.crt server.key client.crt client.key jwt.key"
have=0 missing=
for f in $FILES; do
	if [ -e "certs/$f" ]; then have=$((have + 1)); else missing="$missing $f"; fi
done
if [ "$have" -eq 7 ]; then
	say "reusing the certificates in certs/"
elif [ "$have" -eq 0 ]; then
	say "creating demo certificates: gt-certgen init -out certs"
	"$BIN/gt-certgen" init -out certs 2>&1 | sed 's/^/   /'
else
	die "certs/ is incomplete (missing:$missing); remove the files there or complete them, then run again"
fi

# ---------------------------------------------------------------- 3. ports
"$BIN/gt-server" -config "$CONFIG" -check-config >/dev/null ||
    die "$CONFIG does not load (see the line above)"
for port in $(busy_ports "0.0.0.0:$TUNNEL_PORT" "127.0.0.1:$API_PORT" \
    "127.0.0.1:$TARGET_PORT" "0.0.0.0:$DEMO_PORT"); do
	case $port in
	"$TUNNEL_PORT") what="tunnel.listen_port in $CONFIG" ;;
	"$API_PORT") what="api.listen_port in $CONFIG" ;;
	"$TARGET_PORT") what="the demo echo target" ;;
	*) what="the demo mapping" ;;
	esac
	die "port $port ($what) is already in use: stop what listens there (ss -ltnp 'sport = :$port' shows it; an earlier quick start?) and run again"
done

# ---------------------------------------------------------------- 4. start
# Each program runs in its own session (setsid) so that Ctrl-C reaches only
# this script, whose trap stops them once and in order.
mkdir -p "$RUN"
trap 'stop_all' EXIT
trap 'echo; say "stopping"; stop_all; say "stopped"; exit 0' INT TERM

say "starting gt-server -config $CONFIG (log: run/server.log)"
setsid "$BIN/gt-server" -config "$CONFIG" >>"$RUN/server.log" 2>&1 &
SRV_PID=$!
wait_for 20 "gt-server's $API/health" health

TOKEN=$("$BIN/gt-server" -config "$CONFIG" -issue-token demo -token-ttl 86400)
(umask 077 && printf '%s\n' "$TOKEN" >"$RUN/token")

say "starting gt-client -server 127.0.0.1:$TUNNEL_PORT (log: run/client.log)"
setsid "$BIN/gt-client" -server "127.0.0.1:$TUNNEL_PORT" >>"$RUN/client.log" 2>&1 &
CLI_PID=$!
wait_for 20 "the client in $API/api/tunnel/clients" client_up

say "starting the demo target: gt-bench echo -listen 127.0.0.1:$TARGET_PORT (log: run/target.log)"
setsid "$BIN/gt-bench" echo -listen "127.0.0.1:$TARGET_PORT" >>"$RUN/target.log" 2>&1 &
TGT_PID=$!
wait_for 10 "the echo target on 127.0.0.1:$TARGET_PORT" target_up

# ---------------------------------------------------------------- 5. demo mapping
exists=$(curl -sf -H "Authorization: Bearer $TOKEN" "$API/api/mapping/list" |
    python3 -c 'import json,sys; print(sum(1 for m in json.load(sys.stdin)["data"]["mappings"] if m["source_port"] == int(sys.argv[1])))' "$DEMO_PORT") ||
    die "cannot list the mappings through $API/api/mapping/list"
if [ "$exists" -ge 1 ]; then
	say "demo mapping $DEMO_PORT already exists (kept from an earlier run)"
else
	say "creating the demo mapping: port $DEMO_PORT -> tunnel -> 127.0.0.1:$TARGET_PORT"
	answer=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $TOKEN" \
	    -H 'Content-Type: application/json' -X POST "$API/api/mapping/create" \
	    -d "{\"port\":$DEMO_PORT,\"target_host\":\"127.0.0.1\",\"target_port\":$TARGET_PORT,\"use_tunnel\":true}")
	[ "${answer##*$'\n'}" = 200 ] || die "creating the mapping failed: ${answer%$'\n'*}"
fi

# ---------------------------------------------------------------- 6. proof
say "round trip through port $DEMO_PORT (client -> gt-server -> tunnel -> gt-client -> echo)"
wait_for 10 "a verified echo round trip through port $DEMO_PORT" roundtrip
"$BIN/gt-bench" latency -target "127.0.0.1:$DEMO_PORT" -count 200 -size 1024 2>/dev/null |
    sed 's/^/   /' || die "gt-bench latency through port $DEMO_PORT failed"
say "it works: 256 KiB echoed byte for byte through the tunnel"

if [ "$CHECK" -eq 1 ]; then
	say "--check: stopping"
	stop_all
	say "quick start check passed"
	exit 0
fi

cat <<EOF

gt is running: gt-server (pid $SRV_PID), gt-client (pid $CLI_PID), echo target (pid $TGT_PID).
Logs in run/, the API token (admin, 24 h) in run/token. Try:

  TOKEN=\$(cat run/token)
  curl -s $API/health
  curl -s -H "Authorization: Bearer \$TOKEN" $API/api/mapping/list
  curl -s -H "Authorization: Bearer \$TOKEN" $API/api/tunnel/clients
  curl -s -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
       -X POST $API/api/mapping/create \\
       -d '{"port":10023,"target_host":"127.0.0.1","target_port":18000,"use_tunnel":true}'
  curl -s -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
       -X POST $API/api/mapping/remove -d '{"port":10023}'
  curl -s -H "Authorization: Bearer \$TOKEN" $API/metrics
  $BIN/gt-bench speed -target 127.0.0.1:$DEMO_PORT -duration 3
  tail -f run/server.log

Docs: docs/API.md, docs/OPERATIONS.md, docs/SECURITY.md.
Press Ctrl-C to stop client, server and target.
EOF

# Until Ctrl-C (the trap stops everything) or one of them exits.
set +e
wait -n "$SRV_PID" "$CLI_PID" "$TGT_PID"
rc=$?
for p in "$SRV_PID:gt-server:server.log" "$CLI_PID:gt-client:client.log" "$TGT_PID:gt-bench echo:target.log"; do
	IFS=: read -r pid name log <<<"$p"
	alive "$pid" || echo "quickstart: $name exited ($rc); see run/$log" >&2
done
stop_all
exit 1

#!/usr/bin/env bash
# systemd-check.sh: gt's systemd units for real. A Debian 12 root file
# system with systemd (debootstrap, cached by scripts/rootfs.sh) boots under
# `systemd-nspawn --keep-unit -b` (PID 1 here need not be systemd; the
# container shares the host's network, and every port is on 127.0.0.1);
# gt from the build goes into /usr/local/bin, the system user gt is made,
# then inside the container, as docs/OPERATIONS.md §3 says:
#   gt-server -config /etc/gt/config.yaml -reg install; systemctl start
#   gt-server: active; the API answers the host; a mapping created through
#   it is in the database across a restart (ProtectSystem=strict leaves
#   /var/lib/gt writable); the process runs as gt with no effective
#   capability; kill -9 and systemd starts it again (RestartSec=10);
#   gt-client ... -reg install; systemctl start gt-client: a tunnel mapping
#   carries data from the host through both units and back, byte for byte;
#   `systemd-analyze security` rates both units below 2.0, and the server's
#   also as it would be without the user gt (running as root).
# The container is stopped and its file system removed at the end (trap).
#
#   bash scripts/systemd-check.sh          # as root; ~1-3 min (+2 min the first time)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
T0=$SECONDS
BIN=${GT_BIN:-$ROOT/build/bin}
OPS=(python3 "$ROOT/scripts/opslib.py")
MAX_EXPOSURE=2.0
PKGS=systemd,systemd-sysv,dbus,libmbedtls14,libmbedx509-1,libmbedcrypto7,libevent-2.1-7
PKGS=$PKGS,libsqlite3-0,libjwt0,libjansson4,libyaml-0-2,libcap2-bin,curl,ca-certificates

fail() { echo "systemd-check: FAIL: $*" >&2; exit 1; }
ok() { echo "systemd-check: ok: $*"; }
step() { echo "systemd-check: -- $* ($((SECONDS - T0)) s)"; }

[ "$(id -u)" -eq 0 ] || fail "run as root"
command -v systemd-nspawn >/dev/null || fail "no systemd-nspawn (bash scripts/deps.sh installs systemd-container)"
for p in gt-server gt-client gt-certgen; do
	[ -x "$BIN/$p" ] || fail "no $BIN/$p: build first"
done

WORK=$(mktemp -d /var/tmp/gt-systemd-check.XXXXXX)
R=$WORK/root
NSPID=
ECHOPID=
cleanup() {
	local i
	[ -n "$ECHOPID" ] && kill "$ECHOPID" 2>/dev/null
	if [ -n "$NSPID" ] && kill -0 "$NSPID" 2>/dev/null; then
		# nspawn turns SIGTERM into the container's poweroff.
		kill -TERM "$NSPID" 2>/dev/null
		for ((i = 0; i < 60; i++)); do
			kill -0 "$NSPID" 2>/dev/null || break
			sleep 0.5
		done
		kill -KILL "$NSPID" 2>/dev/null && sleep 1
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the root file system
tar=$(bash "$ROOT/scripts/rootfs.sh" systemd "$PKGS") || fail "cannot make the root file system"
mkdir -p "$R"
tar -C "$R" -xf "$tar"
install -m 0755 "$BIN/gt-server" "$BIN/gt-client" "$BIN/gt-certgen" "$R/usr/local/bin/"
chroot "$R" useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin gt
"$BIN/gt-certgen" init -out "$R/etc/gt/certs" -san DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1 ||
    fail "gt-certgen init"
# Ports: the tunnel, the API, the one mapping port, the echo target.
PT=$("${OPS[@]}" freeport 4)
PA=$((PT + 1)) PM=$((PT + 2)) PE=$((PT + 3))
cat >"$R/etc/gt/config.yaml" <<EOF
# systemd-check.sh: everything on 127.0.0.1, the database under /var/lib/gt.
port_range: {from: $PM, end: $PM}
tunnel: {enabled: true, listen_addr: 127.0.0.1, listen_port: $PT}
api: {listen_addr: 127.0.0.1, listen_port: $PA}
database: {path: /var/lib/gt/mappings.db}
security:
  api: {enable_auth: true, jwt_secret_file: /etc/gt/certs/jwt.key}
  tunnel:
    enable_tls: true
    cert_file: /etc/gt/certs/server.crt
    key_file: /etc/gt/certs/server.key
    client_ca: /etc/gt/certs/ca.crt
EOF
# The user the units run as must read the config and keys (§3).
chroot "$R" chown -R gt:gt /etc/gt
step "root file system ready in $R (from $tar)"

# ---------------------------------------------------------------- boot
systemd-nspawn --keep-unit --register=no --boot --directory="$R" --machine="gt-check-$$" \
    --console=pipe --resolv-conf=off --timezone=off --link-journal=no \
    </dev/null >"$WORK/boot.log" 2>&1 &
NSPID=$!
LEADER=
for ((i = 0; i < 100; i++)); do
	LEADER=$(pgrep -P "$NSPID" -x systemd || true)
	[ -n "$LEADER" ] && break
	kill -0 "$NSPID" 2>/dev/null || break
	sleep 0.2
done
[ -n "$LEADER" ] || { tail -n 20 "$WORK/boot.log" >&2; fail "systemd-nspawn did not start systemd"; }
# One command inside the container (from its /), or a shell line.
ct() { nsenter --target "$LEADER" --all --root --wd -- "$@"; }
ct_sh() { ct sh -c "$1"; }
# systemctl fails to connect until systemd has made its socket.
state=
for ((i = 0; i < 120; i++)); do
	state=$(timeout 120 nsenter --target "$LEADER" --all --root -- \
	    systemctl is-system-running --wait 2>/dev/null || true)
	[ -n "$state" ] && break
	sleep 0.5
done
case $state in
running|degraded) ;;
*) tail -n 30 "$WORK/boot.log" >&2; fail "the container's systemd: \"$state\"" ;;
esac
step "booted: systemd $(ct systemctl --version | awk 'NR == 1 { print $2 }') is $state in the container"

# ---------------------------------------------------------------- gt-server.service
ct_sh "cd /etc/gt && gt-server -config /etc/gt/config.yaml -reg install" >"$WORK/reg.log" 2>&1 ||
    { cat "$WORK/reg.log" >&2; fail "gt-server -reg install"; }
grep -q "enabled gt-server.service" "$WORK/reg.log" || { cat "$WORK/reg.log" >&2; fail "-reg install did not enable the unit"; }
ct systemctl start gt-server || { ct journalctl -u gt-server --no-pager | tail -n 20 >&2; fail "systemctl start gt-server"; }
ct systemctl is-active --quiet gt-server || fail "gt-server is not active"
ct systemctl status --no-pager --lines=0 gt-server | head -n 4
ok "-reg install wrote and enabled gt-server.service; started, active"

wait_health() {
	for ((i = 0; i < 100; i++)); do
		curl -fsS -o /dev/null "http://127.0.0.1:$PA/health" 2>/dev/null && return 0
		sleep 0.2
	done
	ct journalctl -u gt-server --no-pager | tail -n 20 >&2
	fail "/health did not answer ($*)"
}
wait_health "first start"
TOKEN=$(ct_sh "cd /etc/gt && gt-server -config /etc/gt/config.yaml -issue-token systemd-check -token-ttl 1800") ||
    fail "-issue-token"
api() { "${OPS[@]}" api "$1" "http://127.0.0.1:$PA$2" "$TOKEN" ${3:+"$3"}; }
api POST /api/mapping/create "{\"port\": $PM, \"target_host\": \"127.0.0.1\", \"target_port\": $PE, \"use_tunnel\": true}" \
    >/dev/null || { ct journalctl -u gt-server --no-pager | tail -n 20 >&2; fail "mapping create (a write to the database)"; }
gtuid=$(chroot "$R" id -u gt)
owner=$(stat -c %u "$R/var/lib/gt/mappings.db")
[ "$owner" = "$gtuid" ] || fail "the database belongs to uid $owner, not gt ($gtuid)"
ct systemctl restart gt-server
wait_health "restart"
out=$(api GET /api/mapping/list) || fail "list after restart"
[[ $out == *"\"source_port\":$PM"* ]] || fail "the mapping did not survive the restart: $out"
ok "the API answers; a mapping written to /var/lib/gt/mappings.db (owner gt, ProtectSystem=strict) survives a restart"

pid=$(ct systemctl show -p MainPID --value gt-server)
read -r _ u1 u2 u3 u4 < <(ct grep '^Uid:' "/proc/$pid/status")
cap=$(ct sed -n 's/^CapEff:\t*//p' "/proc/$pid/status")
[ "$u1 $u2 $u3 $u4" = "$gtuid $gtuid $gtuid $gtuid" ] || fail "gt-server runs as uid $u1/$u2/$u3/$u4, not gt ($gtuid)"
[ "$cap" = 0000000000000000 ] || fail "gt-server has effective capabilities $cap"
ok "gt-server (pid $pid in the container) runs as gt (uid $gtuid) with CapEff $cap"

t=$SECONDS
ct_sh "kill -KILL $pid"
for ((i = 0; i < 150; i++)); do
	new=$(ct systemctl show -p MainPID --value gt-server)
	[ "$new" != 0 ] && [ "$new" != "$pid" ] && ct systemctl is-active --quiet gt-server && break
	sleep 0.2
done
[ "$new" != 0 ] && [ "$new" != "$pid" ] || fail "gt-server was not restarted after kill -9"
wait_health "after kill -9"
ok "kill -9: systemd started gt-server again (pid $new) in $((SECONDS - t)) s (RestartSec=10)"

# ---------------------------------------------------------------- gt-client.service
"${OPS[@]}" echo "$PE" &
ECHOPID=$!
ct_sh "cd /etc/gt && gt-client -server 127.0.0.1:$PT -cert certs/client.crt -key certs/client.key \
    -ca certs/ca.crt -allow 127.0.0.1:$PE -reg install" >"$WORK/reg-client.log" 2>&1 ||
    { cat "$WORK/reg-client.log" >&2; fail "gt-client -reg install"; }
ct systemctl start gt-client || fail "systemctl start gt-client"
"${OPS[@]}" roundtrip "$PM" 4194304 60 ||
    { ct journalctl -u gt-client -u gt-server --no-pager | tail -n 30 >&2; fail "tunnel through the units"; }
ct systemctl is-active --quiet gt-client || fail "gt-client is not active"
pid=$(ct systemctl show -p MainPID --value gt-client)
read -r _ u1 _ < <(ct grep '^Uid:' "/proc/$pid/status")
cap=$(ct sed -n 's/^CapEff:\t*//p' "/proc/$pid/status")
[ "$u1" = "$gtuid" ] && [ "$cap" = 0000000000000000 ] || fail "gt-client runs as uid $u1 with CapEff $cap"
ok "gt-client.service (gt, CapEff $cap): host -> 127.0.0.1:$PM -> gt-server -> tunnel -> gt-client -> echo, byte for byte"

# ---------------------------------------------------------------- exposure
# The server's unit as -reg install writes it where no user gt exists (root,
# CAP_NET_BIND_SERVICE in the bounding set), rated without being started.
ct_sh "sed '/^User=/d; /^Group=/d' /etc/systemd/system/gt-server.service \
    >/etc/systemd/system/gt-server-root.service && systemctl daemon-reload"
for u in gt-server gt-client gt-server-root; do
	ct systemd-analyze security --no-pager "$u" >"$WORK/sec-$u.txt" 2>&1 ||
	    true	# exits non-zero when the exposure is above its own threshold
	level=$(sed -n "s/.*Overall exposure level for $u.service: \([0-9.]*\).*/\1/p" "$WORK/sec-$u.txt")
	[ -n "$level" ] || { tail -n 5 "$WORK/sec-$u.txt" >&2; fail "systemd-analyze security $u: no level"; }
	awk -v l="$level" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(l < m) }' ||
	    { grep '✗' "$WORK/sec-$u.txt" | head -n 30 >&2; fail "$u: exposure $level, not below $MAX_EXPOSURE"; }
	ok "systemd-analyze security $u: exposure $level (below $MAX_EXPOSURE)"
done

ct systemctl stop gt-client gt-server
ct systemctl is-failed --quiet gt-server && fail "gt-server failed at stop"
echo "systemd-check: all checks passed in $((SECONDS - T0)) s"

# docker-check-engine.sh: step 4 of scripts/docker-check.sh, sourced by it
# (it uses ROOT, WORK, CLEANUP, fail and ok from there): the image built and
# run for real on a Docker engine, then the compose file with docker-compose.
# Every port is published on 127.0.0.1; every container, volume and network
# is named gt-check-PID-* and removed by the EXIT trap.

[ "$(id -u)" -eq 0 ] || fail "the engine checks run as root (or use --dry-run)"
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER=$(command -v docker) || fail "no docker client (bash scripts/deps.sh installs docker.io)"
COMPOSE=$(command -v docker-compose) || fail "no docker-compose (bash scripts/deps.sh)"
BIN=${GT_BIN:-$ROOT/build/bin}
[ -x "$BIN/gt-client" ] || fail "no $BIN/gt-client: build first"
OPS=(python3 "$ROOT/scripts/opslib.py")
N=gt-check-$$
IMG=gt-server:docker-check
MAPPORT=10050			# inside docker/config.yaml's port_range
export DOCKER_BUILDKIT=0	# the legacy builder: the one that reads .dockerignore only
d() { "$DOCKER" "$@"; }
step() { echo "docker-check: -- $* ($((SECONDS - T0)) s)"; }

# ---------------------------------------------------------------- the engine
# One we started ourselves stops at the end; its data root stays as a cache.
stop_dockerd() {
	local i
	kill -TERM "$DPID" 2>/dev/null || return 0
	for ((i = 0; i < 60; i++)); do
		kill -0 "$DPID" 2>/dev/null || return 0
		sleep 0.5
	done
	kill -KILL "$DPID" 2>/dev/null
}
# After our dockerd: what it leaves behind, by path and name (its netns
# mount; docker0 when it made it).
after_dockerd() {
	umount "$STATE/exec/netns/default" 2>/dev/null
	[ "$BRIDGE0" = 1 ] || ip link del docker0 2>/dev/null
	return 0
}
OWN=0
if [ -n "${DOCKER_HOST:-}" ] || d info >/dev/null 2>&1; then
	d info >/dev/null 2>&1 || fail "DOCKER_HOST=$DOCKER_HOST does not answer"
	step "using the running Docker engine ($(d version -f '{{.Server.Version}}'))"
else
	command -v dockerd >/dev/null || fail "no dockerd (bash scripts/deps.sh installs docker.io)"
	STATE=/run/gt-docker-check
	mkdir -p "$STATE"
	# A dockerd this script left behind (killed run) holds the pid file.
	if [ -s "$STATE/dockerd.pid" ] && kill -0 "$(cat "$STATE/dockerd.pid")" 2>/dev/null &&
	    grep -q "$STATE" "/proc/$(cat "$STATE/dockerd.pid")/cmdline" 2>/dev/null; then
		DPID=$(cat "$STATE/dockerd.pid")
		echo "docker-check: stopping the dockerd an earlier run left (pid $DPID)"
		stop_dockerd
	fi
	export DOCKER_HOST=unix://$STATE/docker.sock
	BRIDGE0=0
	ip link show docker0 >/dev/null 2>&1 && BRIDGE0=1
	CLEANUP+=("after_dockerd")
	dockerd --data-root "${GT_DOCKER_ROOT:-/var/lib/gt-docker-check}" \
	    --exec-root "$STATE/exec" --pidfile "$STATE/dockerd.pid" -H "$DOCKER_HOST" \
	    >"$WORK/dockerd.log" 2>&1 &
	DPID=$!
	OWN=1
	CLEANUP+=("stop_dockerd")
	for ((i = 0; i < 120; i++)); do
		d info >/dev/null 2>&1 && break
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.5
	done
	d info >/dev/null 2>&1 || { tail -n 20 "$WORK/dockerd.log" >&2; fail "dockerd did not start"; }
	step "started dockerd $(d version -f '{{.Server.Version}}') (pid $DPID, $(d info -f '{{.Driver}}'), data in ${GT_DOCKER_ROOT:-/var/lib/gt-docker-check})"
fi
# On an engine that is not ours, leave no image behind either.
[ "$OWN" -eq 1 ] || CLEANUP+=("d rmi -f $IMG $N-ctx")

# ---------------------------------------------------------------- base image
# One we imported carries the label gt.rootfs (its tarball's mtime and size)
# and is imported again when the cached tarball changes; any other
# debian:bookworm-slim (pulled, or the operator's) is used as it is.
if ! label=$(d image inspect -f '{{index .Config.Labels "gt.rootfs"}}' debian:bookworm-slim 2>/dev/null); then
	label=none
	if [ "${GT_DOCKER_PULL:-0}" = 1 ] && timeout 120 "$DOCKER" pull debian:bookworm-slim >/dev/null 2>&1; then
		step "pulled debian:bookworm-slim"
		label=
	fi
fi
if [ -n "$label" ] && [ "$label" != "<no value>" ]; then
	tar=$(bash "$ROOT/scripts/rootfs.sh" minbase "" slim) || fail "cannot make the base file system"
	want=$(stat -c %Y-%s "$tar")
	if [ "$label" != "$want" ]; then
		d import --change "LABEL gt.rootfs=$want" - debian:bookworm-slim <"$tar" >/dev/null ||
		    fail "docker import"
		[ "$OWN" -eq 1 ] || CLEANUP+=("d rmi debian:bookworm-slim")
		step "debian:bookworm-slim imported from $tar (debootstrap --variant=minbase, slimmed)"
	fi
fi

# ---------------------------------------------------------------- build context, build
# What the builder is sent: everything of the tree it sees, listed in a probe image.
printf 'FROM debian:bookworm-slim\nCOPY . /ctx/\n' >"$WORK/probe.Dockerfile"
mkdir -p "$WORK/empty"
d build -q -f "$WORK/probe.Dockerfile" -t "$N-ctx" . >/dev/null || fail "the build context probe did not build"
d run --rm --network none --entrypoint find "$N-ctx" /ctx -type f >"$WORK/context" || fail "context probe run"
d rmi -f "$N-ctx" >/dev/null
bad=$(grep -E '^/ctx/(\.git|build|data|certs|run)/|\.key$|\.db$' "$WORK/context" | head -n 5 || true)
[ -z "$bad" ] || fail "the build context holds $(echo "$bad" | tr '\n' ' ')(.dockerignore)"
ok "build context: $(wc -l <"$WORK/context") files, sources only (no .git, build/, keys, databases)"

t=$SECONDS
# The build's RUN apt-get uses the host's network: the Debian mirror, no NAT.
d build --network host -f docker/Dockerfile -t "$IMG" . >"$WORK/build.log" 2>&1 ||
    { tail -n 40 "$WORK/build.log" >&2; fail "docker build"; }
ctx=$(sed -n 's/^Sending build context to Docker daemon *//p' "$WORK/build.log" | tail -n 1)
size=$(d image inspect -f '{{.Size}}' "$IMG")
ok "docker build: $((SECONDS - t)) s, context $ctx, image $((size / 1000000)) MB"

# ---------------------------------------------------------------- run
# Host ports: the tunnel, the API, mapping port 10050, the echo target.
PT=$("${OPS[@]}" freeport 4)
PA=$((PT + 1)) PM=$((PT + 2)) PE=$((PT + 3))
CLEANUP+=("d volume rm $N-data $N-certs" "d rm -f $N-srv")
# As docker-compose.yml runs it: read-only, no capabilities, no-new-privileges.
SRV_ARGS=
run_server() {
	d run -d --name "$N-srv" --read-only --tmpfs /tmp --cap-drop ALL \
	    --security-opt no-new-privileges:true "$@" \
	    -p "127.0.0.1:$PT:9000" -p "127.0.0.1:$PA:8080" -p "127.0.0.1:$PM:$MAPPORT" \
	    -v "$N-data:/data" -v "$N-certs:/certs" "$IMG" $SRV_ARGS >/dev/null || fail "docker run $*"
}
wait_health_url() {
	for ((i = 0; i < 100; i++)); do
		curl -fsS -o /dev/null "http://127.0.0.1:$PA/health" 2>/dev/null && return 0
		sleep 0.3
	done
	d logs "$N-srv" 2>&1 | tail -n 20 >&2
	fail "/health from the host did not answer ($*)"
}
d run --rm -v "$N-certs:/certs" --entrypoint gt-certgen "$IMG" \
    init -out /certs -san DNS:localhost,IP:127.0.0.1 >/dev/null || fail "gt-certgen init in the image"
for f in ca.crt client.crt client.key; do
	d run --rm -v "$N-certs:/certs:ro" --entrypoint cat "$IMG" "/certs/$f" >"$WORK/$f" ||
	    fail "reading /certs/$f"
done
chmod 600 "$WORK/client.key"
ok "certificates made in the /certs volume with the image's gt-certgen"

run_server
wait_health_url "default bridge"
ok "/health answers from the host (127.0.0.1:$PA -> 8080)"
read -r _ u1 u2 u3 u4 < <(d exec "$N-srv" grep '^Uid:' /proc/1/status)
cap=$(d exec "$N-srv" sed -n 's/^CapEff:\t*//p' /proc/1/status)
[ "$u1 $u2 $u3 $u4" = "10001 10001 10001 10001" ] || fail "gt-server runs as uid $u1/$u2/$u3/$u4, not 10001"
[ "$cap" = 0000000000000000 ] || fail "gt-server has capabilities $cap"
ok "gt-server is PID 1 as uid 10001 (real, effective, saved, fs), CapEff $cap"
TOKEN=$(d exec "$N-srv" gt-server -config /etc/gt/config.yaml -issue-token docker-check -token-ttl 1800) ||
    fail "-issue-token in the container"
api() { "${OPS[@]}" api "$1" "http://127.0.0.1:$PA$2" "$TOKEN" ${3:+"$3"}; }
api GET /api/mapping/list >/dev/null || fail "the API refuses the host (bridge $(d inspect -f '{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}' "$N-srv"))"
[ "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$PA/api/mapping/list")" = 401 ] ||
    fail "the API answers without a token"
ok "the API answers the host with a token (401 without)"

"${OPS[@]}" echo "$PE" &
CLEANUP+=("kill $!")
"$BIN/gt-client" -server "127.0.0.1:$PT" -cert "$WORK/client.crt" -key "$WORK/client.key" \
    -ca "$WORK/ca.crt" -allow "127.0.0.1:$PE" >"$WORK/client.log" 2>&1 &
CLEANUP+=("kill $!")
api POST /api/mapping/create "{\"port\": $MAPPORT, \"target_host\": \"127.0.0.1\", \"target_port\": $PE, \"use_tunnel\": true}" \
    >/dev/null || fail "mapping create"
"${OPS[@]}" roundtrip "$PM" 4194304 60 || { tail -n 20 "$WORK/client.log" >&2; d logs "$N-srv" 2>&1 | tail -n 20 >&2; fail "tunnel through the container"; }
ok "tunnel: host -> 127.0.0.1:$PM -> container :$MAPPORT -> tunnel -> host gt-client -> echo, byte for byte"

t=$SECONDS
for ((i = 0; i < 120; i++)); do
	h=$(d inspect -f '{{.State.Health.Status}}' "$N-srv")
	[ "$h" = healthy ] && break
	[ "$h" = unhealthy ] && break
	sleep 1
done
[ "$h" = healthy ] || fail "HEALTHCHECK: $h"
ok "HEALTHCHECK healthy (after $((SECONDS - t)) more s; interval 30 s)"

t0=$(date +%s%N)
d stop "$N-srv" >/dev/null
t1=$(date +%s%N)
rc=$(d inspect -f '{{.State.ExitCode}}' "$N-srv")
stop_ms=$(((t1 - t0) / 1000000))
stop_s=$(awk -v ms="$stop_ms" 'BEGIN { printf "%.2f", ms / 1000 }')
[ "$rc" = 0 ] || fail "docker stop: exit code $rc"
[ "$stop_ms" -lt 5000 ] || fail "docker stop took $stop_s s"
ok "docker stop: exit 0 in $stop_s s"
d rm "$N-srv" >/dev/null

# A new container on the same volumes, on bridges numbered like Docker's
# 192.168/16 pool and podman's 10.88/16: the allowlist must admit the host.
# -debug: the log names the peer of every GET.
SRV_ARGS="-config /etc/gt/config.yaml -debug"
for net in 192.168.213.0/24 10.88.213.0/24; do
	d network create --subnet "$net" "$N-net" >/dev/null || fail "network $net"
	CLEANUP+=("d rm -f $N-srv; d network rm $N-net")
	run_server --network "$N-net"
	wait_health_url "network $net"
	pre=${net%.*}		# the /24's first three octets: the gateway's
	out=$(api GET /api/mapping/list) || fail "the API refuses the host on network $net"
	[[ $out == *"\"source_port\":$MAPPORT"* ]] || fail "mapping $MAPPORT lost with the container: $out"
	logs=$(d logs "$N-srv" 2>&1)
	grep -q "\[api\] $pre\.[0-9]*:[0-9]* GET /api/mapping/list -> 200" <<<"$logs" ||
	    { grep "\[api\]" <<<"$logs" | tail -n 5 >&2; fail "no API line from the $net network in the log"; }
	ok "network $net: the host's call (from $pre.x) admitted with the token; mapping $MAPPORT kept by the /data volume"
	if [ "$net" = 192.168.213.0/24 ]; then
		"${OPS[@]}" roundtrip "$PM" 1048576 60 || fail "tunnel after the new container"
		ok "the host's gt-client reconnected; the tunnel carries data again"
	fi
	d rm -f "$N-srv" >/dev/null
	d network rm "$N-net" >/dev/null
done

# ---------------------------------------------------------------- compose
# docker-compose 1.29 as docs/OPERATIONS.md runs it, ports on 127.0.0.1.
MB=$("${OPS[@]}" freeport 101)
export GT_IMAGE=$IMG GT_PUBLISH_ADDR=127.0.0.1 GT_TUNNEL_PORT=$PT GT_API_PORT=$PA \
    GT_MAPPING_PORTS=$MB-$((MB + 100))
dc() { "$COMPOSE" -p "$N" -f docker/docker-compose.yml "$@"; }
CLEANUP+=("dc down -v --remove-orphans")
dc config -q || fail "docker-compose $("$COMPOSE" version --short) refuses docker/docker-compose.yml"
ok "docker-compose $("$COMPOSE" version --short) accepts docker/docker-compose.yml"
dc run --rm -T --entrypoint gt-certgen gt-server init -out /certs \
    -san DNS:localhost,IP:127.0.0.1 >"$WORK/compose.log" 2>&1 ||
    { cat "$WORK/compose.log" >&2; fail "compose run gt-certgen init"; }
dc up -d --no-build >>"$WORK/compose.log" 2>&1 || { cat "$WORK/compose.log" >&2; fail "compose up"; }
cid=$(dc ps -q gt-server)
for ((i = 0; i < 100; i++)); do
	curl -fsS -o /dev/null "http://127.0.0.1:$PA/health" 2>/dev/null && break
	sleep 0.3
done
curl -fsS -o /dev/null "http://127.0.0.1:$PA/health" || { d logs "$cid" 2>&1 | tail >&2; fail "compose: /health"; }
TOKEN=$(dc run --rm -T gt-server -config /etc/gt/config.yaml -issue-token ops -token-ttl 3600 2>>"$WORK/compose.log") ||
    fail "compose run -issue-token"
api GET /api/mapping/list >/dev/null || fail "compose: the API refuses the host"
net=$(d inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$cid")
t=$SECONDS
for ((i = 0; i < 120; i++)); do
	h=$(d inspect -f '{{.State.Health.Status}}' "$cid")
	[ "$h" = healthy ] || [ "$h" = unhealthy ] && break
	sleep 1
done
[ "$h" = healthy ] || fail "compose: HEALTHCHECK $h"
ok "compose up: certificates by compose run, /health and a token call from the host (container $net), healthy"

# The monitoring profile, with a Prometheus image made here from Debian's
# package (no registry): it must scrape gt-server from its own container,
# across the compose network, with a read token issued as prometheus.yml says.
printf '%s\n' 'FROM debian:bookworm-slim' \
    'RUN apt-get update && apt-get install -y --no-install-recommends prometheus \' \
    ' && rm -rf /var/lib/apt/lists/* && mkdir -p /prometheus && chown nobody:nogroup /prometheus' \
    'USER nobody' 'ENTRYPOINT ["/usr/bin/prometheus"]' \
    'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]' \
    >"$WORK/prometheus.Dockerfile"
d build --network host -f "$WORK/prometheus.Dockerfile" -t gt-prometheus:docker-check "$WORK/empty" \
    >"$WORK/prom-build.log" 2>&1 || { tail -n 20 "$WORK/prom-build.log" >&2; fail "the Prometheus image"; }
[ "$OWN" -eq 1 ] || CLEANUP+=("d rmi -f gt-prometheus:docker-check")
dc run --rm -T gt-server -config /etc/gt/config.yaml -issue-token prometheus -token-role read \
    -token-ttl 3600 >"$WORK/metrics.token" 2>>"$WORK/compose.log" || fail "compose run -issue-token (read)"
chmod 644 "$WORK/metrics.token"		# read by the image's user nobody
PP=$("${OPS[@]}" freeport)
export GT_PROMETHEUS_IMAGE=gt-prometheus:docker-check GT_PROMETHEUS_PORT=$PP \
    GT_METRICS_TOKEN=$WORK/metrics.token
dcm() { dc --profile monitoring "$@"; }
CLEANUP+=("dcm down -v --remove-orphans")
dcm up -d --no-build >>"$WORK/compose.log" 2>&1 || { cat "$WORK/compose.log" >&2; fail "compose --profile monitoring up"; }
t=$SECONDS
up=
for ((i = 0; i < 120; i++)); do
	up=$(curl -fsS "http://127.0.0.1:$PP/api/v1/targets" 2>/dev/null |
	    python3 -c 'import json,sys
t = [x for x in json.load(sys.stdin)["data"]["activeTargets"] if x["labels"]["job"] == "gt-server"]
print(t[0]["health"] + " " + t[0]["lastError"] if t else "")' 2>/dev/null || true)
	[[ $up == up* ]] && break
	sleep 0.5
done
[[ $up == up* ]] || { d logs "$(dcm ps -q prometheus)" 2>&1 | tail -n 10 >&2; fail "Prometheus in compose: gt-server target \"$up\""; }
val=$(curl -fsS "http://127.0.0.1:$PP/api/v1/query?query=gt_build_info" |
    python3 -c 'import json,sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["metric"]["version"], r[0]["value"][1])')
ok "compose --profile monitoring: Prometheus (Debian's, in its container) scrapes gt-server:8080 with the read token: up after $((SECONDS - t)) s, gt_build_info{version=\"${val% *}\"} ${val#* }"
dcm down -v >>"$WORK/compose.log" 2>&1 || { cat "$WORK/compose.log" >&2; fail "compose down"; }
[ -z "$(d ps -aq --filter "name=$N")" ] || fail "compose down left containers"
ok "compose down -v"

echo "docker-check: all checks passed in $((SECONDS - T0)) s (engine $(d version -f '{{.Server.Version}}'), image built and run)"

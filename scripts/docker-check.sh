#!/usr/bin/env bash
# docker-check.sh: check docker/ for real, with a Docker engine.
#  1. docker-compose.yml and prometheus.yml parse as YAML and hold what
#     they must (ports, volumes, restart policy, the monitoring profile,
#     the bearer token file; no top-level name:, no ulimits); the two
#     .dockerignore files are one and let in only the sources.
#  2. The Dockerfile: two debian:bookworm-slim stages, a non-root USER,
#     HEALTHCHECK on /health, VOLUME /data /certs, EXPOSE 9000 8080.
#  3. docker/config.yaml loads in gt-server (paths moved into a temp dir).
#  4. With an engine (the default): Debian's dockerd is started if none
#     answers (a plain background process, data in $GT_DOCKER_ROOT, default
#     /var/lib/gt-docker-check, stopped at the end); debian:bookworm-slim is
#     made with debootstrap from apt's Debian mirror and `docker import` when
#     the engine lacks it (the tarball cached in $GT_OPS_CACHE, default
#     /var/cache/gt-ops); the image is built; a container runs with compose's
#     hardening and the checks are: uid 10001 without capabilities, /health
#     and a token call from the host, HEALTHCHECK healthy, a gt-client on the
#     host tunnelling data through the container (checked byte for byte),
#     the API from networks numbered from 192.168/16 and 10.88/16 (podman's),
#     the mapping kept across a new container on the same volumes, `docker
#     stop` exiting 0 within 5 s; then docker-compose (1.29) brings the
#     compose file up (certificates made as documented, /health, a token
#     call, healthy), then the monitoring profile with a Prometheus image
#     made from Debian's package (target up with a read token, a gt_ value
#     stored), and down. Everything it started is removed (trap).
#     Ports are published on 127.0.0.1 only; the build's apt-get uses the
#     host's network (the Debian mirror), nothing else leaves the machine.
#  --dry-run instead of 4, where no engine can run: the build stage's
#     commands run here, and every library the programs need must come from
#     the runtime stage's packages.
#
#   bash scripts/docker-check.sh             # 1-4 (as root; ~90 s, 3 min the first time)
#   bash scripts/docker-check.sh --no-build  # 1-3 and package names only
#   bash scripts/docker-check.sh --dry-run   # 1-3 and the dry run
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
MODE=engine
case "${1:-}" in
"") ;;
--no-build) MODE=static ;;
--dry-run) MODE=dry ;;
*) echo "docker-check: unknown argument \"$1\" (use --no-build, --dry-run or nothing)" >&2; exit 2 ;;
esac
T0=$SECONDS

fail() { echo "docker-check: FAIL: $*" >&2; exit 1; }
ok() { echo "docker-check: ok: $*"; }

if ! python3 -c 'import yaml' 2>/dev/null; then
	if [ "$(id -u)" -eq 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-yaml >/dev/null ||
		    fail "cannot install python3-yaml"
	else
		fail "python3-yaml is missing (apt-get install python3-yaml, as root)"
	fi
fi

WORK=$(mktemp -d /tmp/gt-docker-check.XXXXXX)
CLEANUP=()		# commands the EXIT trap runs, last first
cleanup() {
	local i
	for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUP[i]}" >/dev/null 2>&1 || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- 1, 2: YAML and Dockerfile
python3 - "$ROOT" "$WORK/plan" <<'EOF'
import json, re, sys, yaml
root, plan_path = sys.argv[1], sys.argv[2]

def need(cond, msg):
    if not cond:
        sys.exit("docker-check: FAIL: " + msg)

ctext = open(root + "/docker/docker-compose.yml").read()
need(re.search(r"^name:", ctext, re.M) is None,
     "compose: a top-level name: is refused by docker-compose 1.29 (use -p)")
# ${VAR:-default} read as its default, as compose does with VAR unset.
compose = yaml.safe_load(re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", ctext))
svc = compose["services"]["gt-server"]
need("ulimits" not in svc, "compose: no ulimits (a nofile above the host's hard limit fails up)")
need(svc["build"]["dockerfile"] == "docker/Dockerfile" and svc["build"]["context"] == "..",
     "compose: gt-server must build docker/Dockerfile from the tree's top")
need(svc["restart"] == "unless-stopped", "compose: restart must be unless-stopped")
ports = [str(p) for p in svc["ports"]]
for want in ("0.0.0.0:9000:9000", "127.0.0.1:8080:8080", "0.0.0.0:10000-10100:10000-10100"):
    need(want in ports, "compose: port %s not published" % want)
vols = svc["volumes"]
need(any(v.endswith(":/data") for v in vols) and any(v.endswith(":/certs") for v in vols),
     "compose: /data and /certs volumes")
for v in vols:
    name = v.split(":")[0]
    need(name.startswith((".", "/")) or name in (compose.get("volumes") or {}),
         "compose: volume %s is not declared" % name)
need("/health" in " ".join(svc["healthcheck"]["test"]), "compose: healthcheck on /health")
prom = compose["services"]["prometheus"]
need(prom.get("profiles") == ["monitoring"], "compose: prometheus must be in the monitoring profile")
need(any("prometheus.yml" in v for v in prom["volumes"]), "compose: prometheus.yml mounted")
print("docker-check: ok: docker-compose.yml parses; gt-server service, volumes, ports, profile, no name:, no ulimits")

# The build context: the root .dockerignore (legacy builder, compose 1.29,
# podman) and docker/Dockerfile.dockerignore (BuildKit) the same, and both
# letting in only the sources and the image's config.
ign = open(root + "/.dockerignore").read()
need(ign == open(root + "/docker/Dockerfile.dockerignore").read(),
     ".dockerignore and docker/Dockerfile.dockerignore differ")
pats = [l.strip() for l in ign.splitlines() if l.strip() and not l.startswith("#")]
need(pats and pats[0] == "*", ".dockerignore must start with * (everything out)")
inc = [p[1:] for p in pats if p.startswith("!")]
need(set(inc) <= {"CMakeLists.txt", "include/", "src/", "tools/", "cmake/", "ui/",
                  "docker/config.yaml"},
     ".dockerignore lets in more than the sources: %s" % inc)
cfg = yaml.safe_load(open(root + "/docker/config.yaml"))
allowed = cfg["security"]["api"]["allowed_ips"]
for net in ("127.0.0.1/32", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"):
    need(net in allowed, "docker/config.yaml: allowed_ips lacks %s" % net)
need(not any(a.endswith("/0") for a in allowed), "docker/config.yaml: allowed_ips opens the world")
print("docker-check: ok: .dockerignore = docker/Dockerfile.dockerignore, sources only; allowed_ips: private ranges only")

pcfg = yaml.safe_load(open(root + "/docker/prometheus.yml"))
job = [j for j in pcfg["scrape_configs"] if j["job_name"] == "gt-server"]
need(len(job) == 1, "prometheus.yml: no gt-server job")
job = job[0]
need(job.get("metrics_path") == "/metrics", "prometheus.yml: metrics_path /metrics")
tokfile = job.get("bearer_token_file")
need(tokfile and any(v.endswith(":" + tokfile + ":ro") for v in prom["volumes"]),
     "prometheus.yml: bearer_token_file must be mounted by compose")
need(job["static_configs"][0]["targets"] == ["gt-server:8080"], "prometheus.yml: target")
print("docker-check: ok: prometheus.yml parses; scrapes gt-server:8080/metrics with a bearer token file")

# Dockerfile: instructions with continuations joined, comments dropped.
text = open(root + "/docker/Dockerfile").read()
text = re.sub(r"\\\n", " ", text)
ins = []
for line in text.splitlines():
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    cmd, _, arg = line.partition(" ")
    ins.append((cmd.upper(), arg.strip()))
froms = [a for c, a in ins if c == "FROM"]
need(len(froms) == 2 and froms[0] == "debian:bookworm-slim AS build"
     and froms[1] == "debian:bookworm-slim", "Dockerfile: two debian:bookworm-slim stages")
second = max(i for i, (c, _) in enumerate(ins) if c == "FROM")
build, runtime = ins[1:second], ins[second + 1:]
users = [a for c, a in runtime if c == "USER"]
need(users and not users[-1].startswith(("root", "0")), "Dockerfile: a non-root USER")
hc = " ".join(a for c, a in runtime if c == "HEALTHCHECK")
need("http://127.0.0.1:8080/health" in hc, "Dockerfile: HEALTHCHECK on /health")
vol = " ".join(a for c, a in runtime if c == "VOLUME")
need("/data" in vol and "/certs" in vol, "Dockerfile: VOLUME /data /certs")
exp = " ".join(a for c, a in runtime if c == "EXPOSE").split()
need("9000" in exp and "8080" in exp, "Dockerfile: EXPOSE 9000 8080")
cmdline = " ".join(a for c, a in runtime if c in ("ENTRYPOINT", "CMD"))
need("-config" in cmdline and "/etc/gt/config.yaml" in cmdline, "Dockerfile: -config flag")
print("docker-check: ok: Dockerfile: 2 bookworm-slim stages, USER %s, HEALTHCHECK, VOLUME, EXPOSE"
      % users[-1])

def apt_pkgs(runs):
    out = []
    for r in runs:
        m = re.search(r"apt-get install ([^&]*)", r)
        if m:
            out += [w for w in m.group(1).split() if not w.startswith("-")]
    return out

plan = {
    "build_copy": [a.split() for c, a in build if c == "COPY"],
    "build_run": [a for c, a in build if c == "RUN" and not a.startswith("apt-get")],
    "build_workdir": [a for c, a in build if c == "WORKDIR"][-1],
    "build_pkgs": apt_pkgs([a for c, a in build if c == "RUN"]),
    "runtime_pkgs": apt_pkgs([a for c, a in runtime if c == "RUN"]),
    "from_build": [a.split()[1:-1] for c, a in runtime
                   if c == "COPY" and a.startswith("--from=build")],
    "runtime_copy": [a.split() for c, a in runtime if c == "COPY" and not a.startswith("--")],
}
json.dump(plan, open(plan_path, "w"))
EOF

# One value of the plan, a list as one item a line (a list of words joined by spaces).
plan() {
	python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))[sys.argv[2]]
for x in (v if isinstance(v, list) else [v]):
    print(" ".join(x) if isinstance(x, list) else x)' "$WORK/plan" "$1"
}

# ---------------------------------------------------------------- package names
# shellcheck disable=SC2046
if ! apt-cache show libc6 >/dev/null 2>&1; then
	echo "docker-check: skipped: package names (no apt package lists here; run apt-get update)"
elif ! apt-cache show $(plan build_pkgs) $(plan runtime_pkgs) >/dev/null 2>&1; then
	for p in $(plan build_pkgs) $(plan runtime_pkgs); do
		apt-cache show "$p" >/dev/null 2>&1 || fail "Debian has no package \"$p\" (Dockerfile)"
	done
else
	ok "every package the Dockerfile installs exists in Debian ($(plan runtime_pkgs | wc -l) runtime, $(plan build_pkgs | wc -l) build)"
fi

# ---------------------------------------------------------------- 3: the image's config
BIN=${GT_BIN:-$ROOT/build/bin}
if [ -x "$BIN/gt-server" ] && [ -x "$BIN/gt-certgen" ]; then
	"$BIN/gt-certgen" init -out "$WORK/certs" >/dev/null 2>&1 || fail "gt-certgen init"
	sed -e "s#/certs/#$WORK/certs/#g; s#/data/#$WORK/data/#g" docker/config.yaml >"$WORK/config.yaml"
	"$BIN/gt-server" -config "$WORK/config.yaml" -check-config >/dev/null ||
	    fail "docker/config.yaml does not load"
	ok "docker/config.yaml loads in gt-server -check-config"
else
	echo "docker-check: skipped: docker/config.yaml check (no gt-server in $BIN)"
fi

case $MODE in
static) echo "docker-check: static checks passed (--no-build: no image built)"; exit 0 ;;
engine) . "$ROOT/scripts/docker-check-engine.sh"; exit 0 ;;
esac

# ---------------------------------------------------------------- 4: build stage dry run
for p in $(plan build_pkgs); do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
	    fail "the build stage needs $p, not installed here (bash scripts/deps.sh)"
done
STAGE=$WORK/stage$(plan build_workdir)
mkdir -p "$STAGE"
while read -r line; do
	# shellcheck disable=SC2086
	set -- $line
	dst=$STAGE/${!#}
	for ((i = 1; i < $#; i++)); do
		src=${!i}
		[ -e "$ROOT/$src" ] || fail "COPY $src: not in the tree"
		if [ -d "$ROOT/$src" ]; then mkdir -p "$dst" && cp -r "$ROOT/$src/." "$dst/"; else cp "$ROOT/$src" "$dst"; fi
	done
done < <(plan build_copy)
echo "docker-check: running the build stage's commands in $STAGE"
while read -r cmd; do
	(cd "$STAGE" && sh -ec "$cmd") >"$WORK/build.log" 2>&1 || { tail -n 30 "$WORK/build.log" >&2; fail "build stage: $cmd"; }
done < <(plan build_run)
ok "build stage commands ran"

libs_ok=1
RUNTIME_PKGS=" $(plan runtime_pkgs | tr '\n' ' ') "
for f in $(plan from_build); do
	path=$WORK/stage${f}
	[ -x "$path" ] || fail "COPY --from=build $f: not produced by the build stage"
	for lib in $(readelf -d "$path" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		# awk reads all of ldconfig's output: an early exit would SIGPIPE it (141 under pipefail).
		where=$(ldconfig -p | awk -v l="$lib" '$1 == l && w == "" { w = $NF } END { print w }')
		[ -n "$where" ] || { echo "docker-check: $f needs $lib, not found here" >&2; libs_ok=0; continue; }
		pkg=$(dpkg -S "$(realpath "$where")" 2>/dev/null | head -1 | cut -d: -f1) || true
		[ -n "$pkg" ] || pkg=$(dpkg -S "$where" 2>/dev/null | head -1 | cut -d: -f1) || true
		if [ "$pkg" != libc6 ] && [[ $RUNTIME_PKGS != *" $pkg "* ]]; then
			echo "docker-check: $f needs $lib from package $pkg, not in the runtime stage" >&2
			libs_ok=0
		fi
	done
done
[ "$libs_ok" -eq 1 ] || fail "the runtime stage lacks libraries"
ok "every library the copied programs need comes from the runtime stage's packages"
while read -r line; do
	# shellcheck disable=SC2086
	set -- $line
	for ((i = 1; i < $#; i++)); do
		[ -e "$ROOT/${!i}" ] || fail "runtime COPY ${!i}: not in the tree"
	done
done < <(plan runtime_copy)
ok "the runtime stage's COPY sources exist"
echo "docker-check: all checks passed (not run here: apt-get in the image, the image itself)"

#!/usr/bin/env bash
# Install the Debian 12 packages gt needs to build, test and run. Idempotent.
set -euo pipefail
PKGS=(build-essential cmake pkg-config
      libmbedtls-dev libevent-dev libsqlite3-dev libjwt-dev libjansson-dev
      libyaml-dev libcmocka-dev
      clang libclang-rt-14-dev
      python3 python3-yaml openssl curl iproute2 procps valgrind nftables systemd
      haproxy                                      # tests/e2e/test_proxy_protocol.py
      chromium chromium-driver python3-selenium    # tests/e2e/test_console.py
      prometheus                                   # tests/e2e/test_prometheus.py
      docker.io docker-compose debootstrap         # scripts/docker-check.sh
      systemd-container)                           # scripts/systemd-check.sh (nspawn)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps.sh: missing packages (${missing[*]}); run as root" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
fi

#!/usr/bin/env bash
# rootfs.sh: a Debian 12 root file system as a tarball, made once with
# debootstrap and cached; prints the tarball's path. Used by
# docker-check.sh (the debian:bookworm-slim base when no registry answers)
# and systemd-check.sh (a root file system that boots systemd).
#
#   bash scripts/rootfs.sh NAME [PACKAGE,PACKAGE,...] [slim]
#
# slim: as Debian's -slim images, documentation, manuals and translations
# are removed and dpkg is told to leave them out of later installs, and apt
# keeps no package caches after an install.
#
# The tarball is $GT_OPS_CACHE/bookworm-NAME.tar (default /var/cache/gt-ops);
# it is remade when the package list or this script's recipe changes (their
# hash is in the name of a stamp file beside it; bump the "2" below with the
# recipe). The mirror is the first Debian one apt uses here
# (/etc/apt/sources.list, sources.list.d), else deb.debian.org. apt's
# downloaded packages and lists are left out of the tarball.
set -euo pipefail
NAME=${1:?usage: rootfs.sh NAME [PACKAGES]}
INCLUDE=${2:-}
SLIM=${3:-}
CACHE=${GT_OPS_CACHE:-/var/cache/gt-ops}
TAR=$CACHE/bookworm-$NAME.tar
STAMP=$CACHE/bookworm-$NAME.$(printf '%s' "2 minbase $INCLUDE $SLIM" | sha256sum | cut -c1-12)

if [ -s "$TAR" ] && [ -e "$STAMP" ]; then
	echo "$TAR"
	exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "rootfs: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "rootfs: debootstrap missing (bash scripts/deps.sh)" >&2; exit 1; }

# The Debian mirror apt uses: deb822 URIs: or one-line deb entries, not security.
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^[ \t]*#/ { next }
	 /^URIs:/ { for (i = 2; i <= NF; i++) print $i }
	 /^deb[ \t]/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' |
    grep -v -e security -e updates | grep '/debian/\?$' | head -n 1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

mkdir -p "$CACHE"
dir=$(mktemp -d "$CACHE/tmp.$NAME.XXXXXX")
trap 'rm -rf "$dir"' EXIT
echo "rootfs: debootstrap --variant=minbase bookworm from $mirror${INCLUDE:+ with $INCLUDE} (cached in $TAR)" >&2
if ! debootstrap --variant=minbase ${INCLUDE:+--include="$INCLUDE"} bookworm "$dir/root" "$mirror" \
    >"$dir/log" 2>&1; then
	tail -n 20 "$dir/log" >&2
	echo "rootfs: debootstrap failed" >&2
	exit 1
fi
rm -rf "$dir/root/var/cache/apt/archives/"*.deb "$dir/root/var/lib/apt/lists/"*
if [ "$SLIM" = slim ]; then
	r=$dir/root
	printf '%s\n' "# As Debian's -slim images: no documentation, manuals or translations." \
	    "path-exclude /usr/share/doc/*" "path-include /usr/share/doc/*/copyright" \
	    "path-exclude /usr/share/info/*" "path-exclude /usr/share/locale/*" \
	    "path-exclude /usr/share/man/*" "path-exclude /usr/share/groff/*" \
	    "path-exclude /usr/share/lintian/overrides/*" >"$r/etc/dpkg/dpkg.cfg.d/gt-slim"
	# and, as there, no apt caches left in a layer after an install
	cat >"$r/etc/apt/apt.conf.d/gt-slim-clean" <<-'EOC'
	DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
	APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
	Dir::Cache::pkgcache "";
	Dir::Cache::srcpkgcache "";
	EOC
	find "$r/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
	find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
	rm -rf "$r/usr/share/info/"* "$r/usr/share/locale/"* "$r/usr/share/man/"* \
	    "$r/usr/share/groff/"* "$r/usr/share/lintian/overrides/"*
fi
mkdir -p "$dir/root/var/lib/apt/lists/partial"
tar -C "$dir/root" -c . >"$dir/tar"
rm -f "$CACHE/bookworm-$NAME."*
mv "$dir/tar" "$TAR"
touch "$STAMP"
echo "$TAR"

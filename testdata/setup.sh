#!/bin/sh
# setup.sh installs what zktap's real-ZooKeeper tests and capture generation need on a
# Debian machine: Debian's ZooKeeper (server jars in /usr/share/java), an slf4j binding so
# the server logs, Prometheus, tcpdump, iproute2 (ip netns, veth) and libcap2-bin (setcap).
#
# It is idempotent and quick when everything is present: apt is only touched when a
# package is missing. Run it as root (or through sudo).
set -eu

PKGS="zookeeper libslf4j-java prometheus tcpdump iproute2 libcap2-bin"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

if [ -n "$missing" ]; then
	echo "setup.sh: installing:$missing" >&2
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			SUDO=sudo
		else
			echo "setup.sh: not root and no sudo: cannot install$missing" >&2
			exit 1
		fi
	else
		SUDO=
	fi
	export DEBIAN_FRONTEND=noninteractive
	# The package lists may be missing or stale on a fresh machine: update first.
	if ! $SUDO apt-get update; then
		echo "setup.sh: apt-get update failed" >&2
		exit 1
	fi
	# shellcheck disable=SC2086 # word splitting of the package list is intended
	if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PKGS; then
		echo "setup.sh: apt-get install failed for:$missing" >&2
		exit 1
	fi
fi

# Verify what the tests actually use, not just the package database.
for f in /usr/share/java/zookeeper.jar /usr/share/java/slf4j-simple.jar; do
	if [ ! -r "$f" ]; then
		echo "setup.sh: $f is missing after install" >&2
		exit 1
	fi
done
for c in java tcpdump ip setcap; do
	if ! command -v "$c" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$c" ] && [ ! -x "/sbin/$c" ]; then
		echo "setup.sh: command $c is missing after install" >&2
		exit 1
	fi
done
# Tools built with the Go toolchain (quick when already installed): helm for
# the chart tests, and Prometheus 3 for the OTLP end-to-end test (Debian's
# Prometheus 2.42 has no OTLP receiver).
here=$(dirname "$0")
"$here/../charts/install-helm.sh" >&2
"$here/install-prometheus3.sh" >&2
echo "setup.sh: ok" >&2

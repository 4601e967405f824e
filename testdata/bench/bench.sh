#!/usr/bin/env bash
# bench.sh measures zktap against the limits of this machine (issue 4): a real
# ZooKeeper driven as hard as it goes with no capture, under tcpdump, under
# zktap and under both; offline decoding against tcpdump -r; and zktap's
# memory with 10 000 connections and a million distinct paths.
#
#   sudo testdata/bench/bench.sh [--out FILE] [bench flags...]
#
# Every flag is passed to internal/bench (go run ./internal/bench -h lists
# them); --out defaults to bench-results.json in the current directory.
# See testdata/bench/README.md. Not part of the test suite.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$PWD/bench-results.json
args=()
while (($#)); do
	case $1 in
	--out | -out) out=$(realpath -m "$2"); shift 2 ;;
	--out=* | -out=*) out=$(realpath -m "${1#*=}"); shift ;;
	*) args+=("$1"); shift ;;
	esac
done

if ((EUID != 0)); then
	echo "bench.sh: run as root (raw capture, tcpdump)" >&2
	exit 2
fi
for tool in go java tcpdump; do
	command -v "$tool" >/dev/null || { echo "bench.sh: $tool not found" >&2; exit 2; }
done
for jar in /usr/share/java/zookeeper.jar /usr/share/java/slf4j-simple.jar; do
	[[ -f $jar ]] || { echo "bench.sh: $jar missing (apt-get install zookeeper libslf4j-java)" >&2; exit 2; }
done

tmp=$(mktemp -d /tmp/zktap-bench.XXXXXX)
bench_pid=
cleanup() {
	# The bench kills what it started on a signal or exit; this catches
	# anything left if the bench itself died (children run in their own
	# process groups, found through their parent).
	if [[ -n $bench_pid ]] && kill -0 "$bench_pid" 2>/dev/null; then
		kill -TERM "$bench_pid" 2>/dev/null || true
		wait "$bench_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 10 000 connections need as many descriptors in ZooKeeper, zktap and the
# client.
# Raise the soft limit as far as allowed (a container may cap the hard limit).
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cd "$repo"
echo "bench.sh: building zktap and the bench (fresh, CGO_ENABLED=0)" >&2
CGO_ENABLED=0 go build -o "$tmp/zktap" .
CGO_ENABLED=0 go build -o "$tmp/bench" ./internal/bench
rev=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if ! git diff --quiet HEAD -- . 2>/dev/null; then rev+="+dirty"; fi

mkdir -p "$tmp/run"
"$tmp/bench" --zktap "$tmp/zktap" --tmp "$tmp/run" --out "$out" \
	--rev "$rev" --go-version "$(go env GOVERSION)" "${args[@]}" &
bench_pid=$!
wait "$bench_pid"

#!/usr/bin/env bash
# bench.sh measures zktap against the limits of this machine (issue 4): a real
# ZooKeeper driven as hard as it goes with no capture, under tcpdump, under
# zktap and under both; offline decoding against tcpdump -r; and zktap's
# memory with 10 000 connections and a million distinct paths.
#
#   sudo testdata/bench/bench.sh [--out FILE] [--zktap-rev REV] [bench flags...]
#
# Every other flag is passed to internal/bench (go run ./internal/bench -h
# lists them); --out defaults to bench-results.json in the current directory.
# --zktap-rev measures zktap as of a git revision (built from `git archive`,
# the working tree untouched) instead of the working tree, so that steps of
# a change can be compared: go run ./internal/bench compare A.json B.json.
# See testdata/bench/README.md. Not part of the test suite.
set -euo pipefail

tmp=
bench_pid=

cleanup() {
	# The bench kills what it started on a signal or exit; this catches a
	# bench that is still running when the script is stopped.
	if [[ -n $bench_pid ]] && kill -0 "$bench_pid" 2>/dev/null; then
		kill -TERM "$bench_pid" 2>/dev/null || true
		wait "$bench_pid" 2>/dev/null || true
	fi
	if [[ -n $tmp ]]; then rm -rf "$tmp"; fi
}

# The body is one function, read whole before it runs, so that editing or
# checking out this file during a run cannot change what the run executes.
main() {
	local here repo out zrev rev
	local -a args=()
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	repo=$(cd "$here/../.." && pwd)
	out=$PWD/bench-results.json
	zrev=
	while (($#)); do
		case $1 in
		--out | -out) out=$(realpath -m "$2"); shift 2 ;;
		--out=* | -out=*) out=$(realpath -m "${1#*=}"); shift ;;
		--zktap-rev) zrev=$2; shift 2 ;;
		--zktap-rev=*) zrev=${1#*=}; shift ;;
		*) args+=("$1"); shift ;;
		esac
	done

	if ((EUID != 0)); then
		echo "bench.sh: run as root (raw capture, tcpdump)" >&2
		return 2
	fi
	local tool jar
	for tool in go java tcpdump git; do
		command -v "$tool" >/dev/null || { echo "bench.sh: $tool not found" >&2; return 2; }
	done
	for jar in /usr/share/java/zookeeper.jar /usr/share/java/slf4j-simple.jar; do
		[[ -f $jar ]] || { echo "bench.sh: $jar missing (apt-get install zookeeper libslf4j-java)" >&2; return 2; }
	done

	tmp=$(mktemp -d /tmp/zktap-bench.XXXXXX)
	trap cleanup EXIT
	trap 'exit 130' INT TERM

	# 10 000 connections need as many descriptors in ZooKeeper, zktap and the
	# client. Raise the soft limit as far as allowed (a container may cap the
	# hard limit; 20 000 is enough).
	ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"

	cd "$repo"
	echo "bench.sh: building zktap and the bench (fresh, CGO_ENABLED=0)" >&2
	CGO_ENABLED=0 go build -o "$tmp/bench" ./internal/bench
	if [[ -n $zrev ]]; then
		rev=$(git rev-parse --short=12 "$zrev")
		mkdir -p "$tmp/src"
		git archive "$rev" | tar -x -C "$tmp/src"
		(cd "$tmp/src" && CGO_ENABLED=0 go build -o "$tmp/zktap" .)
	else
		CGO_ENABLED=0 go build -o "$tmp/zktap" .
		rev=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
		if ! git diff --quiet HEAD -- . 2>/dev/null; then rev+="+dirty"; fi
	fi

	mkdir -p "$tmp/run"
	"$tmp/bench" --zktap "$tmp/zktap" --tmp "$tmp/run" --out "$out" \
		--rev "$rev" --go-version "$(go env GOVERSION)" ${args[@]+"${args[@]}"} &
	bench_pid=$!
	wait "$bench_pid"
}

main "$@"
exit

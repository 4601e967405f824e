#!/bin/sh
# install-prometheus3.sh puts a Prometheus 3 with an OTLP receiver at
# /usr/local/bin/prometheus3 for the OTLP end-to-end test
# (internal/app/otlp_e2e_test.go). Debian's prometheus package is 2.42,
# which cannot receive OTLP. Built from the Go module proxy; the web UI
# assets are not embedded, which the test does not need.
set -eu
VERSION=${PROMETHEUS3_VERSION:-v0.316.0}
DEST=${PROMETHEUS3:-/usr/local/bin/prometheus3}
if [ -x "$DEST" ]; then
	echo "prometheus3 already at $DEST"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "building Prometheus $VERSION into $DEST (takes a few minutes)"
GOBIN="$tmp" CGO_ENABLED=0 go install "github.com/prometheus/prometheus/cmd/prometheus@$VERSION"
install -m 0755 "$tmp/prometheus" "$DEST"
"$DEST" --version | head -1

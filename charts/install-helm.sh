#!/bin/sh
# install-helm.sh puts helm v3 on PATH for the chart tests (charts/chart_test.go).
#
# The tests never skip when helm is missing; they fail and point here. helm is
# built from source with the Go toolchain because that needs no extra package
# repository and FIELD-NOTES records that v3.22.0 builds with this Go version.
#
# Usage: charts/install-helm.sh            (installs into /usr/local/bin)
#        GOBIN=$HOME/bin charts/install-helm.sh   (anywhere else on PATH)
set -eu

HELM_VERSION=${HELM_VERSION:-v3.22.0}

if command -v helm >/dev/null 2>&1; then
	echo "helm already on PATH: $(command -v helm) ($(helm version --short 2>/dev/null || echo unknown))"
	exit 0
fi

GOBIN=${GOBIN:-/usr/local/bin}
export GOBIN
echo "installing helm ${HELM_VERSION} into ${GOBIN}"
CGO_ENABLED=0 go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
"${GOBIN}/helm" version --short
case ":${PATH}:" in
*":${GOBIN}:"*) ;;
*) echo "note: ${GOBIN} is not on PATH; add it or set GOBIN to a directory that is" ;;
esac

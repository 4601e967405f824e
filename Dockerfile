# syntax=docker/dockerfile:1
#
# zktap image: a static, CGO-free binary on distroless/static, running as the
# distroless "nonroot" user (65532) with only the file capability
# cap_net_raw+ep, which is all AF_PACKET capture needs.
#
# UNBUILT: no Docker engine was available where this file was written. The
# capability logic it relies on was checked on the host instead (see
# charts/zktap/README.md, "Capabilities").
#
# Base images are pinned by digest (STYLE.md rule 6). The digests were not
# resolved against the registry from here: they are the multi-platform index
# digests that many public Dockerfiles pin for these exact tags. Re-resolve
# before a release, e.g. `crane digest golang:1.26.8-bookworm`.
ARG GO_IMAGE=golang:1.26.8-bookworm@sha256:dc9ad6c05acc7a88e5b71bde60a5fe3bd4b9f0db209011711b464107438a8107
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab

# Cross-compile on the build host's platform; setcap only writes an xattr, so
# it works on a binary of any architecture.
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
# setcap lives in libcap2-bin; it is only needed here, never in the runtime image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Modules first, so a source edit does not invalidate the download layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Set by BuildKit from --platform; empty under the legacy builder, where Go
# then builds for the host.
ARG TARGETOS
ARG TARGETARCH
# GOTOOLCHAIN=local: the image's Go is the one go.mod asks for; never fetch
# another toolchain during a build.
#
# The file capability lets a non-root process open AF_PACKET sockets. "+ep"
# makes the binary capability-dumb: the kernel refuses to exec it (EPERM)
# when NET_RAW is not in the container's bounding set, so a pod that forgot
# `capabilities.add: [NET_RAW]` fails loudly at start instead of capturing
# nothing. getcap checks that the xattr really landed.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOTOOLCHAIN=local GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/zktap . \
 && setcap cap_net_raw+ep /out/zktap \
 && getcap /out/zktap | grep -q cap_net_raw

FROM ${RUNTIME_IMAGE}
# COPY --from keeps the security.capability xattr under BuildKit (the default
# builder since Docker 23, and required here for RUN --mount); BuildKit's own
# rootless image relies on it for newuidmap. Do not add --link: it dropped
# file capabilities in Docker 23.0 (moby/moby#45128). kaniko drops them too
# (GoogleContainerTools/kaniko#2866), and so does exporting with
# --output type=tar (moby/buildkit#2250). Check a built image the way
# Kubernetes runs it; the first must capture, the second must fail to exec
# with "operation not permitted":
#   docker run --rm --cap-drop=ALL --cap-add=NET_RAW \
#     --security-opt=no-new-privileges <image> serve --iface lo
#   docker run --rm --cap-drop=ALL <image> serve --iface lo
COPY --from=build /out/zktap /zktap
# Numeric, not "nonroot": kubelet can only enforce runAsNonRoot against a
# numeric image user. 65532 is distroless's nonroot.
USER 65532:65532
EXPOSE 9771
ENTRYPOINT ["/zktap"]
CMD ["serve"]

# informatica_exporter image: a static binary on an empty base (FROM scratch),
# for linux/amd64 and linux/arm64.
#
#   docker build -t informatica_exporter \
#     --build-arg VERSION=$(cat VERSION) \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg BRANCH=$(git rev-parse --abbrev-ref HEAD) .
#   docker buildx build --platform linux/amd64,linux/arm64 ...   # both at once
#
# The only image pulled is the build stage's golang image, for the machine
# that builds (BUILDPLATFORM): it cross-compiles for the target
# (TARGETOS/TARGETARCH, which docker with BuildKit, buildx, podman and buildah
# set from --platform), so no stage runs code of the target's architecture
# and no emulation is needed. The runtime stage holds only what the build
# stage puts in /rootfs and has no RUN. Plain Dockerfile syntax, so that
# docker (with or without BuildKit), podman and buildah all build it.

# The Go of go.mod (a test checks that the two agree).
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Empty values fall back to the module build info, then to the VERSION file:
# version 1.0.0 (VERSION's), revision "unknown".
ARG VERSION=""
ARG REVISION=""
ARG BRANCH=""
# Empty (a builder that does not set them): this machine's. --version runs
# only for this machine's architecture.
ARG TARGETOS
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=${BRANCH} \
        -X github.com/prometheus/common/version.BuildUser=container \
        -X github.com/prometheus/common/version.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)" \
      -o /rootfs/bin/informatica_exporter . \
 && if [ -z "${TARGETARCH}" ] || [ "${TARGETARCH}" = "$(go env GOHOSTARCH)" ]; then /rootfs/bin/informatica_exporter --version; fi
# What the exporter needs besides itself:
# - the CA bundle, for TLS to Informatica;
# - a /tmp that any user can write (mode 1777): downloaded export ZIPs are
#   spooled there while they are parsed;
# - a non-root user, 65532, in /etc/passwd and /etc/group;
# - /var/lib/informatica_exporter for --storage.path, the user's, so that a
#   volume mounted there starts out the user's too (COPY --from keeps
#   owners and modes).
RUN mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp /rootfs/var/lib/informatica_exporter \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt \
 && chmod 1777 /rootfs/tmp \
 && chown 65532:65532 /rootfs/var/lib/informatica_exporter \
 && chmod 0700 /rootfs/var/lib/informatica_exporter \
 && echo 'informatica_exporter:x:65532:65532:informatica_exporter:/var/lib/informatica_exporter:/sbin/nologin' >/rootfs/etc/passwd \
 && echo 'informatica_exporter:x:65532:' >/rootfs/etc/group

FROM scratch
COPY --from=build /rootfs/ /
USER 65532:65532
EXPOSE 9977
ENTRYPOINT ["/bin/informatica_exporter"]
CMD ["--config.file=/etc/informatica_exporter/config.yml", "--storage.path=/var/lib/informatica_exporter"]

# Multi-stage build: a static binary on a distroless base, running as a non-root user.
#   docker build -t informatica_exporter --build-arg VERSION=$(git describe --tags --always) .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
ARG BRANCH=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=${BRANCH} \
        -X github.com/prometheus/common/version.BuildUser=docker \
        -X github.com/prometheus/common/version.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)" \
      -o /out/informatica_exporter . \
 && /out/informatica_exporter --version

# distroless/static has CA certificates (for TLS to Informatica) and a writable /tmp
# (downloaded export ZIPs are spooled there), and nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/informatica_exporter /bin/informatica_exporter
USER 65532:65532
EXPOSE 9977
ENTRYPOINT ["/bin/informatica_exporter"]
CMD ["--config.file=/etc/informatica_exporter/config.yml"]

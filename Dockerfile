# ksgw image: one static binary (controller, proxy and the other
# subcommands), distroless base, non-root. Build:
#
#   make image                          # tags ghcr.io/ksgw/ksgw:$(VERSION)
#   docker build --build-arg VERSION=v0.1.0 --build-arg COMMIT=$(git rev-parse --short HEAD) \
#     --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t ghcr.io/ksgw/ksgw:v0.1.0 .
#
# The chart runs it as `ksgw controller ...`; the controller's proxy
# Deployments as `ksgw proxy ...` (ENTRYPOINT is the binary, args the
# subcommand).
ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# CGO off: a static binary that runs on distroless/static (no libc).
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/ksgw ./cmd/ksgw

# distroless/static: CA certificates, /etc/passwd with nonroot (65532), no
# shell; the proxy's preStop uses the kubelet's sleep action for that reason.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ksgw /ksgw
USER 65532:65532
EXPOSE 8080 8443 18000 19000
ENTRYPOINT ["/ksgw"]

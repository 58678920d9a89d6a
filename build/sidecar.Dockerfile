# decco TLS sidecar: Debian's stunnel4 supervised by decco-sidecar.
# Build from the repository root:
#   docker build -f build/sidecar.Dockerfile -t decco-sidecar .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/decco-sidecar ./cmd/decco-sidecar

# bookworm ships stunnel4 5.68, the version the tests run against.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends stunnel4 \
 && rm -rf /var/lib/apt/lists/* /etc/stunnel/README
COPY --from=build /out/decco-sidecar /usr/local/bin/decco-sidecar
# Runs as non-root with a read-only root filesystem; stunnel.conf goes to
# the writable /tmp emptyDir the injector mounts. No shell is invoked.
USER 65532:65532
ENV TMPDIR=/tmp
ENTRYPOINT ["/usr/local/bin/decco-sidecar"]

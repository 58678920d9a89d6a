# decco-cni: the chained CNI plugin, which installs itself on each node
# (`decco-cni install`, run by the chart's DaemonSet). One static binary:
# the plugin runs on the host, whose iptables-restore it uses.
# Build from the repository root:
#   docker build -f build/cni.Dockerfile -t decco-cni .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/decco-cni ./cmd/decco-cni

# distroless static: no shell. The DaemonSet runs it as root, to write the
# host's CNI directories; the image itself keeps the non-root default.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/decco-cni /decco-cni
USER 65532:65532
ENTRYPOINT ["/decco-cni"]

# decco manager (webhook + reconciler): one static binary, no OS packages.
# Build from the repository root:
#   docker build -f build/manager.Dockerfile -t decco .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/decco ./cmd/decco

# distroless static: CA certificates, /etc/passwd with nonroot, no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/decco /decco
USER 65532:65532
ENTRYPOINT ["/decco"]

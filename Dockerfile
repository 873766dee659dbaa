# The manager image: a static binary on distroless, as user 65532, which the
# chart's restricted security context expects.
#
# The build context is the whole module less .dockerignore's excludes, so
# every Go file and package the manager imports is in it. `make image` builds
# the same binary from the same context, with the same go build line (its
# tests keep the RUN line below and .dockerignore in step), without Docker.
#
#   docker build --build-arg VERSION=0.1.0 --build-arg COMMIT=$(git rev-parse HEAD) -t ghcr.io/lethe-dev/lethe:0.1.0 .
FROM golang:1.27.3 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=dev
RUN CGO_ENABLED=0 go build -trimpath -tags timetzdata -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /manager .

FROM gcr.io/distroless/static:nonroot
ARG VERSION=dev
ARG COMMIT=dev
LABEL org.opencontainers.image.title="lethe" \
      org.opencontainers.image.description="Lethe, a Kubernetes operator that governs personal data in multi-tenant PostgreSQL databases" \
      org.opencontainers.image.source="https://github.com/lethe-dev/lethe" \
      org.opencontainers.image.url="https://github.com/lethe-dev/lethe" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]

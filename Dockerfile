# Build: docker build -t posgate .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/posgate ./cmd/posgate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/posgate /usr/local/bin/posgate
USER nonroot
ENTRYPOINT ["/usr/local/bin/posgate"]

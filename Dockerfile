# WebSocketChat server image: built with the official Rust image, run on slim Debian as a
# non-root user with just the binary.

FROM rust:1-slim-bookworm AS build
# librdkafka (the `kafka` feature) is built from its bundled C sources. The build stage tracks
# bookworm's current build-essential, so no version is pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY bench/Cargo.toml bench/Cargo.toml
COPY bench/src bench/src
COPY src src
COPY web web
COPY tests tests
RUN cargo build --release --locked --bin websocketchat

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin chat \
    && mkdir -p /app/certs \
    && chown -R chat /app
COPY --from=build /src/target/release/websocketchat /usr/local/bin/websocketchat
WORKDIR /app
USER 10001
EXPOSE 8443
# The binary checks itself: GET /healthz on its own port, exit 0 only on 200 (no curl needed).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["websocketchat", "healthcheck"]
ENTRYPOINT ["websocketchat"]

# WebSocketChat server image: built with the official Rust image, run from an empty (`scratch`)
# image holding only the stripped binary and the few shared libraries it links: no shell, no
# package manager, a non-root user: under 10 MB.

FROM rust:1-slim-bookworm AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The image has what the build needs: rustc and cargo, gcc for ring's assembly and C, and
# binutils (strip, objcopy), which gcc depends on.
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY bench/Cargo.toml bench/Cargo.toml
COPY bench/src bench/src
COPY src src
COPY web web
COPY tests tests
RUN cargo build --release --locked --bin websocketchat
# The runtime tree: the binary without symbols (its debug info stays in this stage, as
# /src/websocketchat.debug: `docker build --target build`), the libraries `ldd` names, and /app.
# hadolint ignore=SC2046
RUN objcopy --only-keep-debug target/release/websocketchat websocketchat.debug \
    && mkdir -p /runtime/usr/local/bin /runtime/app/data \
    && strip --strip-all -o /runtime/usr/local/bin/websocketchat target/release/websocketchat \
    && cp --parents -L $(ldd target/release/websocketchat | grep -o '/[^ ]*') /runtime/ \
    && chown -R 10001:10001 /runtime/app \
    && chmod 700 /runtime/app/data

FROM scratch
COPY --from=build /runtime /
WORKDIR /app
# No /etc/passwd: the user is a number. Certificates come in /app/tls (see docker-compose.yml).
USER 10001:10001
ENV TLS_CERT=/app/tls/cert.pem TLS_KEY=/app/tls/key.pem HISTORY_DIR=/app/data
# Run alone (no Kafka), the server keeps its history, sessions and names here (see
# docs/store.md): a volume, so that they outlive the container. Owned by the server's user,
# mode 0700: it holds private messages.
VOLUME ["/app/data"]
EXPOSE 8443
# The binary checks itself: GET /healthz on its own port, exit 0 only on 200 (no curl, no shell).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["websocketchat", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["websocketchat"]

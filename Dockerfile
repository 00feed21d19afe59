# Multi-stage build: compile with the full toolchain, ship a slim image running as non-root.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY actors ./actors
COPY domain ./domain
COPY src ./src
COPY tests ./tests
# Workspace members (the measuring tools and the test kit): needed to resolve the workspace.
COPY testkit ./testkit
COPY bench ./bench
RUN cargo build --release --locked --bin orderly

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/orderly orderly \
    && mkdir -p /var/lib/orderly /etc/orderly && chown orderly /var/lib/orderly
COPY --from=build /src/target/release/orderly /usr/local/bin/orderly
COPY config.toml /etc/orderly/config.toml
ENV ORDERLY_CONFIG=/etc/orderly/config.toml \
    ORDERLY_SERVER__BIND=0.0.0.0:8080 \
    ORDERLY_STORAGE__DATA_DIR=/var/lib/orderly
USER orderly
VOLUME ["/var/lib/orderly"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/orderly"]
CMD ["serve"]

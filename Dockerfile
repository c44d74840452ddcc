# syntax=docker/dockerfile:1
# The partnership service: built with the official Rust image, run on
# debian:bookworm-slim as a non-root user.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Only what the build reads, so edits elsewhere keep the layer cache.
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto proto
COPY migrations migrations
COPY src src
# Cargo.toml names the benchmark driver, so the manifest needs it present.
COPY benches benches
RUN cargo build --release --locked --bin partnership \
 && install -D -m 0755 target/release/partnership /out/partnership

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 partnership \
 && useradd --system --uid 10001 --gid partnership --home-dir /var/lib/partnership \
      --create-home --shell /usr/sbin/nologin partnership
COPY --from=build /out/partnership /usr/local/bin/partnership
USER partnership
WORKDIR /var/lib/partnership
# Listen on every interface inside the container; compose publishes the
# ports on the host's loopback only.
ENV PARTNERSHIP_LISTEN=0.0.0.0:50051 \
    PARTNERSHIP_METRICS_LISTEN=0.0.0.0:9464 \
    PARTNERSHIP_LOG_FORMAT=json \
    DATABASE_URL=sqlite:///var/lib/partnership/partnership.db?mode=rwc
EXPOSE 50051 9464
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
  CMD ["partnership", "health", "--addr", "127.0.0.1:50051"]
ENTRYPOINT ["partnership"]
CMD ["serve"]

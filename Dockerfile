# syntax=docker/dockerfile:1
#
# sessiond in a container: a Rust builder stage and a slim Debian runtime.
#
#   docker build -t sessiond .
#   docker run --rm -p 8080:8080 sessiond        # no command: the self-contained demo
#                                                # (embedded mock Kafka + simulator + API)
#   docker run --rm -p 8080:8080 -v "$PWD/examples:/data:ro" sessiond \
#       serve --events /data/demo.jsonl --jwt-secret demo-secret
#
# docker-compose.yml runs it against a real Kafka fed by the traffic simulator
# (`serve --brokers ...`, `simulate --brokers ...`).

ARG RUST_VERSION=1.95

# ---------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS builder

# rdkafka builds its bundled librdkafka with librdkafka's own ./configure + make, not
# cmake: it needs a C/C++ toolchain and GNU make (build-essential), python3 (make
# generates the shared library's linker script with lds-gen.py), and zlib and OpenSSL
# headers found through pkg-config (the default `libz` feature, and `ssl` for TLS and
# SASL/SCRAM, linked against the system's libssl). GSSAPI (libsasl2), curl and zstd are
# off, so none of their -dev packages are needed.
# The rust image ships most of this already; naming it keeps the build from depending
# on that. Versions are not pinned: bookworm's point releases only take fixes.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        build-essential \
        libssl-dev \
        pkg-config \
        python3 \
        zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /build

# Dependencies first, in their own layer: a change under src/ does not rebuild the
# crates or librdkafka. build.rs compiles proto/ with protox (no protoc). benches/ comes
# along because Cargo.toml declares bench targets and cargo wants their files to exist
# (they are not built); src/ is a placeholder until the next step.
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
COPY benches ./benches
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# The real sources. Touch them so they are newer than the placeholder build whatever
# modification times the build context carried, or cargo could keep the stub binary.
COPY src ./src
RUN find src -name '*.rs' -exec touch {} + \
 && cargo build --release --locked \
 && cp target/release/sessiond /usr/local/bin/sessiond \
 && /usr/local/bin/sessiond --version

# ---------------------------------------------------------------------------------------
FROM debian:bookworm-slim

# The binary links glibc, libgcc_s and zlib (already in the base image) and OpenSSL 3
# (libssl3, for Kafka over TLS and SASL/SCRAM). ca-certificates gives librdkafka the
# system's CAs for brokers whose certificates a public CA signed: without
# ssl.ca.location it uses OpenSSL's default paths (/etc/ssl/certs).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 sessiond \
 && useradd --system --uid 10001 --gid sessiond --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin sessiond

COPY --from=builder /usr/local/bin/sessiond /usr/local/bin/sessiond

USER 10001:10001
ENV RUST_LOG=info
EXPOSE 8080
# No CMD: without arguments sessiond runs its demo, listening on 0.0.0.0:8080.
ENTRYPOINT ["/usr/local/bin/sessiond"]

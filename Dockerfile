# eosflow in a container: one binary, `ENTRYPOINT ["eosflow"]`.
#
#   docker build -t eosflow .                       # the runtime image (the last stage)
#   docker run --rm eosflow produce --help
#   docker build --target airflow -t eosflow-airflow .
#
# Stages:
#   build    compiles eosflow (release, --locked). rdkafka builds its bundled librdkafka with
#            configure + make (no cmake); OpenSSL and zlib are linked from the system.
#   airflow  apache/airflow with the eosflow binary on PATH (docker-compose.yml, profile airflow).
#   runtime  debian:bookworm-slim + the binary + avro/, running as uid 10001 (the default target).
#
# The build and runtime stages are both Debian 12 (bookworm), so the binary links against the
# same glibc and libssl3 it runs with. The User schemas of avro/ are compiled into the binary;
# the runtime image also ships them in /usr/share/eosflow/avro, for `eosflow schema lint` and
# `--reader-schema`.

ARG RUST_IMAGE=rust:1.89-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2

FROM ${RUST_IMAGE} AS build
# g++ and make build the bundled librdkafka (its configure also looks for python3); pkg-config,
# libssl-dev and zlib1g-dev: the system OpenSSL (openssl, reqwest, scylla, librdkafka's ssl
# feature) and zlib (librdkafka). Checked once by hand: a Debian 12 chroot with gcc, libc6-dev
# (what the slim rust image has) and these packages built the crate.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        g++ make pkg-config python3 libssl-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the build reads (.dockerignore lets nothing else in): the manifest and lock file,
# the sources, and avro/ (include_str! of the User schemas).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY avro ./avro
RUN cargo build --release --locked --bin eosflow \
    && install -m 0755 target/release/eosflow /usr/local/bin/eosflow \
    && /usr/local/bin/eosflow --version

FROM ${AIRFLOW_IMAGE} AS airflow
COPY --from=build /usr/local/bin/eosflow /usr/local/bin/eosflow
COPY avro /usr/share/eosflow/avro

FROM ${RUNTIME_IMAGE} AS runtime
# libssl3: OpenSSL (Kafka clients, registry and source HTTPS, Cassandra TLS); ca-certificates:
# their trust store. zlib1g and libgcc-s1 are already part of the base image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 eosflow \
    && useradd --uid 10001 --gid 10001 --no-log-init --home-dir /var/lib/eosflow --create-home \
        --shell /usr/sbin/nologin eosflow
COPY --from=build /usr/local/bin/eosflow /usr/local/bin/eosflow
COPY avro /usr/share/eosflow/avro
USER 10001:10001
# Writable by the eosflow user: the default sink sqlite://eosflow.db lands here.
WORKDIR /var/lib/eosflow
ENTRYPOINT ["eosflow"]
CMD ["--help"]

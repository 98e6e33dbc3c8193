# syntax=docker/dockerfile:1.7
# Alilo's two images from one build (docs/deploy.md):
#   docker build --target alilo-local -t alilo-local .
#   docker build --target alilo-agent -t alilo-agent .
# Both binaries are built once in the first stage; each final image holds one
# binary on distroless (glibc, CA certificates, no shell) and runs as non-root.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# QuickJS (the agent's JS runtime) and ring build their C with the image's gcc.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p alilo-local -p alilo-agent \
 && mkdir -p /out \
 && cp target/release/alilo-local target/release/alilo-agent /out/

FROM gcr.io/distroless/cc-debian12:nonroot AS alilo-agent
COPY --from=build /out/alilo-agent /usr/local/bin/alilo-agent
# The control API. Self-registration: ALILO_REGISTER_URL / --register and ALILO_FLEET_TOKEN.
ENV ALILO_AGENT_BIND=0.0.0.0 ALILO_AGENT_PORT=8888
EXPOSE 8888
# distroless `nonroot`.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/alilo-agent"]
CMD ["serve"]

FROM gcr.io/distroless/cc-debian12:nonroot AS alilo-local
COPY --from=build /out/alilo-local /usr/local/bin/alilo-local
# Bound to every interface inside the container; publish the port on loopback
# (docker-compose.yml does) or put it behind TLS. The embedded S3 endpoint, used
# only without MINIO_ENDPOINT, keeps its files under ALILO_DATA_DIR.
ENV ALILO_BIND=0.0.0.0 SERVICE_PORT_DEBUG=8084 ALILO_DATA_DIR=/tmp/alilo-s3
EXPOSE 8084
# distroless `nonroot`.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/alilo-local"]

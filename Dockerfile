# syntax=docker/dockerfile:1
#
# vaultgate container image: one fully static binary on distroless, running as the
# unprivileged uid/gid 65532 with no shell and no package manager.
#
#   docker build -t ghcr.io/pnats/vaultgate:0.1.0 .
#
# The binary needs no writable filesystem (the Deployment sets readOnlyRootFilesystem).

ARG RUST_VERSION=1

# ---------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS builder

# Static musl build. ring's C/asm parts are compiled with musl-gcc from musl-tools.
ARG TARGET=x86_64-unknown-linux-musl
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add "${TARGET}"

WORKDIR /build

# 1) Dependency layer: build every dependency against a placeholder crate so that
#    source-only changes reuse this layer. (If Cargo.toml later declares explicit
#    [[bench]]/[[test]]/[[example]] targets, copy or stub their paths here too.)
# build.rs stamps `--version` with the commit and build date: no .git in this context, so the
# commit reads `unknown`; pass --build-arg SOURCE_DATE_EPOCH=… for a reproducible date.
ARG SOURCE_DATE_EPOCH
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && : > src/lib.rs \
 && cargo build --locked --release --target "${TARGET}" --bin vaultgate \
 && rm -rf src

# 2) The real build. COPY keeps the files' original mtimes, which can be older than the
#    placeholder's build output, so touch them to force cargo to rebuild the crate.
COPY src ./src
RUN touch src/main.rs src/lib.rs \
 && cargo build --locked --release --target "${TARGET}" --bin vaultgate \
 && cp "target/${TARGET}/release/vaultgate" /vaultgate \
 && if readelf -d /vaultgate | grep -q NEEDED; then \
      echo 'error: /vaultgate is dynamically linked' >&2; exit 1; \
    fi \
 && /vaultgate --help > /dev/null

# ---------------------------------------------------------------------------------------
# distroless/static: no shell, no libc, but /etc/passwd with `nonroot` (65532),
# CA certificates (for talking to Vault) and tzdata.
FROM gcr.io/distroless/static-debian12:nonroot

LABEL org.opencontainers.image.title="vaultgate" \
      org.opencontainers.image.description="Kubernetes admission webhook and handover controller that makes Vault the single runtime authority for secrets" \
      org.opencontainers.image.licenses="Apache-2.0"

# Owned by root and not writable by the runtime user.
COPY --from=builder /vaultgate /vaultgate

USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/vaultgate"]
CMD ["serve"]

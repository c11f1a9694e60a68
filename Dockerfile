# owui-bridge container image: one static binary in an otherwise empty image.
#
# Two ways to build it; both end in the same `runtime` stage below:
#
#   docker compose build   (or: docker build -t owui-bridge:local .)
#       where the rust image can be pulled: the `build` stage compiles the
#       binary inside Docker. Nothing needed on the host but Docker.
#
#   scripts/build-image.sh
#       on a machine without an image registry (or to reuse the host's Rust
#       build): the host compiles the binary with scripts/static-rootfs.sh, and
#       the script builds the `runtime` stage below from those files, with a
#       `build` stage that only holds them. No image is pulled.
#
# Both paths run scripts/static-rootfs.sh, so the files are laid out the same way.
# The classic builder (Docker 20.10 without buildx) and BuildKit both work; the
# Dockerfile uses no BuildKit-only syntax.

ARG RUST_IMAGE=rust:1-bookworm

# ---- build: compile the static binary (needs the rust image) ----------------
FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN scripts/static-rootfs.sh /out

# ---- runtime: the image (scripts/build-image.sh builds from this line on) ----
FROM scratch AS runtime
COPY --from=build /out/rootfs/ /
COPY --from=build --chown=65532:65532 /out/data/ /data/
# The image's defaults; everything else comes from your .env (env_file).
# BRIDGE_RULES is empty: mount rule files at /etc/owui-bridge/rules and set
# BRIDGE_RULES=/etc/owui-bridge/rules to load them after the built-in pack.
# NO_COLOR: plain log lines for `docker logs` and log collectors (no ANSI colour codes).
ENV BRIDGE_STATE_DIR=/data \
    BRIDGE_RULES= \
    BRIDGE_LISTEN=0.0.0.0:8787 \
    NO_COLOR=1
# uid/gid 65532, not root. To read /var/run/docker.sock the container needs the
# socket's group: group_add: ["${DOCKER_GID}"] in compose, with
# DOCKER_GID=$(stat -c %g /var/run/docker.sock). Or use a docker-socket-proxy.
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8787
# The binary checks itself: GET /healthz on BRIDGE_LISTEN's port (there is no curl here).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/owui-bridge", "healthcheck"]
ENTRYPOINT ["/owui-bridge"]
CMD ["run"]
LABEL org.opencontainers.image.title="owui-bridge" \
      org.opencontainers.image.description="Open WebUI's container logs as signed webhooks and Discord, Slack and Telegram messages" \
      org.opencontainers.image.licenses="MIT"

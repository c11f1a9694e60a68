#!/usr/bin/env bash
# Builds owui-bridge as one static binary for this machine's architecture and
# lays out the runtime image's files in OUT_DIR:
#
#   OUT_DIR/rootfs/owui-bridge              the binary (static, stripped)
#   OUT_DIR/rootfs/etc/owui-bridge/rules/   empty: mount your rule files here
#   OUT_DIR/rootfs/etc/passwd, etc/group    names for uid/gid 65532 (owui-bridge)
#   OUT_DIR/data/                           empty: becomes /data, owned by 65532
#
# Both ways of building the image run this same script: scripts/build-image.sh
# on the host (no image registry needed), and the Dockerfile's `build` stage
# (docker compose build, where the rust image can be pulled). The Dockerfile's
# `runtime` stage then copies exactly these files.
#
# Usage: scripts/static-rootfs.sh OUT_DIR     (CARGO_TARGET_DIR is honoured)
set -euo pipefail

out=${1:?usage: scripts/static-rootfs.sh OUT_DIR}
cd "$(dirname "$0")/.."

triple=$(rustc -vV | sed -n 's/^host: //p')
case "$triple" in
  *-linux-gnu) ;;
  *) echo "static-rootfs.sh: host $triple is not a glibc Linux; build on Linux (x86_64 or aarch64)" >&2; exit 2 ;;
esac

# glibc's static linking (musl targets cannot be installed on every machine).
# DNS is done by reqwest's hickory resolver and TLS roots are compiled in
# (webpki-roots), so the binary needs no NSS module and no file from the host.
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static"
export CARGO_PROFILE_RELEASE_STRIP=symbols
cargo build --release --locked --target "$triple" --bin owui-bridge

target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/$triple/release/owui-bridge"
if readelf -l "$bin" | grep -q 'program interpreter'; then
  echo "static-rootfs.sh: $bin is dynamically linked; it would not start in a FROM scratch image" >&2
  exit 1
fi

rm -rf "$out/rootfs" "$out/data"
mkdir -p "$out/rootfs/etc/owui-bridge/rules" "$out/data"
cp "$bin" "$out/rootfs/owui-bridge"
chmod 0755 "$out/rootfs/owui-bridge" "$out/rootfs/etc/owui-bridge/rules"
printf 'root:x:0:0:root:/:/sbin/nologin\nowui-bridge:x:65532:65532:owui-bridge:/data:/sbin/nologin\n' >"$out/rootfs/etc/passwd"
printf 'root:x:0:\nowui-bridge:x:65532:\n' >"$out/rootfs/etc/group"

# CA certificates only if something in the binary reads the system's roots
# (today nothing does: reqwest uses rustls with webpki-roots).
if cargo tree --locked --target "$triple" -e normal -i rustls-native-certs >/dev/null 2>&1 \
  || cargo tree --locked --target "$triple" -e normal -i openssl-sys >/dev/null 2>&1; then
  mkdir -p "$out/rootfs/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$out/rootfs/etc/ssl/certs/ca-certificates.crt"
  echo "static-rootfs.sh: included /etc/ssl/certs/ca-certificates.crt (the binary reads system roots)" >&2
fi

echo "static-rootfs.sh: $(du -b "$out/rootfs/owui-bridge" | cut -f1) bytes, $bin" >&2

#!/bin/sh
# Build local/python:3.11-slim without a registry (rootful podman, Debian host; ~1 min):
#   sudo apt-get install -y podman runc uidmap fuse-overlayfs slirp4netns debootstrap
#   export CONTAINERS_CONF=$PWD/containers.conf   # runc + capped ulimits, written below if missing
#   sh model_server/container/build-local-base.sh
# then: podman build --format docker --build-arg BASE_IMAGE=localhost/local/python:3.11-slim \
#           -t radstream-model-server:0.1.0 model_server/
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/tmp/radstream-base}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
mkdir -p "$WORK/ctx/certs"
if [ -z "${CONTAINERS_CONF:-}" ]; then
  N=$(ulimit -Hn)
  printf '[containers]\ndefault_ulimits=["nofile=%s:%s","nproc=32768:32768"]\n\n[engine]\nruntime="runc"\n' "$N" "$N" \
    > "$WORK/containers.conf"
  CONTAINERS_CONF="$WORK/containers.conf"; export CONTAINERS_CONF
fi
if ! podman image exists local/debian:bookworm; then
  [ -d "$WORK/rootfs/etc" ] || debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR"
  tar -C "$WORK/rootfs" -c . | podman import - local/debian:bookworm
fi
# HTTPS from inside the build needs this host's extra CA certificates (egress proxies).
cp /usr/local/share/ca-certificates/*.crt "$WORK/ctx/certs/" 2>/dev/null || true
cp "$HERE/python-base.Dockerfile" "$WORK/ctx/Dockerfile"
podman build -t local/python:3.11-slim "$WORK/ctx"
echo "built localhost/local/python:3.11-slim (CONTAINERS_CONF=$CONTAINERS_CONF)"

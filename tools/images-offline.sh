#!/usr/bin/env bash
# `npm run images:offline`: everything `docker compose up` and the container tests need, on a host
# that can pull no image (air-gapped, or a CI machine with no registry):
#   1. a Node base image from this host's `node` binary and the shared libraries it links
#      (synod/node-offline:<version>), with a non-root user `node` (1000:1000) like the official image;
#   2. a NATS image from a `nats-server` binary (synod/nats-offline:<version>; `/nats-server` as its
#      entrypoint, the official image's layout);
#   3. a Prometheus image from Debian's `prometheus` binary (synod/prometheus-offline:<version>;
#      `/bin/prometheus` as its entrypoint and /prometheus owned by nobody, as in the official image)
#      for the compose profile `observability` (Grafana has no Debian package: online only);
#   4. the app bundles (`nx run-many -t build`), which infra/docker/Dockerfile copies;
#   5. the variables that docker-compose.yml, the Dockerfiles and the test fixtures read, written
#      into .env between marker lines (other lines of .env are kept):
#        NODE_IMAGE, NATS_IMAGE, PROMETHEUS_IMAGE, SYNOD_DOCKERFILE=infra/docker/Dockerfile
# The base images hold a binary and its libraries only: no shell, no package manager.
# Options: --force rebuilds base images that exist; --no-build skips step 3.
set -euo pipefail
cd "$(dirname "$0")/.."
# The offline Node image is made from the node binary on PATH: Node 24, provisioned if need be.
. tools/node24.sh

force=0 bundles=1
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    --no-build) bundles=0 ;;
    *) echo "images:offline: unknown option $a (expected --force, --no-build)" >&2; exit 2 ;;
  esac
done

if ! docker info >/dev/null 2>&1; then
  echo "images:offline: no Docker engine answers. On Debian as root, tools/docker-setup.sh installs and starts one." >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Copies a binary and every shared library ldd lists for it into a root filesystem, at the same paths.
add_binary() {
  local root=$1 bin=$2 dest=$3
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$bin" "$root$dest"
  ldd "$bin" | awk '/=> \//{print $3} /^[ \t]*\/[^ ]+ \(0x/{print $1}' | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

exists() { docker image inspect "$1" >/dev/null 2>&1; }

# 1. Node
node_bin=$(readlink -f "$(command -v node)")
node_version=$(node -p process.versions.node)
NODE_IMAGE="synod/node-offline:${node_version}"
if [ "$force" = 1 ] || ! exists "$NODE_IMAGE"; then
  root="$work/node"
  add_binary "$root" "$node_bin" /usr/local/bin/node
  mkdir -p "$root/etc" "$root/tmp" "$root/home/node" "$root/root"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnode:x:1000:1000:node:/home/node:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\n' >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  chmod 1777 "$root/tmp"
  chown 1000:1000 "$root/home/node"
  tar -C "$root" --numeric-owner -cf - . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'CMD ["node"]' \
    - "$NODE_IMAGE" >/dev/null
  echo "images:offline: built $NODE_IMAGE from $node_bin"
else
  echo "images:offline: $NODE_IMAGE exists"
fi

# 2. NATS
if ! command -v nats-server >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  else
    echo "images:offline: needs a nats-server binary on PATH (Debian/Ubuntu: apt-get install nats-server)" >&2
    exit 1
  fi
fi
nats_bin=$(readlink -f "$(command -v nats-server)")
nats_version=$(nats-server --version | sed -E 's/.*v([0-9][0-9.]*).*/\1/')
NATS_IMAGE="synod/nats-offline:${nats_version}"
if [ "$force" = 1 ] || ! exists "$NATS_IMAGE"; then
  root="$work/nats"
  add_binary "$root" "$nats_bin" /nats-server
  mkdir -p "$root/tmp" "$root/etc/nats"
  chmod 1777 "$root/tmp"
  tar -C "$root" --numeric-owner -cf - . | docker import \
    --change 'ENTRYPOINT ["/nats-server"]' \
    --change 'EXPOSE 4222 6222 8222' \
    - "$NATS_IMAGE" >/dev/null
  echo "images:offline: built $NATS_IMAGE from $nats_bin"
else
  echo "images:offline: $NATS_IMAGE exists"
fi

# 3. Prometheus (its service is never started on this host: policy-rc.d refuses it during the install).
if ! command -v prometheus >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    policy=/usr/sbin/policy-rc.d
    if [ -e "$policy" ]; then had_policy=1; else had_policy=0; printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"; fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    [ "$had_policy" = 1 ] || rm -f "$policy"
  else
    echo "images:offline: needs a prometheus binary on PATH (Debian/Ubuntu: apt-get install --no-install-recommends prometheus)" >&2
    exit 1
  fi
fi
prometheus_bin=$(readlink -f "$(command -v prometheus)")
prometheus_version=$(prometheus --version 2>&1 | sed -nE '1s/.*version ([0-9][0-9.]*).*/\1/p')
PROMETHEUS_IMAGE="synod/prometheus-offline:${prometheus_version}"
if [ "$force" = 1 ] || ! exists "$PROMETHEUS_IMAGE"; then
  root="$work/prometheus"
  add_binary "$root" "$prometheus_bin" /bin/prometheus
  # The binary alone: the API (/api/v1/targets, /api/v1/alerts) and scraping. Debian's web pages
  # link its packaged JavaScript libraries (over 200 MB copied), so the image leaves them out.
  mkdir -p "$root/tmp" "$root/etc/prometheus" "$root/prometheus"
  chmod 1777 "$root/tmp"
  chown 65534:65534 "$root/prometheus"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  tar -C "$root" --numeric-owner -cf - . | docker import \
    --change 'ENTRYPOINT ["/bin/prometheus"]' \
    --change 'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]' \
    --change 'USER 65534:65534' \
    --change 'WORKDIR /prometheus' \
    --change 'EXPOSE 9090' \
    - "$PROMETHEUS_IMAGE" >/dev/null
  echo "images:offline: built $PROMETHEUS_IMAGE from $prometheus_bin"
else
  echo "images:offline: $PROMETHEUS_IMAGE exists"
fi

# 4. The bundles the runtime images copy.
if [ "$bundles" = 1 ]; then
  echo "images:offline: building the app bundles"
  NX_NO_CLOUD=true NX_DAEMON=false NX_TUI=false npx nx run-many -t build --projects=tag:type:app --output-style=static >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; exit 1; }
fi

# 5. The variables, in .env (read by docker compose and by the container tests).
begin='# >>> npm run images:offline (generated; delete this block to use the official images)'
end='# <<< npm run images:offline'
touch .env
awk -v b="$begin" -v e="$end" '$0==b{skip=1} !skip{print} $0==e{skip=0}' .env >"$work/env"
{
  cat "$work/env"
  echo "$begin"
  echo "NODE_IMAGE=$NODE_IMAGE"
  echo "NATS_IMAGE=$NATS_IMAGE"
  echo "PROMETHEUS_IMAGE=$PROMETHEUS_IMAGE"
  echo "SYNOD_DOCKERFILE=infra/docker/Dockerfile"
  echo "$end"
} >.env
echo "images:offline: wrote NODE_IMAGE, NATS_IMAGE, PROMETHEUS_IMAGE and SYNOD_DOCKERFILE into .env; now: docker compose up"

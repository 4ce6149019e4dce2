#!/usr/bin/env bash
# Provisions a Docker engine and Compose v2 on a Debian machine that has none, then starts the
# engine and waits until it answers. Idempotent: what is already there is kept.
#   - engine: Debian's docker.io (20.10 on bookworm);
#   - Compose v2 (`docker compose`, which testcontainers' DockerComposeEnvironment calls): bookworm
#     only ships the Python docker-compose 1.29, so the plugin binary is taken from Debian trixie's
#     docker-compose package, fetched through a private apt state that leaves this machine's
#     sources untouched (the package needs only libc6 >= 2.34);
#   - dockerd started in the background (log in /var/log/dockerd.log) unless one already answers.
# Needs root (or sudo). Used by .ci/run; run it by hand on a fresh machine the same way.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_quiet() { as_root env DEBIAN_FRONTEND=noninteractive apt-get "$@"; }

if ! command -v dockerd >/dev/null 2>&1; then
  echo "docker-setup: installing docker.io"
  apt_quiet update -qq
  apt_quiet install -y -qq --no-install-recommends docker.io iptables >/dev/null
fi

if ! docker compose version >/dev/null 2>&1; then
  echo "docker-setup: installing Compose v2 (docker-compose from Debian trixie)"
  d=$(mktemp -d) x=$(mktemp -d)
  trap 'as_root rm -rf "$d" "$x"' EXIT
  mkdir -p "$d/lists/partial"
  uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
  fi
  uri=${uri:-http://deb.debian.org/debian}
  echo "deb $uri trixie main" >"$d/trixie.list"
  # apt downloads as its sandbox user where that user may write.
  if id _apt >/dev/null 2>&1; then as_root chown -R _apt "$d"; fi
  o=(-o "Dir::Etc::sourcelist=$d/trixie.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$d/lists")
  as_root apt-get "${o[@]}" update -qq
  (cd "$d" && as_root apt-get "${o[@]}" download docker-compose >/dev/null)
  dpkg -x "$d"/docker-compose_*_*.deb "$x"
  as_root mkdir -p /usr/local/lib/docker/cli-plugins
  as_root install -m 0755 "$x/usr/libexec/docker/cli-plugins/docker-compose" /usr/local/lib/docker/cli-plugins/docker-compose
fi
docker compose version

# A daemon ended without clean-up (the machine's previous session) leaves pid files behind; if their
# pids now belong to other processes, dockerd would refuse to start or signal the wrong process.
drop_stale_pidfile() {
  local file=$1 name=$2 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file" 2>/dev/null || true)
  if [ -z "$pid" ] || [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" != "$name" ]; then as_root rm -f "$file"; fi
}

if ! docker info >/dev/null 2>&1; then
  drop_stale_pidfile /var/run/docker.pid dockerd
  drop_stale_pidfile /var/run/docker/containerd/containerd.pid containerd
  echo "docker-setup: starting dockerd"
  as_root sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    echo "docker-setup: dockerd did not answer within 60 s; its log:" >&2
    tail -n 40 /var/log/dockerd.log >&2 || true
    exit 1
  fi
fi
docker version --format 'docker-setup: engine {{.Server.Version}} (API {{.Server.APIVersion}}), client {{.Client.Version}}'

#!/usr/bin/env bash
# Makes sure everything `npm test`, `npm run sandbox` and the benchmarks need is installed:
#   - node_modules (npm ci from package-lock.json), only when missing or older than the lock file;
#   - redis-server, redis-sentinel, redis-cli, redis-benchmark (Debian/Ubuntu: apt-get), only when
#     one is missing. The packages' own services are never left running: the tests start their own
#     throw-away processes on free ports.
#   - with --peers: also haproxy and nutcracker (twemproxy), for `npm run bench -- --compare`.
# Idempotent, and quiet and fast (no network) when everything is already there.
set -euo pipefail
peers=0
for arg in "$@"; do
  case "$arg" in
    --peers) peers=1 ;;
    *) printf 'ensure-deps: unknown option %s (only --peers)\n' "$arg" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."

say() { printf 'ensure-deps: %s\n' "$*" >&2; }
die() { printf 'ensure-deps: ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Node.js
command -v node >/dev/null 2>&1 || die "node is not installed: install Node.js 20 or newer (https://nodejs.org) and re-run."
command -v npm >/dev/null 2>&1 || die "npm is not installed: install Node.js 20 or newer (it ships npm) and re-run."
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old: version 20 or newer is required."

# ---------------------------------------------------------------------------------------------
# node_modules
stamp=node_modules/.rsp-deps-stamp
need_npm=0
if [ ! -d node_modules ] || [ ! -x node_modules/.bin/tap ] || [ ! -x node_modules/.bin/tsc ]; then
  need_npm=1
elif [ -f package-lock.json ]; then
  ref=$stamp
  [ -e "$ref" ] || ref=node_modules/.package-lock.json
  if [ ! -e "$ref" ] || [ package-lock.json -nt "$ref" ]; then need_npm=1; fi
fi
if [ "$need_npm" = 1 ]; then
  if [ -f package-lock.json ]; then
    say "installing node modules (npm ci) ..."
    if ! npm ci --no-audit --no-fund --loglevel=error; then
      say "npm ci failed (package-lock.json out of date?); trying npm install"
      npm install --no-audit --no-fund --loglevel=error
    fi
  else
    say "installing node modules (npm install) ..."
    npm install --no-audit --no-fund --loglevel=error
  fi
  touch "$stamp"
fi

# ---------------------------------------------------------------------------------------------
# Redis binaries
redis_bins=(redis-server redis-sentinel redis-cli redis-benchmark)
missing_bins() {
  local b out=()
  for b in "${redis_bins[@]}"; do command -v "$b" >/dev/null 2>&1 || out+=("$b"); done
  echo "${out[*]:-}"
}

# Pids of redis-server / redis-sentinel processes (any user).
redis_pids() { pids_of redis-server redis-sentinel redis-check-rdb; }

# Pids of processes whose command name is one of the arguments (any user).
pids_of() {
  local p comm
  for p in /proc/[0-9]*; do
    comm=$(cat "$p/comm" 2>/dev/null || true)
    # `if`, not `&&`: a last non-matching name must not end the loop with status 1 (pipefail).
    for want in "$@"; do if [ "$comm" = "$want" ]; then echo "${p#/proc/}"; fi; done
  done | sort -n
}

sudo=()
can_apt() {
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo=(sudo -n); else return 1; fi
  fi
  command -v apt-get >/dev/null 2>&1
}

# apt-get update, then install the given packages without starting their services.
apt_install() {
  local policy=/usr/sbin/policy-rc.d created_policy=0
  # Keep the packages' maintainer scripts from starting their services.
  if [ ! -e "$policy" ]; then
    "${sudo[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
    created_policy=1
  fi
  local rc=0
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=$?
  if [ "$rc" = 0 ]; then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" || rc=$?
  fi
  if [ "$created_policy" = 1 ]; then "${sudo[@]}" rm -f "$policy"; fi
  return "$rc"
}

install_redis() {
  can_apt || return 1
  say "installing redis-server redis-sentinel redis-tools with apt-get ..."
  local before
  before=$(redis_pids)
  local rc=0
  apt_install redis-server redis-sentinel redis-tools || rc=$?

  # Nothing may be left running as a system service.
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    "${sudo[@]}" systemctl disable --now redis-server.service redis-sentinel.service >/dev/null 2>&1 || true
  fi
  local p args
  for p in $(comm -13 <(echo "$before") <(redis_pids)); do
    args=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null || true)
    # The packages' default instances: redis-server on 6379, redis-sentinel on 26379.
    if [[ "$args" =~ :(6379|26379)([^0-9]|$) ]]; then
      say "stopping the service the package started (pid $p: $args)"
      "${sudo[@]}" kill -9 "$p" 2>/dev/null || true
    fi
  done
  return "$rc"
}

missing=$(missing_bins)
if [ -n "$missing" ]; then
  if ! install_redis || [ -n "$(missing_bins)" ]; then
    die "missing: $(missing_bins). Install Redis 7 (redis-server, redis-sentinel, redis-cli, redis-benchmark) and re-run:
    Debian/Ubuntu:  sudo apt-get install redis-server redis-sentinel redis-tools
                    (then: sudo systemctl disable --now redis-server redis-sentinel; the tests start their own)
    macOS:          brew install redis
    Other:          build from https://redis.io/download and put the binaries on PATH"
  fi
fi

# ---------------------------------------------------------------------------------------------
# HAProxy and twemproxy (--peers): the alternatives `npm run bench -- --compare` measures
if [ "$peers" = 1 ] && { ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ] || ! command -v nutcracker >/dev/null 2>&1 && [ ! -x /usr/sbin/nutcracker ]; }; then
  can_apt || die "haproxy or nutcracker is missing and cannot be installed here (needs apt-get as root or passwordless sudo): install HAProxy and twemproxy (nutcracker) and re-run."
  say "installing haproxy nutcracker with apt-get ..."
  before=$(pids_of haproxy nutcracker)
  apt_install haproxy nutcracker || die "apt-get could not install haproxy nutcracker"
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    "${sudo[@]}" systemctl disable --now haproxy.service nutcracker.service >/dev/null 2>&1 || true
  fi
  for p in $(comm -13 <(echo "$before") <(pids_of haproxy nutcracker)); do
    say "stopping the service the package started (pid $p)"
    "${sudo[@]}" kill -9 "$p" 2>/dev/null || true
  done
fi

# ---------------------------------------------------------------------------------------------
# iptables, for the partition tests and `npm run bench:partitions` (issue 19: test/helpers/netns.ts
# drops packets between network namespaces with it). Only as root with apt-get, only when missing;
# without it those tests are skipped with the reason.
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null 2>&1 && ! command -v iptables >/dev/null 2>&1 && [ ! -x /usr/sbin/iptables ]; then
  if can_apt; then
    say "installing iptables with apt-get (partition tests) ..."
    apt_install iptables || say "warning: could not install iptables: the partition tests will be skipped"
  fi
fi

# Chromium and Prometheus (issue 18): the status page's browser test drives Debian's chromium
# through playwright-core (no browser download); the alert rules' tests and the real-Prometheus
# test need prometheus and promtool. Installed only when missing, services never started; without
# apt the tests that need them say so and skip.
obs_pkgs=()
{ [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1; } || obs_pkgs+=(chromium)
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || obs_pkgs+=(prometheus)
if [ "${#obs_pkgs[@]}" -gt 0 ]; then
  if can_apt; then
    say "installing ${obs_pkgs[*]} with apt-get ..."
    before=$(pids_of prometheus)
    apt_install "${obs_pkgs[@]}" || say "warning: apt-get could not install ${obs_pkgs[*]}; the status page and Prometheus tests will skip"
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
      "${sudo[@]}" systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    fi
    for p in $(comm -13 <(echo "$before") <(pids_of prometheus)); do
      say "stopping the service the package started (pid $p)"
      "${sudo[@]}" kill -9 "$p" 2>/dev/null || true
    done
  else
    say "warning: ${obs_pkgs[*]} missing and not installable here (needs apt-get as root or passwordless sudo); the status page and Prometheus tests will skip"
  fi
fi

redis_ver=$(redis-server --version | sed -n 's/.* v=\([0-9][0-9.]*\).*/\1/p')
case "$redis_ver" in
  [0-5].* | 6.[01].*) say "warning: redis-server $redis_ver is old; the tests expect Redis 6.2 or newer (7.x recommended)" ;;
esac
exit 0

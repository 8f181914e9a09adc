#!/usr/bin/env bash
# Makes this checkout ready to run, doing only what is missing so a second run is quick:
# Debian packages (as root), npm ci, TypeScript contracts generated from proto/, and the build.
# Used by `npm run demo`, `npm test` and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

# Debian packages the tests and the demo run for real:
# - nats-server: the bus;
# - clang, llvm, libbpf-dev, libelf-dev, zlib1g-dev, build-essential, python3: the BPF programs
#   (dataplane/bpf) and the N-API addon over libbpf (dataplane/addon, built by node-gyp);
# - bpftool, iproute2, iputils-ping, iperf3, ethtool, tshark: the network-namespace lab, its
#   end-to-end tests and the dataplane benchmark.
APT_PACKAGES=(
  nats-server
  clang llvm libbpf-dev libelf-dev zlib1g-dev build-essential python3
  bpftool iproute2 iputils-ping iperf3 ethtool tshark
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark's package asks whether non-root users may capture; the answer is no.
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  # Package lists are fetched only when an install cannot find what it needs.
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  }
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
  echo "setup: Node.js 20 or newer is needed (found $(node --version))" >&2
  exit 1
fi

# npm ci when the lockfile changed since the last install (or nothing is installed).
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f node_modules/.strata-lock-hash || $(cat node_modules/.strata-lock-hash) != "$lock_hash" ]]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" >node_modules/.strata-lock-hash
fi

# Contracts: regenerate when any .proto or the generator config is newer than the output.
stamp=proto/gen/.stamp
if [[ ! -f $stamp ]] || [[ -n $(find proto buf.yaml buf.gen.yaml -newer "$stamp" -not -path 'proto/gen/*' -print -quit) ]]; then
  say "generating TypeScript from proto/"
  rm -rf proto/gen
  npx buf generate
  touch "$stamp"
fi

# BPF programs and the libbpf addon; both rebuild only what changed.
say "building the dataplane (BPF programs, libbpf addon)"
make -s -C dataplane/bpf
bash dataplane/addon/build.sh

# The dataplane pins its maps under bpffs.
if [[ $(id -u) -eq 0 ]] && ! mountpoint -q /sys/fs/bpf; then
  say "mounting bpffs on /sys/fs/bpf"
  mount -t bpf bpf /sys/fs/bpf
fi

# tsc is incremental: a build with nothing changed takes a few seconds.
say "building"
npm run --silent build

#!/usr/bin/env bash
# Builds dataplane/addon/build/Release/strata_bpf.node when its inputs changed; otherwise a fast
# no-op. Inputs: binding.gyp, src/*.cc, src/*.h, the Node.js ABI, node-addon-api and libbpf.
# Needs (Debian 12): build-essential python3 libbpf-dev libelf-dev zlib1g-dev, and the Node.js
# headers under <node prefix>/include/node (nodesource's nodejs package ships them; Debian's
# nodejs needs libnode-dev). Run `npm ci` first (node-gyp, node-addon-api).
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
output=build/Release/strata_bpf.node
stamp=build/.inputs.sha256

# One node start: the install prefix (node-gyp cannot download headers here, so it is pointed
# at the installed ones), then the ABI, the Node.js version and node-addon-api's version.
read -r nodedir abi < <(node -p "[
  require('path').resolve(process.execPath, '..', '..'),
  process.versions.modules + '/' + process.version + '/' +
    require('$root/node_modules/node-addon-api/package.json').version,
].join(' ')")
if [[ ! -f $nodedir/include/node/node_api.h ]]; then
  echo "addon: no Node.js headers in $nodedir/include/node (install libnode-dev)" >&2
  exit 1
fi
if [[ ! -f /usr/include/bpf/libbpf.h ]]; then
  echo "addon: no libbpf headers (apt-get install libbpf-dev libelf-dev zlib1g-dev)" >&2
  exit 1
fi

inputs() {
  sha256sum binding.gyp src/*.cc src/*.h
  echo "$abi"
  dpkg-query -W -f='${Version}\n' libbpf-dev 2>/dev/null || true
}

mkdir -p build
# One build at a time (setup and test runs may start this concurrently).
exec 9>build/.lock
flock 9

hash=$(inputs | sha256sum | cut -d' ' -f1)
if [[ -f $output && -f $stamp && $(cat "$stamp") == "$hash" ]]; then
  exit 0
fi

echo "addon: building $output"
rm -f "$stamp"
# configure + build rather than rebuild: rebuild deletes build/, which holds the lock. The
# generated Makefiles recompile whatever changed, flags included.
gyp=("$root/node_modules/.bin/node-gyp" --nodedir="$nodedir" --loglevel=error)
{ "${gyp[@]}" configure && "${gyp[@]}" build --jobs=max; } >build/.log 2>&1 || {
  cat build/.log >&2
  echo "addon: build failed" >&2
  exit 1
}
echo "$hash" >"$stamp"

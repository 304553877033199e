#!/usr/bin/env bash
# The real-GPU bench: copy and every GPU operator in one run, through Dawn in Node (the `webgpu`
# package), on a machine that has a GPU and no browser. It prints each operator as a ratio of the
# copy measured in the same run, with issue 22's GPU targets as PASS/MISS (bench/dawn-entry.ts
# --report), and the BENCH_RESULT JSON line that `npm run bench -- --dawn` reads.
#
#   bench/gpu-host.sh pack [DIR]   here: bundle the kernels (bench/dawn-entry.ts, WGSL inlined) and
#                                  carry node (gzip), dawn.node and a Vulkan loader into DIR
#                                  (default .cache/gpu-host, ignored by git, about 45 MB)
#   bench/gpu-host.sh run [DIR]    there (or here): unpack node, find the GPU's Vulkan driver, run.
#                                  Refuses a software adapter unless GPU_HOST_ALLOW_SOFTWARE=1.
#   bench/gpu-host.sh smoke        here: pack into a temporary folder and run it on SwiftShader at
#                                  small sizes (checks the carried bundle works; no figures)
#
# Environment: BENCH_DAWN_SIZES (elements, comma-separated; run's default 1048576,16777216),
# GPU_HOST_OPS (only these operators, comma-separated), OUT (when set, the log is also written
# to $OUT/gpu-host.log). On the device machine of this workplace, after `pack` here:
#   run(command: "bash .cache/gpu-host/gpu-host.sh run .cache/gpu-host", carry: [".cache/gpu-host"])
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cmd=${1:-}
dir=${2:-}

pack() {
  local out=$1 root
  root=$(cd "$here/.." && pwd)
  mkdir -p "$out/node_modules/webgpu/dist/linux-x64" "$out/lib"
  (cd "$root" && npx tsx -e "import('./bench/dawn.ts').then((m) => m.bundleDawnEntry(process.argv[1]))" "$out/dawn.mjs")
  local wg="$root/node_modules/webgpu"
  cp "$wg/index.js" "$wg/package.json" "$out/node_modules/webgpu/"
  [ -f "$out/node_modules/webgpu/dist/linux-x64/dawn.node.gz" ] && [ "$out/node_modules/webgpu/dist/linux-x64/dawn.node.gz" -nt "$wg/dist/linux-x64/dawn.node" ] ||
    gzip -6 -c "$wg/dist/linux-x64/dawn.node" >"$out/node_modules/webgpu/dist/linux-x64/dawn.node.gz"
  local node_bin
  node_bin=$(readlink -f "$(command -v node)")
  if [ ! -f "$out/node.gz" ] || [ "$(cat "$out/node.version" 2>/dev/null)" != "$(node -v)" ]; then
    gzip -6 -c "$node_bin" >"$out/node.gz"
    node -v >"$out/node.version"
  fi
  # The Vulkan loader, for a machine that has the GPU's driver but no libvulkan.so.1 (Debian's
  # Chromium ships the Khronos loader beside its SwiftShader ICD).
  for lib in /usr/lib/x86_64-linux-gnu/libvulkan.so.1 /usr/lib/chromium/libvulkan.so.1; do
    if [ -f "$lib" ]; then
      cp -L "$lib" "$out/lib/libvulkan.so.1"
      break
    fi
  done
  cp "$here/gpu-host.sh" "$out/gpu-host.sh"
  echo "gpu-host: packed into $out ($(du -sh "$out" | cut -f1); node $(cat "$out/node.version"), webgpu $(node -p "require('$wg/package.json').version"))"
}

run() {
  local pk=$1 tmp
  tmp=$(mktemp -d)
  gunzip -c "$pk/node.gz" >"$tmp/node"
  chmod +x "$tmp/node"
  [ -f "$pk/node_modules/webgpu/dist/linux-x64/dawn.node" ] || gunzip -k "$pk/node_modules/webgpu/dist/linux-x64/dawn.node.gz"
  if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1 ' && [ -f "$pk/lib/libvulkan.so.1" ]; then
    export LD_LIBRARY_PATH="$pk/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
  # NVIDIA's driver mounted at /usr/local/nvidia (this workplace's GPU machines) has its ICD there.
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd; fi
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  export BENCH_DAWN_SIZES=${BENCH_DAWN_SIZES:-1048576,16777216}
  local args=(--report)
  [ -n "${GPU_HOST_OPS:-}" ] && args+=("--ops=$GPU_HOST_OPS")
  local log="$tmp/gpu-host.log" rc=0
  "$tmp/node" "$pk/dawn.mjs" "${args[@]}" 2>&1 | tee "$log" || rc=$?
  [ -n "${OUT:-}" ] && cp "$log" "$OUT/gpu-host.log"
  if grep -q '^adapter: .*(software)$' "$log" && [ "${GPU_HOST_ALLOW_SOFTWARE:-}" != 1 ]; then
    echo "gpu-host: Dawn found only a software adapter: these are no GPU figures (set GPU_HOST_ALLOW_SOFTWARE=1 to accept)" >&2
    rc=3
  fi
  if ! grep -q '^BENCH_RESULT {"copies"' "$log" && [ "$rc" = 0 ]; then rc=4; fi
  rm -rf "$tmp"
  return "$rc"
}

case "$cmd" in
  pack) pack "${dir:-$here/../.cache/gpu-host}" ;;
  run) run "${dir:-$here}" ;;
  smoke)
    t=$(mktemp -d)
    pack "$t"
    export VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-/usr/lib/chromium/vk_swiftshader_icd.json}
    export GPU_HOST_ALLOW_SOFTWARE=1 BENCH_DAWN_SIZES=${BENCH_DAWN_SIZES:-65536}
    rc=0
    run "$t" || rc=$?
    rm -rf "$t"
    exit "$rc"
    ;;
  *)
    sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac

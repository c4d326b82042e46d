#!/usr/bin/env bash
# The synth-worker engine's checks on a machine with an NVIDIA GPU: the CUDA backend against the
# CPU reference, bit-identical resume on CUDA, each GPU fault made for real, and the benchmarks
# (90-minute 4-speaker script, denoise kernel FLOP/s).
#
#   scripts/gpu-check.sh                 build with cargo (release), then run
#   scripts/gpu-check.sh BIN_DIR         run prebuilt binaries from BIN_DIR (no cargo needed):
#                                        engine_cuda, synth_worker_lib, engine_bench
#   OUT=dir scripts/gpu-check.sh ...     where the logs go (default gpu-check-out)
#
# Prebuilt binaries for a GPU machine without cargo (from a machine with cargo):
#   scripts/gpu-check.sh --build-only DIR
set -uo pipefail

OUT=${OUT:-gpu-check-out}
here=$(cd "$(dirname "$0")/.." && pwd)

build() {
    local dest=$1
    mkdir -p "$dest"
    cd "$here" || exit 2
    local json
    json=$(cargo test --release -p synth-worker --no-run --message-format=json 2>/dev/null) || {
        echo "gpu-check: cargo test --no-run failed" >&2; exit 2; }
    cp "$(echo "$json" | grep -o '"executable":"[^"]*engine_cuda-[^"]*"' | cut -d'"' -f4)" "$dest/engine_cuda"
    cp "$(echo "$json" | grep '"kind":\["lib"\]' | grep '"test":true' | grep -o '"executable":"[^"]*"' | cut -d'"' -f4)" "$dest/synth_worker_lib"
    json=$(cargo bench -p synth-worker --bench engine --no-run --message-format=json 2>/dev/null) || {
        echo "gpu-check: cargo bench --no-run failed" >&2; exit 2; }
    cp "$(echo "$json" | grep -o '"executable":"[^"]*engine-[^"]*"' | cut -d'"' -f4)" "$dest/engine_bench"
    echo "gpu-check: binaries in $dest"
}

if [ "${1:-}" = "--build-only" ]; then
    build "${2:?give a folder for the binaries}"
    exit 0
fi
BIN=${1:-}
if [ -z "$BIN" ]; then
    command -v cargo >/dev/null || { echo "gpu-check: no cargo here; pass a folder of prebuilt binaries" >&2; exit 2; }
    BIN=$(mktemp -d)
    build "$BIN"
fi
BIN=$(cd "$BIN" && pwd)
mkdir -p "$OUT"

# cudarc loads libcuda and libnvrtc at run time; put CUDA's lib folders on the search path.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-*/lib64 /usr/local/nvidia/lib64; do
    [ -d "$d" ] && LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
nvrtc=$(ldconfig -p 2>/dev/null | grep -o '/[^ ]*libnvrtc.so[.0-9]*' | head -1)
[ -n "$nvrtc" ] && LD_LIBRARY_PATH="$(dirname "$nvrtc"):${LD_LIBRARY_PATH:-}"
export LD_LIBRARY_PATH

status=0
{
    echo "== device"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
    ls /usr/local/cuda*/lib64/libnvrtc.so* 2>/dev/null | head -3
} | tee "$OUT/device.txt"

echo "== unit tests (NVRTC compiles the kernels)" | tee "$OUT/tests.txt"
"$BIN/synth_worker_lib" --nocapture 2>&1 | tail -25 | tee -a "$OUT/tests.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "== CUDA engine tests (CPU agreement, resume, faults in child processes)" | tee -a "$OUT/tests.txt"
"$BIN/engine_cuda" --nocapture --test-threads 1 2>&1 | tee -a "$OUT/tests.txt" | grep -v '^$' | tail -40
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo "== kernel log (Xid lines, where readable)" | tee "$OUT/xid.txt"
(dmesg 2>&1 | grep -i xid | tail -10) | tee -a "$OUT/xid.txt"

echo "== benchmarks" | tee "$OUT/bench.txt"
"$BIN/engine_bench" --backend cuda --minutes 90 --speakers 4 --batch 8192 --chunk 8 --compare 2>&1 | tee -a "$OUT/bench.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
"$BIN/engine_bench" --backend cpu --minutes 10 --speakers 4 --batch 4096 --chunk 8 2>&1 | tee -a "$OUT/bench.txt"

echo "gpu-check: exit $status (logs in $OUT)"
exit $status

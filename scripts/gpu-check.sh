#!/usr/bin/env bash
# The synth-worker engine's checks on a machine with an NVIDIA GPU: the CUDA backend against the
# CPU reference, bit-identical resume on CUDA, each GPU fault made for real, and the benchmarks
# (90-minute 4-speaker script, denoise kernel FLOP/s), and served drills on CUDA: the whole
# reference stack as local processes (`--runtime process`: redis-server, haproxy, two synth-worker
# on the GPU), a SIGKILL of the primary mid-job and a real illegal-address kernel, each judged by
# `takeover run` (RTO, job RTO, work lost, bit-identical audio).
#
#   scripts/gpu-check.sh                 build with cargo (release), then run
#   scripts/gpu-check.sh BIN_DIR         run prebuilt binaries from BIN_DIR (no cargo needed):
#                                        engine_cuda, synth_worker_lib, engine_bench, and for the
#                                        served drills takeover, synth-worker, redis-server, haproxy
#                                        (+ BIN_DIR/lib: their shared libraries, from --build-only)
#   STAGES="engine drills" ...           which parts run (default both)
#   OUT=dir scripts/gpu-check.sh ...     where the logs go (default gpu-check-out)
#
# Prebuilt binaries for a GPU machine without cargo or Docker (from a machine with cargo):
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
    cargo build --release -p takeover -p synth-worker >/dev/null 2>&1 || {
        echo "gpu-check: cargo build of takeover and synth-worker failed" >&2; exit 2; }
    local target
    target=$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
    cp "$target/release/takeover" "$target/release/synth-worker" "$dest/"
    # The served drills start the host's redis-server and haproxy; carry them and the shared
    # libraries they need (not the C library itself: the GPU host's own is used).
    mkdir -p "$dest/lib"
    local prog lib
    for prog in redis-server haproxy; do
        cp "$(command -v "$prog")" "$dest/" || { echo "gpu-check: $prog is not installed here" >&2; exit 2; }
    done
    for lib in $(ldd "$dest/redis-server" "$dest/haproxy" | awk '/=> \// {print $3}' | sort -u); do
        case $(basename "$lib") in
            libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*) ;;
            *) cp -L "$lib" "$dest/lib/" ;;
        esac
    done
    # Stripped, the folder fits a 64 MiB transfer to a GPU machine.
    strip "$dest/takeover" "$dest/synth-worker" "$dest/engine_cuda" "$dest/synth_worker_lib" "$dest/engine_bench" 2>/dev/null || true
    echo "gpu-check: binaries in $dest ($(du -sh "$dest" | cut -f1))"
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

STAGES=${STAGES:-engine drills}
status=0

engine_checks() {
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

}

# One served drill: the reference stack as local processes with the workers on CUDA.
drill() {
    local scenario=$1 name
    name=$(basename "$scenario" .yaml)
    echo "== drill $name (runtime process, backend cuda)" | tee -a "$OUT/drills.txt"
    "$BIN/takeover" run "$here/scenarios/$scenario" --runtime process --worker-backend cuda --plain \
        --report-dir "$OUT/drills/$name" --cache-dir "$OUT/drills/.cache" 2>&1 \
        | grep -v '^\[' | tee -a "$OUT/drills.txt"
    local rc=${PIPESTATUS[0]}
    echo "drill $name: exit $rc" | tee -a "$OUT/drills.txt"
    [ "$rc" -eq 0 ] || status=1
}

drills() {
    [ -x "$BIN/takeover" ] || { echo "gpu-check: no takeover in $BIN; skipping the served drills" | tee "$OUT/drills.txt"; return; }
    [ -d "$BIN/lib" ] && export LD_LIBRARY_PATH="$BIN/lib:$LD_LIBRARY_PATH"
    : > "$OUT/drills.txt"
    drill kill-primary-process.yaml
    drill pause-primary-process.yaml
    drill gpu-illegal-address-process.yaml
}

case " $STAGES " in *" engine "*) engine_checks ;; esac
case " $STAGES " in *" drills "*) drills ;; esac

echo "gpu-check: exit $status (logs in $OUT)"
exit $status

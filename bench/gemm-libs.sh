#!/usr/bin/env bash
# bench/gemm-libs.sh — which sgemm is fastest at seal's CPU shapes: installs BLIS
# and oneDNN (Debian packages; seal itself does not use them, so
# scripts/install-deps.sh does not), builds bench/gemm_libs.c and runs it, with the
# machine and library versions in front (what docs/perf.md records).
#
#   bash bench/gemm-libs.sh [BUILD] [gemm_libs options: --threads 1,2 --repeats 7 ...]
#   SEAL_BENCH_NO_INSTALL=1 ...    use what is installed (a missing library is skipped)
set -euo pipefail

build=${1:-build}
[[ $# -gt 0 ]] && shift
packages=(libblis-openmp-dev libdnnl-dev)

if [[ -z "${SEAL_BENCH_NO_INSTALL:-}" ]]; then
  missing=()
  for p in "${packages[@]}"; do
    [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" == "install ok installed" ]] ||
      missing+=("$p")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    echo "gemm-libs: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/tmp/seal-gemm-libs-apt.log 2>&1 || {
      cat /tmp/seal-gemm-libs-apt.log >&2
      echo "gemm-libs: apt-get failed (try apt-get update first)" >&2
      exit 1
    }
  fi
fi

# Configure again so that CMake finds the libraries just installed.
cmake -S . -B "$build" -DSEAL_CUDA=OFF -USEAL_BENCH_BLIS_LIB -USEAL_BENCH_DNNL_LIB >/dev/null
cmake --build "$build" -j2 --target gemm_libs >/dev/null

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPU(s)"
echo "flags: $(grep -m1 -o -w -E 'avx2|fma|avx512f|avx512_bf16|avx512_vnni|amx_tile' /proc/cpuinfo |
  sort -u | tr '\n' ' ')"
echo "packages: $(dpkg-query -W -f='${Package} ${Version}, ' libopenblas0-openmp libblis4-openmp \
  libdnnl2 2>/dev/null)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: $build/gemm_libs $*"
"$build/gemm_libs" "$@"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# scripts/gpu-deps.sh — what seal's build needs on the lent GPU machine beyond
# the shared device prep (/work/shared/device/prepare.sh lays out libyaml,
# Check, jansson and PCRE2 in .devdeps/): utf8proc and the OpenMP build of
# OpenBLAS (with libgfortran5), which CMakeLists.txt requires and the machine's
# CUDA image is not known to carry. Run here, after prepare.sh, from the
# checkout's root; it unpacks the Debian packages into .devdeps/root and
# appends to .devdeps/env.sh the paths CMake, the compiler and the loader need
# (OpenBLAS lives in an openblas-openmp/ subfolder that Debian's alternatives
# would otherwise link into place). Then carry [".devdeps"] as before.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
d="$root/.devdeps"
[[ -f $d/env.sh ]] || { echo "gpu-deps.sh: run /work/shared/device/prepare.sh first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
apt-get download -q libutf8proc-dev libutf8proc2 libopenblas0-openmp libopenblas-openmp-dev \
  libgfortran5 libquadmath0 >/dev/null 2>&1
for f in *.deb; do dpkg -x "$f" "$d/root"; done
ob="$d/root/usr/lib/x86_64-linux-gnu/openblas-openmp"
[[ -f $ob/libopenblas.so.0 && -f $d/root/usr/include/utf8proc.h ]] || {
  echo "gpu-deps.sh: the packages did not unpack as expected" >&2
  exit 1
}
ln -sf libopenblas.so.0 "$ob/libopenblas.so"
# seal links libopenblas.so alone (it holds BLAS and LAPACK): the static
# archive and the separate BLAS/LAPACK shims would only weigh on the 64 MiB a
# device call carries.
rm -f "$ob"/*.a "$ob"/libblas.* "$ob"/liblapack.*
if ! grep -q SEAL_OPENBLAS_DIR "$d/env.sh"; then
  cat >>"$d/env.sh" <<'ENV'
# scripts/gpu-deps.sh: utf8proc, OpenBLAS (OpenMP build)
export SEAL_OPENBLAS_DIR="$_dd/root/usr/lib/x86_64-linux-gnu/openblas-openmp"
export CPATH="$_dd/root/usr/include/x86_64-linux-gnu/openblas-openmp:$CPATH"
export PKG_CONFIG_PATH="$SEAL_OPENBLAS_DIR/pkgconfig:$PKG_CONFIG_PATH"
export LD_LIBRARY_PATH="$SEAL_OPENBLAS_DIR:$LD_LIBRARY_PATH"
export LIBRARY_PATH="$SEAL_OPENBLAS_DIR:$LIBRARY_PATH"
ENV
fi
du -sh "$d" | sed 's/^/.devdeps: /'

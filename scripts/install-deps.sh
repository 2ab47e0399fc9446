#!/usr/bin/env bash
# Installs the Debian packages that seal's build, tests and demo need, and only
# those that are missing. Idempotent: quiet and fast when everything is present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools
  libyaml-dev
  check libsubunit-dev
  libjansson-dev
  libpcre2-dev
  libutf8proc-dev
  libopenblas-dev libopenblas-openmp-dev
  libdnnl-dev
  python3 python3-pip
  # make fuzz: clang with libFuzzer and the sanitizer runtimes, clang's OpenMP,
  # and llvm-symbolizer for readable crash stacks (make test does not need them)
  clang libclang-rt-dev libomp-dev llvm
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# A python3 from elsewhere (pyenv, conda) is as good as Debian's for fetch-model.sh.
if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
  kept=()
  for p in "${missing[@]}"; do
    [[ "$p" == python3 || "$p" == python3-pip ]] || kept+=("$p")
  done
  missing=("${kept[@]+"${kept[@]}"}")
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: apt-get is not available on this machine." >&2
  echo "install-deps: please install these packages (Debian names): ${missing[*]}" >&2
  exit 1
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install-deps: not root and sudo is missing; as root run: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# The package lists may be absent on a fresh machine; update once, then install.
if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/seal-apt.log 2>&1; then
  "${sudo[@]}" apt-get update -qq >/tmp/seal-apt.log 2>&1
  if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/seal-apt.log 2>&1; then
    cat /tmp/seal-apt.log >&2
    echo "install-deps: apt-get failed installing: ${missing[*]}" >&2
    exit 1
  fi
fi

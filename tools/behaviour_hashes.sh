#!/usr/bin/env bash
# SHA-256 fingerprints of what a refactor must not change, for comparing two commits:
#   compose_manifest / compose_pngs: `stylize compose --seeds 0-999` on ../shared/facegen
#   apply_STYLE: `stylize apply` of every bundled style on 16 of those faces (every 60th)
#   model NAME: each bundled model.safetensors
# Usage (from a checkout, with that checkout's code importable):
#   PYTHONPATH=$PWD tools/behaviour_hashes.sh . hashes.txt     # then diff two such files
set -euo pipefail
repo=$(cd "$1" && pwd); out=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$repo"
python3 -m stylize compose --seeds 0-999 --parts ../shared/facegen --out "$work/faces" --quiet >/dev/null
{
  echo "compose_manifest $(sha256sum "$work/faces/manifest.jsonl" | cut -d' ' -f1)"
  echo "compose_pngs $( (cd "$work/faces" && find . -name '*.png' | sort | xargs sha256sum) | sha256sum | cut -d' ' -f1)"
  mkdir -p "$work/in16"
  for i in $(seq 0 15); do cp "$(ls "$work"/faces/*.png | sed -n "$((i * 60 + 1))p")" "$work/in16/"; done
  for s in pencil ink_wash paint pencil-nano ink_wash-nano paint-nano; do
    python3 -m stylize apply --style "$s" "$work/in16" --out "$work/ap/$s" --quiet >/dev/null
    echo "apply_$s $( (cd "$work/ap/$s" && find . -name '*.png' | sort | xargs sha256sum) | sha256sum | cut -d' ' -f1)"
  done
  find "$repo" -path "$repo/.git" -prune -o -name model.safetensors -print | while read -r f; do
    echo "model $(basename "$(dirname "$f")") $(sha256sum "$f" | cut -d' ' -f1)"
  done | sort
} >"$out"

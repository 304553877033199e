#!/usr/bin/env bash
# Merges of the starter LM family's specialists (docs/STARTER.md, "Family lm"): each parent and
# each candidate scored by perplexity on the mixed suite (and each source suite) with garden eval.
#
# usage: scripts/starter/lm-merges.sh [LM_DIR] [WORK_DIR]
#   LM_DIR    the family's folders and suites (default public/starter/lm, built by npm run starter)
#   WORK_DIR  where the imported .slm, recipes and candidates go (default a fresh temporary folder)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
lm="$(cd "${1:-$here/public/starter/lm}" && pwd)"
work="${2:-$(mktemp -d)}"
garden() { node "$here/bin/garden.mjs" "$@"; }
mkdir -p "$work" && cd "$work"

for m in base moby sotu brown; do garden import "$lm/$m" --out "$m.slm" >/dev/null; done

recipe() { # name operator params-json parents-json [base]
  local base=''
  [ "${5:-yes}" = yes ] && base='"base":{"path":"base.slm"},'
  printf '{"kind":"recipe","schemaVersion":1,"operator":"%s","params":%s,"seed":1,%s"parents":%s,"output":{"path":"%s.slm"}}\n' \
    "$2" "$3" "$base" "$4" "$1" >"$1.json"
  garden breed "$1.json" --json >/dev/null
}
all='[{"path":"moby.slm"},{"path":"sotu.slm"},{"path":"brown.slm"}]'
recipe blend3 blend '{}' "$all" no
recipe task-delta task-delta '{"lambda":1}' "$all"
recipe task-delta-half task-delta '{"lambda":0.5}' "$all"
recipe ties ties '{"density":0.5,"lambda":1}' "$all"
recipe dare dare '{"drop":0.5,"lambda":1}' "$all"
recipe dare-ties dare-ties '{"drop":0.5,"lambda":1}' "$all"
recipe slerp-moby-sotu slerp '{"t":0.5}' '[{"path":"moby.slm"},{"path":"sotu.slm"}]' no
recipe slerp-sotu-brown slerp '{"t":0.5}' '[{"path":"sotu.slm"},{"path":"brown.slm"}]' no
recipe slerp-moby-brown slerp '{"t":0.5}' '[{"path":"moby.slm"},{"path":"brown.slm"}]' no

printf '| model | mixed | moby | sotu | brown |\n|---|---:|---:|---:|---:|\n'
for m in base moby sotu brown blend3 task-delta task-delta-half ties dare dare-ties slerp-moby-sotu slerp-sotu-brown slerp-moby-brown; do
  garden eval "$m.slm" --text "$lm/suites/mixed.txt" --text "$lm/suites/moby.txt" --text "$lm/suites/sotu.txt" \
    --text "$lm/suites/brown.txt" --json |
    node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{const r=JSON.parse(s).results;console.log(`| '"$m"' | ${r.map((x)=>x.perplexity.toFixed(2)).join(" | ")} |`)})'
done

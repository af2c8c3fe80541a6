#!/usr/bin/env bash
# test_harmonizer.sh — the learnt harmoniser (src/model/harmonizer.c) against
# PyTorch (python/harmonizer.py): a random tiny GRU written into a model file,
# C logits equal PyTorch's, also after gm_model_save; the same for an ensemble
# of three (the log of their mean posterior); a model without one has
# none; a broken one is a clear error; the shipped one on 10 POP909
# validation melodies (with ../shared/data). Skips without python3-torch.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
GM=${GETMUSIC_BIN:-build/getmusic}
TOOL=${GETMUSIC_TOOL_HARMONIZER:-build/tool_harmonizer}
PY=/usr/bin/python3
skip_all() { echo "SKIP: $*" >&2; echo "test_harmonizer: 0 passed, 0 failed, 1 skipped"; exit 0; }
"$PY" -c 'import torch' 2>/dev/null || skip_all "python3-torch absent"
[ -r models/default.gguf ] || skip_all "models/default.gguf absent"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$PY" python/harmonizer.py selftest "$tmp" --model models/default.gguf && ok || bad "harmonizer.py selftest"
close() { awk '/max \|C - torch\|/ { exit !($5 < 1e-4) }'; }
out=$("$TOOL" "$tmp/tiny.gguf" "$tmp/h.f32" "$tmp/logits.f32") && close <<<"$out" && ok || bad "C logits vs PyTorch: $out"
echo "  $out"
out=$("$TOOL" "$tmp/tiny.gguf" "$tmp/h.f32" "$tmp/logits.f32" "$tmp/resaved.gguf") && close <<<"$out" && ok || bad "after gm_model_save: $out"
# An ensemble of 3 tiny nets: C's scores equal PyTorch's log mean posterior, also after gm_model_save,
# and the file keeps its members (a lone net writes no members key: older readers load it).
"$PY" python/harmonizer.py selftest "$tmp/ens" --model models/default.gguf --members 3 && ok || bad "selftest --members 3"
out=$("$TOOL" "$tmp/ens/tiny.gguf" "$tmp/ens/h.f32" "$tmp/ens/logits.f32") && close <<<"$out" && ok || bad "ensemble vs PyTorch: $out"
echo "  ensemble: $out"
out=$("$TOOL" "$tmp/ens/tiny.gguf" "$tmp/ens/h.f32" "$tmp/ens/logits.f32" "$tmp/ens/resaved.gguf") && close <<<"$out" &&
  ok || bad "ensemble after gm_model_save: $out"
"$PY" - "$tmp" <<'PYEOF' && ok || bad "members key and tensor names"
import sys; sys.path.insert(0, "python"); import gguf_py
d = sys.argv[1]
for f, k in (("ens/tiny.gguf", 3), ("ens/resaved.gguf", 3), ("tiny.gguf", 1), ("resaved.gguf", 1)):
    g = gguf_py.GGUFReader(d + "/" + f)
    assert g.kv.get("getmusic.harmonizer.members", 1) == k, (f, g.kv.get("getmusic.harmonizer.members"))
    names = [n for n in g.tensors if n.startswith("harmonizer.")]
    want = ["harmonizer.%d.in.weight" % i for i in range(k)] if k > 1 else ["harmonizer.in.weight"]
    assert all(w in names for w in want) and len(names) == k * (4 + 8 * 2), (f, len(names))
PYEOF
"$TOOL" models/default.gguf "$tmp/h.f32" "$tmp/logits.f32" >/dev/null 2>&1; rc=$?
if "$GM" info --model models/default.gguf | grep -q "^harmoniser learnt"; then [ $rc = 0 ] && ok || bad "shipped model's harmoniser"
else [ $rc = 2 ] && ok || bad "a model without a harmoniser: exit $rc, want 2"; fi
# A broken harmoniser (its hidden size disagrees with its tensors; an ensemble short of a member) is refused with a message.
# with_key IN OUT KEY VALUE: IN copied to OUT with one u32 key set to VALUE.
with_key() {
  "$PY" - "$@" <<'PYEOF'
import sys; sys.path.insert(0, "python"); import gguf_py, numpy as np
g = gguf_py.GGUFReader(sys.argv[1]); w = gguf_py.GGUFWriter()
gguf_py.copy_kv(g, w, values={sys.argv[3]: int(sys.argv[4])})
for n, a in g.tensors.items(): w.add_tensor(n, np.array(a), g.tensor_info[n][0])
w.write(sys.argv[2])
PYEOF
}
with_key "$tmp/tiny.gguf" "$tmp/broken.gguf" getmusic.harmonizer.hidden 9 && ok || bad "writing a broken harmoniser"
msg=$("$GM" info --model "$tmp/broken.gguf" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "harmoniser: tensor harmonizer.in.weight" <<<"$msg" && ok || bad "broken harmoniser: exit $rc: $msg"
with_key "$tmp/ens/tiny.gguf" "$tmp/short.gguf" getmusic.harmonizer.members 4 && ok || bad "writing an ensemble short of a member"
msg=$("$GM" info --model "$tmp/short.gguf" 2>&1); rc=$?
[ $rc = 1 ] && grep -q "harmoniser: tensor harmonizer.3.in.weight: missing" <<<"$msg" && ok || bad "ensemble short of a member: exit $rc: $msg"
# The shipped harmoniser on 10 POP909 validation melodies (bench_harmonize eval): above the HMM's
# and the recogniser's root accuracy (36%, 30% on all 113), melody CTR at least the labels', chord
# changes a bar within 25% of the labels' (issue 21's targets for the chords it chooses).
BH=${GETMUSIC_BENCH_HARMONIZE:-build/bench_harmonize}
DATA=$(ls -d ../shared/data 2>/dev/null)
if [ -z "$DATA" ] || [ ! -d "$DATA/pop909" ] || [ ! -x "$BH" ]; then
  echo "SKIP: ../shared/data/pop909 or $BH absent: the harmoniser's POP909 figures not checked" >&2; skip=$((skip+1))
elif "$GM" info --model models/default.gguf | grep -q "^harmoniser learnt"; then
  out=$("$BH" eval "$DATA" --model models/default.gguf --songs 10)
  awk '/^labels/ { lab = $(NF-1); lch = $(NF-2) } /^harmonised/ { root = $2 + 0; ctr = $(NF-1); ch = $(NF-2) }
       END { exit !(root >= 40 && ctr >= lab && ch >= 0.75 * lch && ch <= 1.25 * lch) }' <<<"$out" &&
    ok || bad "the shipped harmoniser on 10 validation melodies: $out"
fi
finish test_harmonizer

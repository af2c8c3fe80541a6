#!/usr/bin/env bash
# test_mpi.sh — data-parallel training: `mpirun -np 2` with batch 2 per rank
# gives the same losses, step by step, as one process with batch 4 (dropout
# off; float tolerance for the different summation order). Skips when
# OpenMPI or the MPI build is missing.
set -u
cd "$(dirname "$0")/.."
GM=${GETMUSIC_BIN:-build/getmusic}
# The MPI build is always the plain one (OpenMPI's own allocations upset
# LeakSanitizer); under `make sanitize` the single-process side is sanitized.
MPI_GM=build/getmusic-mpi
if ! command -v mpirun >/dev/null 2>&1; then
  echo "test_mpi: SKIP (no mpirun; apt install openmpi-bin libopenmpi-dev)"; echo "test_mpi: 0 passed, 0 failed, 1 skipped"; exit 0
fi
make -s build/getmusic-mpi >/dev/null 2>&1 || { echo "test_mpi: 0 passed, 1 failed (cannot build $MPI_GM)"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false
. tests/lib.sh
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/in"; cp examples/melody.mid "$tmp/in/a.mid"
"$GM" prepare "$tmp/in" -o "$tmp/c" --window 64 --hop 16 --valid-percent 0 --quiet >/dev/null 2>&1 || bad "prepare"
COMMON="--embd 8 --hidden 16 --layers 1 --heads 2 --ffn 32 --dropout 0 --steps 8 --warmup 2 --lr 3e-3 --eval-every 1 --threads 1 --quiet"
"$GM" train "$tmp/c" -o "$tmp/one.gguf" --batch 4 $COMMON >/dev/null 2>"$tmp/err" && ok || bad "1 process: $(cat "$tmp/err")"
mpirun -np 2 --oversubscribe "$MPI_GM" train "$tmp/c" -o "$tmp/two.gguf" --batch 2 $COMMON >/dev/null 2>"$tmp/err" && ok || bad "mpirun -np 2: $(tail -3 "$tmp/err")"
if [ -x /usr/bin/python3 ]; then
  /usr/bin/python3 - "$tmp/one.gguf.log.jsonl" "$tmp/two.gguf.log.jsonl" <<'PY' && ok || bad "losses differ between 1 process and 2 ranks"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 8, (len(a), len(b))
worst = max(abs(x["loss"] - y["loss"]) / max(abs(x["loss"]), 1e-12) for x, y in zip(a, b))
print("  1 process vs 2 ranks, 8 steps: worst relative loss difference %.2e" % worst, file=sys.stderr)
assert worst < 1e-4, worst
PY
fi
finish test_mpi

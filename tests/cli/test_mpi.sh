#!/bin/bash
# Command-line tests of data-parallel training across MPI processes on this machine: for 1..3
# ranks, 10 steps of a tiny net end with the weights of one worker (fp32 tolerance) and, for
# our ring and tree, with exactly the bits of the same number of workers in one process; a
# resume needs the world size of the state and continues bit for bit; a rank that fails or is
# killed ends the job with a nonzero exit within a bounded time. Skips (passing) when pdl was
# built without MPI or mpirun is missing. Usage: test_mpi.sh PDL_BINARY SOURCE_DIR
source "$(dirname "$0")/lib.sh" "$@"

if ! "$pdl" train --help | grep -q '^MPI: on'; then
    echo "$(basename "$0"): skipped: this pdl was built without MPI"
    exit 0
fi
if ! command -v mpirun >/dev/null; then
    echo "$(basename "$0"): skipped: no mpirun on PATH"
    exit 0
fi
# Open MPI refuses root without these; MPI's own allocations are not ours to leak-check.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi() { ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 timeout 120 mpirun \
    --oversubscribe -np "$@"; }

mkdir -p "$tmp/data"
python3 - "$tmp/data" <<'EOF' || fail "making the fixtures"
import random, struct, sys
rng = random.Random(5)
def image(label):  # 8x8: noise with a bright bar in rows 2c+1, 2c+2
    return bytes(250 if 2 * label + 1 <= i // 8 <= 2 * label + 2 else rng.randrange(90)
                 for i in range(64))
labels = [(i * 7) % 3 for i in range(60)]
with open(f'{sys.argv[1]}/train-images-idx3-ubyte', 'wb') as f:
    f.write(struct.pack('>IIII', 0x803, len(labels), 8, 8) + b''.join(image(c) for c in labels))
with open(f'{sys.argv[1]}/train-labels-idx1-ubyte', 'wb') as f:
    f.write(struct.pack('>II', 0x801, len(labels)) + bytes(labels))
EOF

tiny_model "$tmp/tiny.cfg" 8 batch=12 epochs=3 lr=0.1 momentum=0.9

# same_weights A B TOL: every tensor of the two weights files within TOL (relative to 1 + |b|);
# TOL 0: the same bits.
same_weights() {
    python3 - "$1" "$2" "$3" <<'EOF'
import json, struct, sys
from array import array
def load(path):
    data = open(path, 'rb').read()
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, t in header.items():
        if name != '__metadata__':
            a = array('f')
            a.frombytes(body[t['data_offsets'][0]:t['data_offsets'][1]])
            out[name] = a
    return out
a, b, tol = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
assert a.keys() == b.keys(), (sorted(a), sorted(b))
worst = 0.0
for name in a:
    if tol == 0 and a[name].tobytes() != b[name].tobytes():
        sys.exit(f'{name} differs')
    for x, y in zip(a[name], b[name]):
        worst = max(worst, abs(x - y) / (1 + abs(y)))
if worst > tol:
    sys.exit(f'largest relative difference {worst:.3g} > {tol}')
EOF
}

train=(train "$tmp/tiny.cfg" --data "$tmp/data" --max-steps 10 --quiet)
expect_exit 0 "$pdl" "${train[@]}" --out "$tmp/alone"
# ring and tree over MPI give the bits of the same workers in one process; MPI_Allreduce and
# all of them the weights of one worker within fp32 rounding.
for run in "1 ring" "2 ring" "2 mpi" "3 ring" "3 tree" "3 mpi"; do
    read -r n reduce <<<"$run"
    out="$tmp/mpi_${n}_$reduce"
    expect_exit 0 mpi "$n" "$pdl" "${train[@]}" --out "$out" --reduce "$reduce"
    same_weights "$out/weights.safetensors" "$tmp/alone/weights.safetensors" 2e-5 ||
        fail "mpirun -np $n --reduce $reduce: not the weights of one worker"
    [ "$reduce" = mpi ] && continue
    expect_exit 0 "$pdl" "${train[@]}" --out "$tmp/threads_${n}_$reduce" --workers "$n" \
        --reduce "$reduce"
    same_weights "$out/weights.safetensors" "$tmp/threads_${n}_$reduce/weights.safetensors" 0 ||
        fail "mpirun -np $n --reduce $reduce: not the bits of --workers $n --reduce $reduce"
done

# Resume: the same world size continues bit for bit, another one is refused.
part=(train "$tmp/tiny.cfg" --data "$tmp/data" --quiet --out "$tmp/part" --reduce ring)
expect_exit 0 mpi 2 "$pdl" "${part[@]}" --max-steps 4
expect_exit 1 mpi 3 "$pdl" "${part[@]}" --max-steps 10 --resume
contains "$tmp/err" "trained by 2 data-parallel workers, this run has 3"
expect_exit 0 mpi 2 "$pdl" "${part[@]}" --max-steps 10 --resume
same_weights "$tmp/part/weights.safetensors" "$tmp/mpi_2_ring/weights.safetensors" 0 ||
    fail "a resumed 2-rank run differs from an uninterrupted one"

# A failing rank, a killed rank: the job ends (timeout 120 s would say 124) with an error.
started=$SECONDS
PDL_TEST_FAIL_RANK=1 PDL_TEST_FAIL_STEP=3 expect_exit 1 mpi 2 "$pdl" "${train[@]}" \
    --out "$tmp/fail"
contains "$tmp/err" "rank 1 of 2: injected failure at step 3"
PDL_TEST_FAIL_RANK=1 PDL_TEST_FAIL_STEP=2 PDL_TEST_FAIL_KILL=1 mpi 2 "$pdl" "${train[@]}" \
    --out "$tmp/kill" --reduce ring >"$tmp/out" 2>"$tmp/err"
code=$?
[ "$code" -ne 0 ] && [ "$code" -ne 124 ] || fail "a killed rank: mpirun exited $code"
[ $((SECONDS - started)) -lt 60 ] || fail "failing ranks took $((SECONDS - started)) s to end"

# Workers per process and ranks do not mix.
expect_exit 1 mpi 2 "$pdl" "${train[@]}" --out "$tmp/mixed" --workers 2
contains "$tmp/err" "under MPI each rank is one worker"
finish

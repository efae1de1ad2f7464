#!/bin/bash
# Runs `pdl bench` and its PyTorch peer (bench/peers/pytorch_models.py) on the same models, batch,
# threads and iterations, one model after the other (pdl, then PyTorch), and prints one table:
# training-step and inference images/s of both and their ratio (pdl / PyTorch, above 1: pdl is
# faster), both peak RSS and their ratio (pdl / PyTorch, below 1: pdl uses less), and the
# geometric means of the ratios. Owns the comparison only.
#
# usage: bench/peers/compare_models.sh [PDL_BINARY (build/pdl)] [BATCH (32)] [THREADS (2)]
#                                      [ITERATIONS (5)] [MODEL... (alexnet vgg11 resnet18
#                                      resnet50 googlenet)]
# A MODEL is a name in models/ (resnet18) or a path to a .cfg file.
# environment: PYTHON=interpreter with torch (default /usr/bin/python3),
#              KEEP=folder to keep the raw results in (pdl.tsv, torch.tsv: model, tab, JSON).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PDL=${1:-build/pdl}
BATCH=${2:-32}
THREADS=${3:-2}
ITERATIONS=${4:-5}
shift $(( $# < 4 ? $# : 4 ))
MODELS=("$@")
[ ${#MODELS[@]} -eq 0 ] && MODELS=(alexnet vgg11 resnet18 resnet50 googlenet)
PYTHON=${PYTHON:-/usr/bin/python3}

if [ ! -x "$PDL" ]; then
    echo "compare_models: no pdl binary at '$PDL' (build it, or pass its path)" >&2
    exit 2
fi
if ! "$PDL" bench --help >/dev/null 2>&1; then
    echo "compare_models: '$PDL bench --help' fails: this pdl has no bench command (rebuild it" \
         "from a tree with tools/cmd_bench.c, or pass a newer binary)" >&2
    exit 2
fi
if ! "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
    echo "compare_models: $PYTHON cannot import torch (install it: scripts/install-deps.sh" \
         "--peers, or set PYTHON)" >&2
    exit 2
fi
# Both get the same allocator setting: glibc keeps large buffers instead of returning them to
# the kernel every step (PyTorch runs 2-4x faster with it here; pdl does not allocate per step).
export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295

OUT=${KEEP:-$(mktemp -d)}
mkdir -p "$OUT"
[ -z "${KEEP:-}" ] && trap 'rm -rf "$OUT"' EXIT
: >"$OUT/pdl.tsv"
: >"$OUT/torch.tsv"

echo "== $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs"
echo "== batch $BATCH, $THREADS threads, $ITERATIONS iterations after 1 warm-up"
echo "== command: $0 $PDL $BATCH $THREADS $ITERATIONS ${MODELS[*]}"
failed=0
for model in "${MODELS[@]}"; do
    case "$model" in
        */*|*.cfg) cfg=$model; name=$(basename "$model" .cfg) ;;
        *) cfg=$ROOT/models/$model.cfg; name=$model ;;
    esac
    echo "-- $name: pdl bench" >&2
    if line=$("$PDL" bench "$cfg" --batch "$BATCH" --threads "$THREADS" \
                  --iterations "$ITERATIONS" --json --no-layers | grep '^{' | tail -n 1) \
            && [ -n "$line" ]; then
        printf '%s\t%s\n' "$name" "$line" >>"$OUT/pdl.tsv"
    else
        echo "compare_models: pdl bench $cfg failed" >&2
        failed=1
    fi
    echo "-- $name: pytorch" >&2
    if line=$("$PYTHON" "$ROOT/bench/peers/pytorch_models.py" "$name" --batch "$BATCH" \
                  --threads "$THREADS" --iterations "$ITERATIONS" --json | grep '^{' \
                  | tail -n 1) && [ -n "$line" ]; then
        printf '%s\t%s\n' "$name" "$line" >>"$OUT/torch.tsv"
    else
        echo "compare_models: pytorch_models.py $name failed" >&2
        failed=1
    fi
done

"$PYTHON" - "$OUT/pdl.tsv" "$OUT/torch.tsv" "${MODELS[@]}" <<'EOF'
import json, math, os, sys

def load(path):
    rows = {}
    for line in open(path):
        name, text = line.rstrip("\n").split("\t", 1)
        rows[name] = json.loads(text)
    return rows

pdl, peer = load(sys.argv[1]), load(sys.argv[2])
names = [os.path.basename(m)[:-4] if m.endswith(".cfg") else m for m in sys.argv[3:]]
first = next(iter(peer.values()), None)
if first:
    print("pytorch %s, BLAS: %s" % (first.get("torch", "?"), first.get("blas", "?")))
print("%-10s %10s %10s %6s %10s %10s %6s %10s %10s %6s" % (
    "model", "pdl train", "torch", "ratio", "pdl infer", "torch", "ratio", "pdl RSS",
    "torch RSS", "ratio"))
print("%-10s %10s %10s %6s %10s %10s %6s %10s %10s %6s" % (
    "", "img/s", "img/s", "", "img/s", "img/s", "", "MiB", "MiB", ""))
ratios = {"train": [], "infer": [], "rss": []}

def cell(r, key, scale):
    """(text, value) of one measurement; ("-", None) when missing."""
    v = r.get(key) if r else None
    if isinstance(v, (int, float)) and v > 0:
        return "%10.1f" % (v / scale), v
    return "%10s" % "-", None

for name in names:
    p, t = pdl.get(name), peer.get(name)
    out = ["%-10s" % name]
    for kind, key, scale in (("train", "train_images_per_s", 1.0),
                             ("infer", "infer_images_per_s", 1.0),
                             ("rss", "peak_rss_bytes", 1048576.0)):
        ptext, pv = cell(p, key, scale)
        ttext, tv = cell(t, key, scale)
        if pv and tv:
            ratios[kind].append(pv / tv)
            out += [ptext, ttext, "%6.2f" % (pv / tv)]
        else:
            out += [ptext, ttext, "%6s" % "-"]
    print(" ".join(out))

def gmean(xs):
    return "%6.2f" % math.exp(sum(map(math.log, xs)) / len(xs)) if xs else "%6s" % "-"

print("%-10s %10s %10s %s %10s %10s %s %10s %10s %s" % (
    "geo. mean", "", "", gmean(ratios["train"]), "", "", gmean(ratios["infer"]), "", "",
    gmean(ratios["rss"])))
print("ratios are pdl / PyTorch: images/s above 1 and RSS below 1 favour pdl "
      "(goals: train >= 1.0 each and 1.5 geo. mean, infer 1.5 geo. mean, RSS <= 0.8)")
EOF
status=$?
[ $status -ne 0 ] && exit $status
exit $failed

#!/usr/bin/python3
"""The PyTorch peer of `pdl bench`: training-step and inference speed and peak memory of
torchvision's AlexNet, VGG-11, ResNet-18, ResNet-50 and GoogLeNet (rebuilt in plain torch.nn by
bench/peers/torchvision_counts.py, the same networks as models/*.cfg) on random 3x224x224 input
and random labels. Owns the peer measurement only; bench/peers/compare_models.sh runs pdl and this
script and prints the ratios.

Per model: one warm-up step, then ITERATIONS timed training steps (forward + cross-entropy,
backward, SGD with momentum 0.9), then one warm-up and ITERATIONS timed inference forwards in eval
mode under torch.no_grad(). Prints median/min/max ms and images/s (batch / median) of both, and
the peak RSS (ru_maxrss) of the whole process after the training steps: the interpreter, torch,
the weights, the optimizer state and the largest training step. Each model runs in its own child
process so that one model's peak does not hide in another's.

The children get, unless --glibc-default is given, the allocator setting that makes PyTorch
2-4x faster on this machine (glibc otherwise returns the large per-step buffers to the kernel and
faults them in again every step):
  GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295
and OMP_NUM_THREADS / OPENBLAS_NUM_THREADS equal to --threads unless already set.

usage: python3 bench/peers/pytorch_models.py [MODEL...] [--batch 32] [--threads 2]
           [--iterations 5] [--json]
--json prints one JSON object per model and line, with pdl bench's key names where they apply
(model, batch, threads, train_ms, forward_ms, backward_ms, infer_ms, train_images_per_s,
infer_images_per_s, peak_rss_bytes) plus the peer's own (torch, blas, glibc_tunables, ...).
"""

import argparse
import importlib.util
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODELS = ["alexnet", "vgg11", "resnet18", "resnet50", "googlenet"]
TUNABLES = "glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295"


def stats(seconds):
    """{median, min, max} in ms of a list of durations in seconds."""
    ms = [s * 1000.0 for s in seconds]
    return {"median": round(statistics.median(ms), 3), "min": round(min(ms), 3),
            "max": round(max(ms), 3)}


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def build_info(torch):
    """The BLAS/oneDNN/OpenMP settings and CPU capability of torch.__config__.show()."""
    text = torch.__config__.show()
    found = ["%s=%s" % kv for kv in
             re.findall(r"\b(BLAS_INFO|USE_MKLDNN|USE_OPENMP)=([^,\s]*)", text)]
    cpu = re.search(r"CPU capability usage: (\S+)", text)
    if cpu:
        found.append("CPU=" + cpu.group(1))
    return " ".join(found)


def measure(name, batch, threads, iterations):
    """Runs in the child: times one model and returns its result dict."""
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, HERE)
    from torchvision_counts import MODELS
    from pytorch_fashion import blas_library

    if name not in MODELS:
        sys.exit("pytorch_models: unknown model '%s' (known: %s)" % (name, ", ".join(MODELS)))
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = MODELS[name]()
    x = torch.randn(batch, 3, 224, 224)
    y = torch.randint(0, 1000, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    setup_rss = peak_rss_bytes()

    def train_step():
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        return (t1 - t0, t2 - t1, t3 - t2, t3 - t0), loss

    model.train()
    train_step()  # warm-up
    times = [train_step() for _ in range(iterations)]
    loss = times[-1][1].item()
    train_rss = peak_rss_bytes()
    fwd, bwd, upd, total = (list(t) for t in zip(*(t for t, _ in times)))

    model.eval()
    infer = []
    with torch.no_grad():
        model(x)  # warm-up
        for _ in range(iterations):
            t0 = time.perf_counter()
            model(x)
            infer.append(time.perf_counter() - t0)

    train_ms, infer_ms = stats(total), stats(infer)
    return {
        "model": name, "peer": "pytorch", "batch": batch, "threads": threads,
        "iterations": iterations,
        "train_ms": train_ms, "forward_ms": stats(fwd), "backward_ms": stats(bwd),
        "update_ms": stats(upd), "infer_ms": infer_ms,
        "train_images_per_s": round(batch * 1000.0 / train_ms["median"], 2),
        "infer_images_per_s": round(batch * 1000.0 / infer_ms["median"], 2),
        "peak_rss_bytes": train_rss, "setup_rss_bytes": setup_rss,
        "final_loss": round(loss, 5),
        "torch": torch.__version__, "blas": blas_library(), "build": build_info(torch),
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
    }


def child_env(args):
    env = dict(os.environ)
    if not args.glibc_default:
        env["GLIBC_TUNABLES"] = TUNABLES
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.setdefault(var, str(args.threads))
    return env


def run_child(name, args):
    """The result dict of one model measured in a fresh interpreter, or None on failure."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", name, "--batch", str(args.batch),
           "--threads", str(args.threads), "--iterations", str(args.iterations)]
    proc = subprocess.run(cmd, env=child_env(args), stdout=subprocess.PIPE, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        print("pytorch_models: %s failed (exit status %d)" % (name, proc.returncode),
              file=sys.stderr, flush=True)
        return None
    return json.loads(lines[-1])


def mib(n):
    return "%.0f MiB" % (n / 1048576.0)


def print_header(r, args):
    print("pytorch %s, %d threads, batch %d, %d timed iterations after 1 warm-up; ms as "
          "median [min-max]" % (r["torch"], args.threads, args.batch, args.iterations))
    print("BLAS: %s; build: %s" % (r["blas"], r["build"] or "?"))
    print("GLIBC_TUNABLES=%s" % (r["glibc_tunables"] or "(unset: glibc's default malloc, "
                                 "PyTorch runs several times slower here)"))
    print("%-10s %26s %9s %9s %9s %26s %9s %10s" % (
        "model", "train step ms", "img/s", "fwd ms", "bwd ms", "inference ms", "img/s",
        "peak RSS"))


def print_row(r):
    def span(s):
        return "%.1f [%.1f-%.1f]" % (s["median"], s["min"], s["max"])
    print("%-10s %26s %9.1f %9.1f %9.1f %26s %9.1f %10s" % (
        r["model"], span(r["train_ms"]), r["train_images_per_s"], r["forward_ms"]["median"],
        r["backward_ms"]["median"], span(r["infer_ms"]), r["infer_images_per_s"],
        mib(r["peak_rss_bytes"])), flush=True)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", metavar="MODEL",
                        help="default: %s" % " ".join(DEFAULT_MODELS))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--iterations", type=int, default=5, help="timed steps after 1 warm-up")
    parser.add_argument("--json", action="store_true", help="one JSON object per model and line")
    parser.add_argument("--glibc-default", action="store_true",
                        help="leave GLIBC_TUNABLES as it is (default: set the fast setting)")
    parser.add_argument("--child", metavar="MODEL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.batch < 1 or args.threads < 1 or args.iterations < 1:
        parser.error("--batch, --threads and --iterations must be at least 1")

    if args.child:
        print(json.dumps(measure(args.child, args.batch, args.threads, args.iterations)),
              flush=True)
        return 0

    if importlib.util.find_spec("torch") is None:
        print("pytorch_models: torch cannot be imported by %s (run the script with Debian's "
              "/usr/bin/python3, which python3-torch installs into: scripts/install-deps.sh "
              "--peers)" % sys.executable, file=sys.stderr)
        return 2
    failed = 0
    header = False
    for name in args.models or DEFAULT_MODELS:
        r = run_child(name, args)
        if r is None:
            failed += 1
            continue
        if "/blas/" in r["blas"] and not header:
            print("warning: PyTorch uses the netlib reference BLAS (%s), which slows its fc "
                  "layers several times; install libopenblas0-pthread for a fair peer"
                  % r["blas"], file=sys.stderr, flush=True)
        if args.json:
            print(json.dumps(r), flush=True)
        else:
            if not header:
                print_header(r, args)
            print_row(r)
        header = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

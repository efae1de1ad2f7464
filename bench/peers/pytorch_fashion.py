#!/usr/bin/python3
"""The PyTorch peer of `pdl train models/fashion_cnn.cfg`: the same network, initialization
(He-normal weights, zero biases), optimizer, learning-rate schedule and batch size, read from
the [train] section of the model file so the two stay in sync. Owns the peer measurement only;
bench/peers/compare_fashion.sh runs both and prints the ratio.

Prints per epoch: training seconds, images/s, mean training loss, test accuracy; then one JSON
line with the same numbers (seconds_per_epoch is the median over epochs).

Run it the way pdl is measured, on the same number of threads, e.g.:
  GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295 \\
    /usr/bin/python3 bench/peers/pytorch_fashion.py --threads 2 --epochs 1
The GLIBC_TUNABLES setting (recommended) keeps glibc from returning PyTorch's large per-step
buffers to the kernel and faulting them in again every step, which otherwise costs PyTorch
several percent on small CNNs.
"""

import argparse
import gzip
import json
import math
import os
import re
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from fashion_cnn_torch import FashionCNN

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.join(HERE, "..", "..", "models", "fashion_cnn.cfg")
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"

# The [train] keys this peer uses and their defaults (src/optim/train_config.c).
TRAIN_DEFAULTS = {
    "batch": "64", "epochs": "10", "seed": "1", "optimizer": "sgd", "lr": "0.01",
    "momentum": "0.9", "nesterov": "0", "weight_decay": "0", "beta1": "0.9", "beta2": "0.999",
    "eps": "1e-8", "lr_policy": "fixed", "gamma": "0.1", "step_size": "0", "milestones": "",
    "power": "1", "max_iter": "0", "min_lr": "0", "warmup_iters": "0", "warmup_start": "0.1",
    "clip_norm": "0", "accumulate": "1",
}


def read_train_section(path):
    """The [train] section of a model file as {key: value text}, defaults filled in."""
    values = dict(TRAIN_DEFAULTS)
    section = None
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            header = re.fullmatch(r"\[\s*(\w+)\s*\]", line)
            if header:
                section = header.group(1)
            elif section == "train" and "=" in line:
                key, value = (part.strip() for part in line.split("=", 1))
                if key not in TRAIN_DEFAULTS and key not in ("topk",):
                    sys.exit(f"{path}: [train] key '{key}' is not known to this peer")
                values[key] = value
    return values


class Schedule:
    """pdl_lr_at (src/optim/schedule.c): the rate at optimizer step it (0-based)."""

    def __init__(self, t, total_steps):
        self.policy = t["lr_policy"]
        self.lr = float(t["lr"])
        self.gamma = float(t["gamma"])
        self.step_size = int(t["step_size"])
        self.milestones = [int(m) for m in t["milestones"].split(",") if m.strip()]
        self.power = float(t["power"])
        self.max_iter = int(t["max_iter"]) or total_steps
        self.min_lr = float(t["min_lr"])
        self.warmup = int(t["warmup_iters"])
        self.warmup_start = float(t["warmup_start"])

    def policy_lr(self, it):
        progress = min(1.0, it / self.max_iter)
        if self.policy == "fixed":
            return self.lr
        if self.policy == "step":
            return self.lr * self.gamma ** (it // self.step_size)
        if self.policy == "multistep":
            return self.lr * self.gamma ** sum(1 for m in self.milestones if m <= it)
        if self.policy == "exp":
            return self.lr * self.gamma ** it
        if self.policy == "poly":
            return self.lr * (1.0 - progress) ** self.power
        if self.policy == "cosine":
            return self.min_lr + (self.lr - self.min_lr) * (1.0 + math.cos(math.pi * progress)) / 2
        sys.exit(f"lr_policy '{self.policy}' is not known to this peer")

    def __call__(self, it):
        if it < self.warmup:
            start = self.warmup_start * self.policy_lr(0)
            end = self.policy_lr(self.warmup)
            return start + (end - start) * it / self.warmup
        return self.policy_lr(it)


def read_idx(path):
    """An MNIST-style IDX file (raw or gzip) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        sys.exit(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find_idx(folder, split, kind):
    for name in (f"{split}-{kind}", f"{split}-{kind}.gz"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    sys.exit(f"{folder}: no {split}-{kind}[.gz] (install dataset-fashion-mnist or pass --data)")


def load_split(folder, split):
    images = read_idx(find_idx(folder, split, "images-idx3-ubyte"))
    labels = read_idx(find_idx(folder, split, "labels-idx1-ubyte"))
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x.contiguous(), torch.from_numpy(labels.astype(np.int64))


def make_model():
    """pdl's initialization: He-normal weights (fan in), zero biases."""
    model = FashionCNN()
    for m in (model.conv1, model.conv2, model.fc1, model.fc2):
        torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        if m.bias is not None:
            torch.nn.init.zeros_(m.bias)
    return model


def make_optimizer(t, params):
    kind, lr, wd = t["optimizer"], float(t["lr"]), float(t["weight_decay"])
    betas = (float(t["beta1"]), float(t["beta2"]))
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=float(t["momentum"]), weight_decay=wd,
                               nesterov=t["nesterov"] in ("1", "true"))
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, eps=float(t["eps"]), weight_decay=wd)
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, eps=float(t["eps"]), weight_decay=wd)
    sys.exit(f"optimizer '{kind}' is not known to this peer")


def blas_library():
    """The BLAS library this process mapped (PyTorch's matrix products for the fc layers)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "/" in line}
    except OSError:
        return "unknown"
    found = sorted(p for p in paths if re.search(r"blas|mkl_|blis", os.path.basename(p)))
    return ", ".join(found) or "none mapped"


def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    model.train()
    return correct / len(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model file with a [train] section")
    parser.add_argument("--data", default=DEFAULT_DATA, help="folder with the IDX files")
    parser.add_argument("--epochs", type=int, help="override [train] epochs")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    t = read_train_section(args.model)
    epochs = args.epochs or int(t["epochs"])
    batch, accumulate = int(t["batch"]), int(t["accumulate"])
    micro = batch // accumulate
    clip_norm = float(t["clip_norm"])
    torch.manual_seed(int(t["seed"]))

    train_x, train_y = load_split(args.data, "train")
    test_x, test_y = load_split(args.data, "t10k")
    steps_per_epoch = len(train_x) // batch
    model = make_model()
    model.train()
    opt = make_optimizer(t, model.parameters())
    schedule = Schedule(t, steps_per_epoch * epochs)
    blas = blas_library()
    if "/blas/" in blas:
        print(f"warning: PyTorch uses the netlib reference BLAS ({blas}), which slows its fc "
              "layers several times; install libopenblas0-pthread for a fair peer", flush=True)
    print(f"pytorch {torch.__version__}, {args.threads} threads, batch {batch}, "
          f"{t['optimizer']} lr {t['lr']} ({t['lr_policy']}), {epochs} epochs, "
          f"{steps_per_epoch} steps/epoch", flush=True)

    step = 0
    results = []
    for epoch in range(epochs):
        order = torch.randperm(len(train_x))
        loss_sum = 0.0
        start = time.perf_counter()
        for b in range(steps_per_epoch):
            for group in opt.param_groups:
                group["lr"] = schedule(step)
            opt.zero_grad(set_to_none=True)
            for m in range(accumulate):
                index = order[b * batch + m * micro:b * batch + (m + 1) * micro]
                loss = F.cross_entropy(model(train_x[index]), train_y[index])
                (loss / accumulate).backward()
                loss_sum += loss.item() / accumulate
            if clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            opt.step()
            step += 1
        seconds = time.perf_counter() - start
        accuracy = evaluate(model, test_x, test_y)
        results.append({"epoch": epoch, "seconds": seconds,
                        "images_per_s": steps_per_epoch * batch / seconds,
                        "train_loss": loss_sum / steps_per_epoch, "test_accuracy": accuracy})
        r = results[-1]
        print(f"epoch {epoch + 1}/{epochs}: {seconds:.2f} s, {r['images_per_s']:.0f} images/s, "
              f"train loss {r['train_loss']:.4f}, test accuracy {accuracy:.4f}", flush=True)

    seconds = statistics.median(r["seconds"] for r in results)
    print(json.dumps({
        "peer": "pytorch", "torch": torch.__version__, "model": "fashion_cnn",
        "threads": args.threads, "batch": batch, "epochs": epochs,
        "seconds_per_epoch": round(seconds, 3),
        "images_per_s": round(steps_per_epoch * batch / seconds, 1),
        "train_loss": round(results[-1]["train_loss"], 5),
        "test_accuracy": results[-1]["test_accuracy"],
        "blas": blas, "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
    }))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""The Python peer of bench/data_bench.c: the same work on the same LMDB datasets, done the way
a PyTorch input pipeline does it on one DataLoader worker (python3-lmdb, protobuf, PIL decode,
torchvision-like transforms in numpy): LMDB reads (records/s, by key in random order), PIL
decode (images/s), and decode + random crop 224 + random mirror + mean image subtraction +
scale into a contiguous float32 (C, H, W) array (images/s). One thread, timed by process CPU
time, median of --runs passes after a warm-up pass. Owns the peer side only.

usage: data_peer.py --make-images DIR COUNT     (photo-like 256x256 PNG files in 4 class folders)
       data_peer.py [--runs N] [--json] DATASET...   (dataset folders with train_db/)
"""
import argparse
import io
import json
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import lmdb  # noqa: E402
import numpy as np  # noqa: E402
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # noqa: E402
from PIL import Image  # noqa: E402

CROP = 224
SCALE = 1.0 / 255.0


def caffe_messages():
    """Datum and BlobProto classes built from their descriptors (src/data/caffe.proto's fields)."""
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="pdl_peer_caffe.proto", package="caffe",
                                             syntax="proto2")
    datum = fdp.message_type.add(name="Datum")
    for name, number, kind in (("channels", 1, F.TYPE_INT32), ("height", 2, F.TYPE_INT32),
                               ("width", 3, F.TYPE_INT32), ("data", 4, F.TYPE_BYTES),
                               ("label", 5, F.TYPE_INT32), ("encoded", 7, F.TYPE_BOOL)):
        datum.field.add(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL)
    datum.field.add(name="float_data", number=6, type=F.TYPE_FLOAT, label=F.LABEL_REPEATED)
    shape = fdp.message_type.add(name="BlobShape")
    shape.field.add(name="dim", number=1, type=F.TYPE_INT64, label=F.LABEL_REPEATED)
    blob = fdp.message_type.add(name="BlobProto")
    blob.field.add(name="shape", number=7, type=F.TYPE_MESSAGE, type_name=".caffe.BlobShape",
                   label=F.LABEL_OPTIONAL)
    blob.field.add(name="data", number=5, type=F.TYPE_FLOAT, label=F.LABEL_REPEATED)
    for name, number in (("num", 1), ("channels", 2), ("height", 3), ("width", 4)):
        blob.field.add(name=name, number=number, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    get = getattr(message_factory, "GetMessageClass", None)
    if get is None:
        factory = message_factory.MessageFactory(pool)
        get = factory.GetPrototype
    return (get(pool.FindMessageTypeByName("caffe.Datum")),
            get(pool.FindMessageTypeByName("caffe.BlobProto")))


Datum, BlobProto = caffe_messages()


def make_images(folder, count):
    """Smooth shapes plus sensor-like noise: compresses like a photo, not like a test card."""
    rng = np.random.default_rng(1)
    for i in range(count):
        low = (rng.random((6, 6, 3)) * 255).astype(np.uint8)
        base = np.asarray(Image.fromarray(low).resize((256, 256), Image.BICUBIC), np.float32)
        noise = rng.normal(0, 6, base.shape)
        pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
        cls = os.path.join(folder, f"class{i % 4}")
        os.makedirs(cls, exist_ok=True)
        Image.fromarray(pixels).save(os.path.join(cls, f"img{i:05d}.png"))


class Bench:
    def __init__(self, folder):
        self.env = lmdb.open(os.path.join(folder, "train_db"), readonly=True, lock=False)
        self.txn = self.env.begin()
        self.keys = [k for k, _ in self.txn.cursor()]
        order = np.random.default_rng(1).permutation(len(self.keys))
        self.keys = [self.keys[i] for i in order]
        blob = BlobProto()
        with open(os.path.join(folder, "mean.binaryproto"), "rb") as f:
            blob.ParseFromString(f.read())
        c, h, w = blob.channels, blob.height, blob.width
        # Caffe stores BGR; the decoded images are RGB
        self.mean = np.asarray(blob.data, np.float32).reshape(c, h, w)[::-1].copy()
        self.rng = np.random.default_rng(2)

    def lmdb_read(self):
        total = 0
        for key in self.keys:
            total += len(self.txn.get(key))
        return total

    def decode(self, key):
        datum = Datum()
        datum.ParseFromString(self.txn.get(key))
        img = Image.open(io.BytesIO(datum.data))
        return np.asarray(img.convert("RGB")), datum.label

    def decode_only(self):
        total = 0
        for key in self.keys:
            total += self.decode(key)[0].shape[0]
        return total

    def decode_augment(self):
        total = 0.0
        for key in self.keys:
            pixels, _ = self.decode(key)  # (H, W, 3)
            h, w = pixels.shape[:2]
            y0 = int(self.rng.integers(0, h - CROP + 1))
            x0 = int(self.rng.integers(0, w - CROP + 1))
            crop = pixels[y0:y0 + CROP, x0:x0 + CROP].transpose(2, 0, 1)  # (3, CROP, CROP)
            mean = self.mean[:, y0:y0 + CROP, x0:x0 + CROP]
            if self.rng.integers(0, 2):
                crop, mean = crop[:, :, ::-1], mean[:, :, ::-1]
            x = np.ascontiguousarray((crop.astype(np.float32) - mean) * SCALE)
            total += float(x[0, 0, 0])
        return total


def rate(bench, work, runs):
    work()  # warm-up
    rates = []
    for _ in range(runs):
        t0 = time.process_time()
        work()
        rates.append(len(bench.keys) / (time.process_time() - t0))
    return statistics.median(rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--make-images", nargs=2, metavar=("DIR", "COUNT"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("datasets", nargs="*")
    a = parser.parse_args()
    if a.make_images:
        make_images(a.make_images[0], int(a.make_images[1]))
        return
    for folder in a.datasets:
        bench = Bench(folder)
        for work, fn in (("lmdb_read", bench.lmdb_read), ("decode", bench.decode_only),
                         ("decode_augment", bench.decode_augment)):
            per_s = rate(bench, fn, a.runs)
            if a.json:
                print(json.dumps({"dataset": folder, "work": work, "threads": 1,
                                  "per_s": round(per_s, 1)}))
            else:
                print(f"{folder:28s} {work:16s} {1:7d} {per_s:12.1f}")


if __name__ == "__main__":
    main()

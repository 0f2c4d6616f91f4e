# Provenance: the exact script that trained exported_models/srfm_mp (run from the repo root),
# kept as it ran. It predates keras_srfm.data; new runs should use `srfm train`.
# Calls, in order (see resume_log.jsonl): `... 20000` (steps 0-3750, before the schedule
# arguments existed: rate 2e-4, Keras' epsilon 1e-7), `... 12000 1e-4 2500` (3750-7500),
# `... 12000 1e-4 2500 0.25 5000` (7500-8500, stopped there).
"""Interim driver for the background M_p run (data pipeline helper not landed yet).

HR: shared/data/train (T91, General100, BSD200) + samples (DIV2K/Flickr2K); LR = MATLAB bicubic
of the whole mod-4 HR image (numpy, once); random aligned 24/96 crops + rot90/flips in tf.data.
"""
import sys, time
from pathlib import Path
import numpy as np, tensorflow as tf
from PIL import Image
sys.path.insert(0, ".")
from keras_srfm.imresize import imresize
from keras_srfm.config import *
from keras_srfm.training.runner import RunConfig, run_training
from keras_srfm.training import loss_config_for

root = Path("../shared/data")
files = sorted(p for d in ["train/T91/HR", "train/General100/HR", "train/BSD200/HR"] for p in (root / d).iterdir())
files += sorted(p for p in (root / "samples").rglob("*") if p.suffix.lower() == ".png" and "HR" in str(p) )
cache = Path("runs/mp_pairs.npz")
t0 = time.time()
hrs, lrs = [], []
for p in files:
    hr = np.asarray(Image.open(p).convert("RGB"))
    h, w = hr.shape[0] // 4 * 4, hr.shape[1] // 4 * 4
    hr = hr[:h, :w]
    if min(h, w) < 96: continue
    hrs.append(hr); lrs.append(imresize(hr, 0.25))
print(f"{len(hrs)} images prepared in {time.time()-t0:.0f}s", flush=True)
sizes = np.array([x.shape[0] * x.shape[1] for x in hrs], dtype=np.float64)

def gen():
    rng = np.random.default_rng(int(time.time()))
    while True:
        i = rng.choice(len(hrs), p=sizes / sizes.sum())
        lr, hr = lrs[i], hrs[i]
        for _ in range(8):
            y = rng.integers(0, lr.shape[0] - 24 + 1); x = rng.integers(0, lr.shape[1] - 24 + 1)
            yield lr[y:y+24, x:x+24], hr[4*y:4*y+96, 4*x:4*x+96]

def aug(lr, hr):
    k = tf.random.uniform([], 0, 4, tf.int32)
    lr, hr = tf.image.rot90(lr, k), tf.image.rot90(hr, k)
    flip = tf.random.uniform([]) < 0.5
    lr = tf.cond(flip, lambda: tf.image.flip_left_right(lr), lambda: lr)
    hr = tf.cond(flip, lambda: tf.image.flip_left_right(hr), lambda: hr)
    return tf.cast(lr, tf.float32) / 255.0, tf.cast(hr, tf.float32) / 255.0

sig = (tf.TensorSpec((24, 24, 3), tf.uint8), tf.TensorSpec((96, 96, 3), tf.uint8))
ds = (tf.data.Dataset.from_generator(gen, output_signature=sig).shuffle(512).map(aug, num_parallel_calls=2)
      .batch(16, drop_remainder=True).prefetch(2))
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
run = RunConfig(
    train=TrainConfig(variant="p", steps=steps, g_learning_rate=float(sys.argv[2]) if len(sys.argv) > 2 else 1e-4,
                      decay_every=int(sys.argv[3]) if len(sys.argv) > 3 else 100_000, decay_factor=float(sys.argv[4]) if len(sys.argv) > 4 else 0.5,
                      decay_start=int(sys.argv[5]) if len(sys.argv) > 5 else 3750,
                      adam_epsilon=1e-12, checkpoint_every=250,
                      keep_checkpoints=2, jit_compile=True),
    data=DataConfig(sources=("../shared/data/train", "../shared/data/samples"), patches_per_image=8),
    generator=GeneratorConfig(), discriminator=DiscriminatorConfig(), loss=loss_config_for("p"))
run_training(run, "runs/mp", dataset=ds, bench_dir="../shared/data/benchmarks/Set5/HR", verbose=2)

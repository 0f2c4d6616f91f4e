"""GPU training on the Keras JAX backend, for machines that have a GPU but no TensorFlow.

`srfm train --backend jax` is the package's resumable way to do this (the run folder of
`srfm train`, checkpoints, `--export-only`); this script is the one that trained the shipped
models (see `tools/gpu_zoo.sh`), with its own flags and a device-resident patch pool, and
takes the same update (`keras_srfm.training.jax_step`).

The project's lent GPU machines ship JAX, not TensorFlow, and a TensorFlow CUDA wheel is too
large to carry there. This driver trains the *same* networks (`keras_srfm.models`) with the
*same* loss equations (`keras_srfm.losses`, written in `keras.ops`) as `SRFM.train_step`, on a
single device, with the package's JAX step (`keras_srfm.training.jax_step`, Keras' stateless API, the
objective of `keras_srfm.training.objective` that `SRFM.train_step` uses too), for all five variants (`p`, `pva`, `pca`, `pcsa`,
`pcsva`); the variants with L_vgg need a local VGG19 weights file (`--vgg-weights`, truncated
files such as `vgg19_block1to3_imagenet.h5` with `--vgg-layer block3_conv4`). Everything else
(evaluation, export, the CLI) stays on TensorFlow: the `.keras` files written here load there
unchanged.

Data recipe, as in the CPU phase of `srfm_mp` (`exported_models/srfm_mp/recipe.json`):
every HR image is mod-cropped to 4, its LR is the MATLAB bicubic of the whole image
(`keras_srfm.imresize`), aligned 24/96 crops are drawn with probability proportional to image
area (8 per draw) into a pool held on the device, and each sample gets a random rot90/flip.

    KERAS_BACKEND=jax python tools/train_jax.py --variant p --init G.keras --data DIR \\
        --bench Set5/HR --steps 40000 --decay-at 24000 34000 --out runs/mp_gpu
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import keras_srfm.models.layers  # noqa: E402, F401  (registers the custom layers)
from keras_srfm.config import VARIANTS, DiscriminatorConfig, loss_config_for  # noqa: E402
from keras_srfm.evaluation import IMAGE_EXTENSIONS, degrade, folder_source, read_hr  # noqa: E402
from keras_srfm.image_io import to_uint8  # noqa: E402
from keras_srfm.metrics import psnr  # noqa: E402
from keras_srfm.models.discriminator import build_discriminator  # noqa: E402
from keras_srfm.models.vgg import build_vgg_features  # noqa: E402
from keras_srfm.training.jax_step import JaxSRFM  # noqa: E402
from keras_srfm.training.schedules import staircase  # noqa: E402

LR_SIZE, SCALE = 24, 4


# === Data ===


def load_pairs(dirs: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """HR images of at least 96 px, mod-cropped, and their LR (the benchmark `degrade`)."""
    files = sorted(p for d in dirs for p in Path(d).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    hrs, lrs = [], []
    for path in files:
        image = read_hr(path)
        if min(image.hr.shape[:2]) < LR_SIZE * SCALE:
            continue
        hr, lr = degrade(image.hr, SCALE)
        hrs.append(hr)
        lrs.append(lr)
    return hrs, lrs


def load_degraded(dirs: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(HR, LR) pairs of `srfm degrade --copies K` training sets (realistic degradations,
    Real-ESRGAN style; issue 18): each HR image once per LR copy."""
    from PIL import Image

    from keras_srfm.commands.degrade import training_pairs  # imports no TensorFlow

    hrs, lrs = [], []
    for folder in dirs:
        for hr_path, lr_paths in training_pairs(folder):
            hr = np.asarray(Image.open(hr_path).convert("RGB"))
            if min(hr.shape[:2]) < LR_SIZE * SCALE:
                continue
            for lr_path in lr_paths:
                lr = np.asarray(Image.open(lr_path).convert("RGB"))
                if lr.shape[0] * SCALE != hr.shape[0] or lr.shape[1] * SCALE != hr.shape[1]:
                    raise SystemExit(f"{lr_path}: not 1/{SCALE} of {hr_path}")
                hrs.append(hr)
                lrs.append(lr)
    return hrs, lrs


def crop_pool(hrs: list, lrs: list, draws: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`8 * draws` aligned LR/HR crops, images drawn with probability proportional to area."""
    rng = np.random.default_rng(seed)
    area = np.array([h.shape[0] * h.shape[1] for h in hrs], dtype=np.float64)
    picks = rng.choice(len(hrs), size=draws, p=area / area.sum())
    n, p = 8 * draws, LR_SIZE * SCALE
    pool_lr = np.empty((n, LR_SIZE, LR_SIZE, 3), np.uint8)
    pool_hr = np.empty((n, p, p, 3), np.uint8)
    for j, i in enumerate(np.repeat(picks, 8)):
        lr, hr = lrs[i], hrs[i]
        y = rng.integers(0, lr.shape[0] - LR_SIZE + 1)
        x = rng.integers(0, lr.shape[1] - LR_SIZE + 1)
        pool_lr[j] = lr[y : y + LR_SIZE, x : x + LR_SIZE]
        pool_hr[j] = hr[SCALE * y : SCALE * y + p, SCALE * x : SCALE * x + p]
    return pool_lr, pool_hr


def dihedral(x: jax.Array, t: jax.Array) -> jax.Array:
    """Per-sample rot90 (t % 4) and left-right flip (t >= 4) of a (B, H, W, C) batch."""
    variants = []
    for k in range(8):
        y = jnp.rot90(x, k % 4, axes=(1, 2))
        variants.append(y[:, :, ::-1] if k >= 4 else y)
    return jnp.stack(variants)[t, jnp.arange(x.shape[0])]


def sample_batch(key: jax.Array, pool_lr: jax.Array, pool_hr: jax.Array, batch: int) -> tuple:
    k_idx, k_aug = jax.random.split(key)
    idx = jax.random.randint(k_idx, (batch,), 0, pool_lr.shape[0])
    t = jax.random.randint(k_aug, (batch,), 0, 8)
    lr = dihedral(pool_lr[idx], t).astype("float32") / 255.0
    hr = dihedral(pool_hr[idx], t).astype("float32") / 255.0
    return lr, hr


# === One update: the package's JAX step (the objective `srfm train` uses) ===


def make_step(trainer: JaxSRFM, batch: int) -> Any:
    """One jitted `JaxSRFM.step` on a batch drawn from the device pool; sums the logged values.

    The state is `{"key", "train" (JaxSRFM.initial_state), "acc" (one sum per log name)}`.
    """
    names = trainer.log_names

    def step(state: dict, pool_lr: jax.Array, pool_hr: jax.Array) -> dict:
        key, sub = jax.random.split(state["key"])
        lr, hr = sample_batch(sub, pool_lr, pool_hr, batch)
        train, logs = trainer.step(state["train"], lr, hr)
        return {"key": key, "train": train, "acc": state["acc"] + jnp.stack([logs[n] for n in names])}

    return jax.jit(step, donate_argnums=0)


# === Monitoring ===


def load_bench(folder: str) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """(HR, LR, gray) of every image of a benchmark folder, prepared as `srfm evaluate` does."""
    return [(*degrade(image.hr, SCALE), image.gray) for image in folder_source(folder).images()]


def bench_psnr(g_tv: list, g_ntv: list, bench: list, predict: Any) -> float:
    """Mean Y-channel PSNR (shave 4) over `load_bench` images, as `srfm evaluate` measures it."""
    scores = []
    for hr, lr, gray in bench:
        sr = to_uint8(np.asarray(predict(g_tv, g_ntv, lr[None].astype("float32") / 255.0))[0])
        scores.append(psnr(hr[..., 0] if gray else hr, sr, shave=SCALE))
    return float(np.mean(scores))


def append_row(path: Path, row: list) -> None:
    """Appends one CSV row (re-opened each time, so a killed run keeps every row written)."""
    with open(path, "a", newline="") as f:
        csv.writer(f).writerow(row)


def save_generator(trainer: JaxSRFM, state: dict, path: Path) -> None:
    trainer.assign(state)
    trainer.generator.save(path)


def adam(rate: float, args: argparse.Namespace) -> keras.optimizers.Adam:
    schedule = staircase(rate, args.decay_at, args.decay_factor, args.warmup)
    return keras.optimizers.Adam(schedule, epsilon=args.adam_epsilon)


# === Main ===


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    p.add_argument("--vgg-layer", default="block5_conv4", help="VGG19 layer of L_vgg (Eq. 3)")
    p.add_argument("--vgg-weights", help="local VGG19 weights .h5 (full, or truncated at a block)")
    p.add_argument("--init", required=True, help="generator .keras to start from")
    p.add_argument("--data", nargs="+", required=True, help="folders of HR training images")
    p.add_argument("--degraded", action="store_true",
                   help="--data are `srfm degrade --copies K` sets (HR/ + LR/), not HR folders")
    p.add_argument("--bench", help="folder of HR images for the learning curve (monitoring only)")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--g-lr", type=float, default=1e-4)
    p.add_argument("--d-lr", type=float, default=1e-4)
    p.add_argument("--decay-at", type=int, nargs="*", default=[])
    p.add_argument("--decay-factor", type=float, default=0.5)
    p.add_argument("--adam-epsilon", type=float, default=1e-12)
    p.add_argument("--warmup", type=int, default=0, help="steps of linear rate warm-up")
    p.add_argument("--pool-draws", type=int, default=25_000, help="8 crops per draw")
    p.add_argument("--eval-every", type=int, default=2000)
    p.add_argument("--log-every", type=int, default=500)
    p.add_argument("--snapshot-at", type=int, nargs="*", default=[])
    p.add_argument("--time-budget", type=float, default=float("inf"), help="seconds; stops early")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    t_start = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run_info = {"args": vars(args), "device": str(jax.devices()[0]), "jax": jax.__version__, "keras": keras.__version__}
    print(json.dumps(run_info), flush=True)

    hrs, lrs = load_degraded(args.data) if args.degraded else load_pairs(args.data)
    pool_lr, pool_hr = crop_pool(hrs, lrs, args.pool_draws, args.seed)
    bench = load_bench(args.bench) if args.bench else []
    print(f"{len(hrs)} training images, {len(pool_lr)} crops, {len(bench)} bench images; "
          f"data ready in {time.time() - t_start:.0f}s", flush=True)
    pool_lr, pool_hr = jax.device_put(pool_lr), jax.device_put(pool_hr)

    generator = keras.saving.load_model(args.init)
    cfg = loss_config_for(args.variant)
    discriminator = None
    if cfg.use_adv or cfg.use_content:
        discriminator = build_discriminator(DiscriminatorConfig(sync_batchnorm=False))
    vgg = None
    if cfg.use_vgg:
        if not args.vgg_weights:
            raise SystemExit(f"variant {args.variant} needs L_vgg: pass --vgg-weights PATH (no downloads here)")
        vgg = build_vgg_features(args.vgg_layer, args.vgg_weights)
    trainer = JaxSRFM(generator, discriminator, vgg, cfg, adam(args.g_lr, args),
                      adam(args.d_lr, args) if discriminator is not None else None)
    names = trainer.log_names
    state = {"key": jax.random.PRNGKey(args.seed), "train": trainer.initial_state(), "acc": jnp.zeros((len(names),))}
    step_fn = make_step(trainer, args.batch)
    predict = trainer.predict_fn()

    history, curve = out / "history.csv", out / "curve.csv"
    history.unlink(missing_ok=True)
    curve.unlink(missing_ok=True)
    append_row(history, ["step", "wall_s", "steps_per_s", *names])
    append_row(curve, ["step", "set5_psnr", "wall_s"])
    if bench:
        p0 = bench_psnr(state["train"]["g_tv"], state["train"]["g_ntv"], bench, predict)
        append_row(curve, [0, f"{p0:.4f}", 0])
        print(f"step 0: bench PSNR {p0:.4f}", flush=True)

    t_train = time.time()
    t_last, last_step, step = t_train, 0, 0
    stopped_early = False
    while step < args.steps:
        state = step_fn(state, pool_lr, pool_hr)
        step += 1
        if step == 1 and cfg.use_content and cfg.content_rescale:  # calibrated on the first batch
            print("content scales:", np.asarray(state["train"]["scales"]).round(4).tolist(), flush=True)
        if step % args.log_every == 0 or step == args.steps:
            acc = np.asarray(state["acc"]) / (step - last_step)
            now = time.time()
            rate = (step - last_step) / (now - t_last)
            append_row(history, [step, f"{now - t_train:.1f}", f"{rate:.2f}", *[f"{v:.6g}" for v in acc]])
            print(f"step {step}/{args.steps} {rate:.1f} it/s " + " ".join(f"{n}={v:.4g}" for n, v in zip(names, acc)), flush=True)
            state["acc"] = jnp.zeros_like(state["acc"])
            t_last, last_step = now, step
            if now - t_start > args.time_budget and step < args.steps:
                print(f"time budget reached at step {step}", flush=True)
                stopped_early = True
        if bench and (step % args.eval_every == 0 or step == args.steps or stopped_early):
            p = bench_psnr(state["train"]["g_tv"], state["train"]["g_ntv"], bench, predict)
            append_row(curve, [step, f"{p:.4f}", f"{time.time() - t_train:.1f}"])
            print(f"step {step}: bench PSNR {p:.4f}", flush=True)
        if step in args.snapshot_at:
            save_generator(trainer, state["train"], out / f"generator_{step}.keras")
        if stopped_early:
            break
    save_generator(trainer, state["train"], out / "generator.keras")
    run_info.update(steps_done=step, train_wall_s=round(time.time() - t_train, 1),
                    total_wall_s=round(time.time() - t_start, 1), stopped_early=stopped_early)
    (out / "run.json").write_text(json.dumps(run_info, indent=2))
    print(json.dumps(run_info), flush=True)


if __name__ == "__main__":
    main()

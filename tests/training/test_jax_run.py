"""`srfm train --backend jax`: the run folder of `srfm train`, resumable after kill -9."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("jax")

SCRIPTS = Path(__file__).parent / "scripts"
sys.path.insert(0, str(SCRIPTS))

import sgd_step  # noqa: E402  (jax_env: the subprocesses' JAX settings)

# Runs `srfm` with TensorFlow hidden: the JAX path must not need it.
WITHOUT_TF = SCRIPTS / "srfm_without_tf.py"


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "hr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:72, 0:80]
    for i in range(3):
        img = (127 + 120 * np.sin((xx * (i + 1) + yy) / 5.0))[..., None] * np.array([1.0, 0.8, 0.6])
        Image.fromarray(np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)).save(folder / f"{i}.png")
    return folder


def test_patch_pool_draws_the_same_batches_for_an_interval(image_folder):
    from keras_srfm.config import DataConfig
    from keras_srfm.training.jax_run import PatchPool

    pool = PatchPool(DataConfig(sources=(str(image_folder),), batch_size=3, lr_patch=8, seed=5))
    first = list(pool.batches(interval=2, steps=2))
    again = list(pool.batches(interval=2, steps=2))
    other = next(pool.batches(interval=3, steps=1))
    for (lr_a, hr_a), (lr_b, hr_b) in zip(first, again):
        np.testing.assert_array_equal(lr_a, lr_b)
        np.testing.assert_array_equal(hr_a, hr_b)
    assert first[0][0].shape == (3, 8, 8, 3) and first[0][1].shape == (3, 32, 32, 3)
    assert first[0][1].dtype == np.float32 and first[0][1].min() >= 0 and first[0][1].max() <= 1
    assert not np.array_equal(first[0][1], other[1])
    # Aligned: the LR patch is close to a 4x box-down of its HR patch (bicubic of the whole image):
    # measured 0.005-0.012 on these images, 0.16-0.33 with the HR patch one LR pixel off.
    lr, hr = first[0][0][0], first[0][1][0]
    assert np.abs(hr.reshape(8, 4, 8, 4, 3).mean(axis=(1, 3)) - lr).mean() < 0.05


def test_patch_pool_reads_the_pairs_of_a_degrade_set_and_tensorflow_refuses_it(tmp_path):
    """A `srfm degrade --copies` folder (HR/ + LR/<stem>_<k>) gives its own LR copies, each with
    its HR; the tf.data path, which would take the LR files for HR images, refuses it."""
    from keras_srfm.commands import train_checks
    from keras_srfm.config import DataConfig
    from keras_srfm.training.jax_run import PatchPool

    rng = np.random.default_rng(1)
    (tmp_path / "set" / "HR").mkdir(parents=True)
    (tmp_path / "set" / "LR").mkdir()
    hr = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)
    lrs = [rng.integers(0, 256, (16, 12, 3), dtype=np.uint8) for _ in range(2)]
    Image.fromarray(hr).save(tmp_path / "set" / "HR" / "a.png")
    for k, lr in enumerate(lrs):
        Image.fromarray(lr).save(tmp_path / "set" / "LR" / f"a_{k}.png")
    pool = PatchPool(DataConfig(sources=(str(tmp_path / "set"),), batch_size=2, lr_patch=8))
    assert len(pool.images[0]) == 2
    for (big, small), lr in zip(pool.images[0], lrs):
        np.testing.assert_array_equal(big, hr)
        np.testing.assert_array_equal(small, lr)  # the prepared copy, not a bicubic of the HR
    train_checks.check_data_quick([str(tmp_path / "set")], backend="jax")
    with pytest.raises(train_checks.PreflightError, match="train on its pairs with --backend jax"):
        train_checks.check_data_quick([str(tmp_path / "set")], backend="tensorflow")


def test_checkpoints_restore_the_newest_readable(tmp_path):
    import jax.numpy as jnp

    from keras_srfm.training.jax_run import restore_checkpoint, save_checkpoint

    template = {"g_tv": [jnp.zeros((2, 3))], "scales": jnp.ones((4,)), "vgg": [jnp.ones(2)]}
    for step in (2, 4, 6):
        save_checkpoint(tmp_path, step, {**template, "scales": jnp.full((4,), float(step))}, keep=2)
    assert sorted(p.name for p in tmp_path.glob("ckpt-*")) == ["ckpt-4.npz", "ckpt-6.npz"]
    (tmp_path / "ckpt-6.npz").write_bytes(b"truncated")  # a file a crash could leave
    step, state, notes = restore_checkpoint(tmp_path, template)
    assert step == 4 and float(state["scales"][0]) == 4.0 and "ckpt-6.npz" in notes[0]
    assert state["vgg"] is template["vgg"]  # constant weights are not checkpointed


@pytest.mark.slow
def test_a_diverged_jax_run_stops_before_its_nan_reaches_a_checkpoint(tmp_path, image_folder):
    run_dir = tmp_path / "run"
    args = [sys.executable, str(WITHOUT_TF), "train", "--backend", "jax", "--variant", "p",
            "--data", str(image_folder), "--run-dir", str(run_dir), "--blocks", "1", "--filters", "4",
            "--batch-size", "2", "--lr-patch", "8", "--checkpoint-every", "2"]
    env = sgd_step.jax_env(cache=tmp_path / "jax_cache")  # run and rerun compile once
    assert subprocess.run([*args, "--steps", "2"], capture_output=True, env=env, timeout=600).returncode == 0
    out = subprocess.run([*args, "--steps", "6", "--g-lr", "1e30"], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "training diverged by step 4" in out.stderr and "newest checkpoint is step 2" in out.stderr
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("ckpt-*.npz")) == ["ckpt-2.npz"]
    assert len((run_dir / "history.csv").read_text().splitlines()) == 2  # header + step 2


@pytest.mark.slow  # two JAX training processes (33 s on a 2-core AMD EPYC)
def test_killed_jax_run_resumes_and_writes_a_tensorflow_loadable_generator(tmp_path, image_folder):
    """kill -9 mid-run (TensorFlow hidden), rerun with more steps: it resumes; TF loads the result."""
    run_dir = tmp_path / "run"
    args = [sys.executable, str(WITHOUT_TF), "train", "--backend", "jax", "--variant", "pcsa",
            "--data", str(image_folder), "--run-dir", str(run_dir), "--blocks", "2", "--filters", "8",
            "--batch-size", "2", "--lr-patch", "8", "--checkpoint-every", "2", "--vgg-weights", "none"]
    env = sgd_step.jax_env(cache=tmp_path / "jax_cache")  # run and rerun compile once
    proc = subprocess.Popen([*args, "--steps", "400"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    ckpts = run_dir / "checkpoints"
    deadline = time.time() + 400
    try:
        while len(list(ckpts.glob("ckpt-*.npz"))) < 2:
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            assert time.time() < deadline, "no checkpoint in time"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    last = max(int(p.name[5:-4]) for p in ckpts.glob("ckpt-*.npz"))
    assert 2 <= last < 400
    out = subprocess.run([*args, "--steps", str(last + 2)], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert f"resuming at step {last}" in out.stdout
    assert f"train.steps: 400 -> {last + 2}" in out.stdout
    assert json.loads((run_dir / "resume_log.jsonl").read_text().splitlines()[-1])["step"] == last
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["train"]["backend"] == "jax" and saved["loss"]["vgg_layer"] == "block5_conv4"
    steps = [int(line.split(",")[1]) for line in (run_dir / "history.csv").read_text().splitlines()[1:]]
    assert steps == list(range(2, last + 3, 2))  # one row per interval, none lost or doubled
    assert list((run_dir / "logs" / "train").glob("events.out.tfevents.*"))  # TensorBoard scalars
    # The generator loads under TensorFlow (this process) and is the step-(last + 2) one.
    import keras

    import keras_srfm.models.layers  # noqa: F401  (registers the custom layers)

    generator = keras.saving.load_model(run_dir / "generator.keras")
    assert np.isfinite(generator(np.zeros((1, 8, 8, 3), "float32"))).all()
    snap = subprocess.run([sys.executable, str(WITHOUT_TF), "train", "--run-dir", str(run_dir),
                           "--export-only", str(tmp_path / "snap.keras")], capture_output=True, text=True,
                          env=env, timeout=300)
    assert snap.returncode == 0 and f"step-{last + 2} generator" in snap.stdout, snap.stderr[-2000:]
    for a, b in zip(keras.saving.load_model(tmp_path / "snap.keras").get_weights(), generator.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bench_is_the_srfm_evaluate_protocol(tmp_path, image_folder):
    """`_Bench` scores through `keras_srfm.evaluation.protocol.curve_psnr`: with a forward pass that is
    pixel replication, its value is exactly `srfm evaluate --model nearest` on the folder."""
    from keras_srfm import cli
    from keras_srfm.training.jax_run import _Bench

    Image.fromarray(np.asarray(Image.open(image_folder / "0.png").convert("L"))).save(image_folder / "gray.png")

    class NearestTrainer:  # the one method `_Bench` uses; float (1, h, w, 3) -> (1, 4h, 4w, 3)
        def predict_fn(self):
            return lambda g_tv, g_ntv, lr: np.repeat(np.repeat(lr, 4, axis=1), 4, axis=2)

    bench = _Bench(image_folder, 4, NearestTrainer())
    assert [(image.name, image.gray) for image in bench.images] == [
        ("0.png", False), ("1.png", False), ("2.png", False), ("gray.png", True)]
    value = bench.record({"g_tv": [], "g_ntv": []}, 7, tmp_path / "curve.csv")
    out = tmp_path / "eval.json"
    argv = ["evaluate", "--model", "nearest", "--hr-dir", str(image_folder), "--metrics", "psnr"]
    assert cli.main([*argv, "--json", str(out), "--no-progress"]) == 0
    (dataset,) = json.loads(out.read_text())["datasets"].values()
    assert value == dataset["mean"]["psnr"]
    assert (tmp_path / "curve.csv").read_text().splitlines()[1].startswith(f"7,{value:.4f},")

"""SRFM.train_step: every variant, exact update rules, learning on a real image, checkpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from keras_srfm import SRFM, VARIANTS, build_discriminator, build_generator  # noqa: E402
from keras_srfm.config import TrainConfig, loss_config_for  # noqa: E402
from keras_srfm.models.vgg import build_vgg_features  # noqa: E402
from keras_srfm.training import losses as L  # noqa: E402
from keras_srfm.training.runner import checkpoint_for  # noqa: E402

SCRIPTS = Path(__file__).parent / "scripts"


def tiny_model(variant: str, seed: int = 0, optimizer: str = "adam", rate: float = 1e-3) -> SRFM:
    keras.utils.set_random_seed(seed)
    cfg = VARIANTS[variant]
    g = build_generator(num_blocks=2, filters=8)
    d = build_discriminator(patch_size=32, base_filters=8, dense_units=16) if cfg.needs_discriminator else None
    vgg = build_vgg_features("block2_conv2", weights=None) if cfg.use_vgg else None
    model = SRFM(g, d, vgg, variant=variant)
    make = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[optimizer]
    model.compile(g_optimizer=make(rate), d_optimizer=make(rate) if d is not None else None)
    return model


def batch(n: int = 4, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    hr = np.random.default_rng(seed).random((n, 32, 32, 3)).astype("float32")
    return tf.image.resize(hr, (8, 8), method="area").numpy(), hr


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_variant_trains_one_step(variant):
    model = tiny_model(variant)
    logs = model.train_step(batch())
    cfg = VARIANTS[variant]
    assert ("g_content" in logs) == cfg.use_content
    assert ("g_vgg" in logs) == cfg.use_vgg
    assert ("d_loss" in logs) == cfg.needs_discriminator
    assert all(np.isfinite(float(v)) for v in logs.values())
    if cfg.use_content:
        weights = np.array([float(logs[f"w_conv{i}"]) for i in range(1, 9)])
        assert weights.sum() == pytest.approx(1.0, abs=1e-5)


def test_variant_terms_match_section_5b():
    terms = {name: (c.use_point, c.use_content, c.use_vgg, c.use_adv, c.content_weighting)
             for name, c in VARIANTS.items()}
    assert terms["p"][:4] == (True, False, False, False)
    assert terms["pva"][:4] == (True, False, True, True)
    assert terms["pca"] == (True, True, False, True, "mean")
    assert terms["pcsa"] == (True, True, False, True, "softmax")
    assert terms["pcsva"] == (True, True, True, True, "softmax")
    c = VARIANTS["pcsva"]
    assert (c.lambda_adv, c.eta_point, c.gamma_vgg) == (0.005, 0.01, 0.5)
    with pytest.raises(ValueError, match="Unknown variant"):
        loss_config_for("pcx")


def _manual_losses(model: SRFM, lr: np.ndarray, hr: np.ndarray):
    """Eq. 1 and Eq. 5 written out independently of SRFM (first step: scales = 1 / L_i)."""
    cfg = model.loss_config
    sr = model.generator(lr, training=True)
    out = model.discriminator(tf.concat([hr, sr], 0), training=True)
    real = {k: v[: len(hr)] for k, v in out.items()}
    fake = {k: v[len(hr):] for k, v in out.items()}
    per_layer = tf.reduce_mean(L.content_losses(real, fake, model.taps), axis=0)
    scales = tf.stop_gradient(1.0 / per_layer)
    weights = tf.nn.softmax(tf.stop_gradient(scales * per_layer))
    g_loss = (tf.reduce_sum(weights * scales * per_layer)
              + cfg.lambda_adv * tf.reduce_mean(L.adversarial_loss(fake["logit"]))
              + cfg.eta_point * tf.reduce_mean(L.point_loss(hr, sr)))
    d_loss = tf.reduce_mean(L.discriminator_loss(real["logit"], fake["logit"]))
    return g_loss, d_loss


def test_step_applies_eq1_to_g_and_eq5_to_d_only():
    """With SGD, each network moves by exactly -rate * grad of its own loss."""
    lr, hr = batch()
    model = tiny_model("pcsa", optimizer="sgd", rate=0.5)
    reference = tiny_model("pcsa", optimizer="sgd", rate=0.5)  # same seed, same weights
    with tf.GradientTape(persistent=True) as tape:
        g_loss, d_loss = _manual_losses(reference, lr, hr)
    g_vars, d_vars = reference.generator.trainable_variables, reference.discriminator.trainable_variables
    g_grads, d_grads = tape.gradient(g_loss, g_vars), tape.gradient(d_loss, d_vars)
    model.train_step((lr, hr))
    for var, grad, new in zip(g_vars, g_grads, model.generator.trainable_variables):
        np.testing.assert_allclose(new.numpy(), var.numpy() - 0.5 * grad.numpy(), atol=2e-6, rtol=1e-4)
    for var, grad, new in zip(d_vars, d_grads, model.discriminator.trainable_variables):
        np.testing.assert_allclose(new.numpy(), var.numpy() - 0.5 * grad.numpy(), atol=2e-6, rtol=1e-4)
    # The calibration of Eq. 7 is stored once and kept.
    scales = model.content_scales.numpy().copy()
    assert float(model.calibrated.numpy()) == 1.0 and not np.allclose(scales, 1.0)
    model.train_step(batch(seed=2))
    np.testing.assert_array_equal(model.content_scales.numpy(), scales)


@pytest.mark.numeric  # slow: real image (tests/conftest.py)
def test_loss_decreases_on_a_real_image(shared_data):
    from PIL import Image

    hr_img = np.asarray(Image.open(shared_data / "benchmarks/Set5/HR/baby.png").convert("RGB"))
    rng = np.random.default_rng(0)
    crops = []
    for _ in range(64):
        y, x = rng.integers(0, hr_img.shape[0] - 32), rng.integers(0, hr_img.shape[1] - 32)
        crops.append(hr_img[y:y + 32, x:x + 32])
    hr = np.stack(crops).astype("float32") / 255.0
    lr = tf.image.resize(hr, (8, 8), method="bicubic", antialias=True).numpy()
    ds = tf.data.Dataset.from_tensor_slices((lr, hr)).repeat().batch(8)
    model = tiny_model("p", rate=2e-3)
    # shuffle=False: the crops are drawn at random already (Keras warns that it ignores shuffle=True here).
    history = model.fit(ds, steps_per_epoch=10, epochs=4, verbose=0, shuffle=False).history
    assert history["g_point"][-1] < 0.5 * history["g_point"][0]
    assert history["psnr"][-1] > history["psnr"][0] + 3.0


def test_checkpoint_round_trip(tmp_path):
    model = tiny_model("pcsa")
    model.train_step(batch())
    checkpoint_for(model).write(str(tmp_path / "ckpt"))
    fresh = tiny_model("pcsa", seed=7)
    checkpoint_for(fresh).read(str(tmp_path / "ckpt")).assert_existing_objects_matched()
    for a, b in zip(model.generator.weights + model.discriminator.weights,
                    fresh.generator.weights + fresh.discriminator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(model.content_scales.numpy(), fresh.content_scales.numpy())
    assert int(fresh.g_optimizer.iterations.numpy()) == 1
    for a, b in zip(model.g_optimizer.variables, fresh.g_optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.slow  # a training process
def test_killed_training_process_resumes(tmp_path, capsys, training_script):
    """SIGKILL a real run mid-training; the rerun resumes from its last checkpoint.

    The killed run is a process of its own; the rerun is `tiny_run.run` in this one (the same
    `run_training` on the same folder, without a second TensorFlow start).
    """
    run_dir = tmp_path / "run"
    cmd = [sys.executable, str(SCRIPTS / "tiny_run.py"), str(run_dir), "400"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    ckpt_dir = run_dir / "checkpoints"
    deadline = time.time() + 180
    try:
        while time.time() < deadline:
            if ckpt_dir.exists() and len(list(ckpt_dir.glob("ckpt-*.index"))) >= 3:
                break
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.2)
        else:
            pytest.fail("no checkpoint written in time")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    steps = sorted(int(p.name.split("-")[1].split(".")[0]) for p in ckpt_dir.glob("ckpt-*.index"))
    first_scales = tf.train.load_variable(str(ckpt_dir / f"ckpt-{steps[0]}"), "content_scales/.ATTRIBUTES/VARIABLE_VALUE")
    last = steps[-1]
    assert last < 400
    capsys.readouterr()
    result = training_script("tiny_run").run(str(run_dir), last + 4)
    assert f"resuming at step {last}" in capsys.readouterr().out
    assert result["step"] == last + 4
    np.testing.assert_array_equal(result["scales"], first_scales)  # not re-calibrated


@pytest.mark.numeric  # slow: real images (tests/conftest.py)
def test_benchmark_psnr_callback_writes_curve(shared_data, tmp_path):
    from keras_srfm.evaluation import protocol
    from keras_srfm.inference.upscalers import KerasUpscaler
    from keras_srfm.training.callbacks import BenchmarkPSNR

    model = tiny_model("p")
    step = model.g_optimizer.iterations
    callback = BenchmarkPSNR(shared_data / "benchmarks/Set5/HR", tmp_path / "curve.csv", step)
    callback.set_model(model)
    logs: dict = {}
    callback.on_epoch_end(0, logs)
    model.train_step(batch())
    callback.on_epoch_end(1, logs)
    lines = (tmp_path / "curve.csv").read_text().strip().splitlines()
    assert lines[0] == "step,psnr_y,time" and [line.split(",")[0] for line in lines[1:]] == ["0", "1"]
    assert lines[-1].split(",")[1] == f"{logs['bench_psnr']:.4f}"
    assert (tmp_path / "curve.png").stat().st_size > 1000
    # The value is the Table I protocol of `srfm evaluate` on the generator (images decoded once).
    assert [image.name for image in callback.images] == sorted(p.name for p in (shared_data / "benchmarks/Set5/HR").iterdir())
    source = protocol.folder_source(shared_data / "benchmarks/Set5/HR")
    result = protocol.evaluate_source(KerasUpscaler(model.generator), source, progress=False, metrics=("psnr",))
    assert logs["bench_psnr"] == result.mean["psnr"]


def test_benchmark_psnr_equals_srfm_evaluate(tmp_path):
    """The learning curve and `srfm evaluate` are one protocol: same generator, same folder (gray,
    a TIFF the old callback skipped, a size that is no multiple of 4), the same mean PSNR."""
    from PIL import Image

    from keras_srfm import cli
    from keras_srfm.training.callbacks import BenchmarkPSNR

    folder = tmp_path / "Tiny" / "HR"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:66, 0:70]
    smooth = 127 + 100 * np.sin(xx / 6.0) * np.cos(yy / 9.0)
    colour = np.clip(smooth[..., None] * [1.0, 0.8, 0.6] + rng.normal(0, 6, (66, 70, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(colour).save(folder / "a.png")
    Image.fromarray(colour[..., 1]).save(folder / "gray.png")  # mode L: its own Y
    Image.fromarray(colour[::-1, ::-1]).save(folder / "c.tif")
    model = tiny_model("p", seed=4)
    model.generator.save(tmp_path / "g.keras")
    callback = BenchmarkPSNR(folder, tmp_path / "curve.csv", model.g_optimizer.iterations)
    callback.set_model(model)
    assert [(image.name, image.gray) for image in callback.images] == [
        ("a.png", False), ("c.tif", False), ("gray.png", True)]
    logs: dict = {}
    callback.on_epoch_end(0, logs)
    out = tmp_path / "eval.json"
    argv = ["evaluate", "--model", str(tmp_path / "g.keras"), "--hr-dir", str(folder), "--metrics", "psnr"]
    assert cli.main([*argv, "--json", str(out), "--no-progress"]) == 0
    mean = json.loads(out.read_text())["datasets"]["Tiny"]["mean"]["psnr"]
    # Exact: the same uint8 SR (round(clip(y, 0, 1) * 255) in float32) and the same scoring code.
    assert logs["bench_psnr"] == mean


def test_benchmark_psnr_needs_an_image(tmp_path):
    from keras_srfm.training.callbacks import BenchmarkPSNR

    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(FileNotFoundError, match="no images") as err:
        BenchmarkPSNR(tmp_path, tmp_path / "curve.csv", tf.Variable(0))
    assert "\n" not in str(err.value)


def test_learning_rate_schedule_decays_from_decay_start():
    from keras_srfm.training.schedules import learning_rate_schedule

    train = TrainConfig(steps=1000, decay_every=300, decay_factor=0.5, decay_start=100)
    schedule = learning_rate_schedule(1e-4, train)
    rates = [float(schedule(step)) for step in (0, 399, 400, 699, 700, 999)]
    np.testing.assert_allclose(rates, [1e-4, 1e-4, 5e-5, 5e-5, 2.5e-5, 2.5e-5], rtol=1e-6)
    constant = learning_rate_schedule(1e-4, TrainConfig(steps=100, decay_every=300))
    # A schedule object even when constant (a float rate is one more optimizer variable).
    assert isinstance(constant, keras.optimizers.schedules.LearningRateSchedule)
    assert [float(constant(step)) for step in (0, 99)] == [float(np.float32(1e-4))] * 2


def test_learning_rate_schedule_decays_at_given_steps():
    from keras_srfm.training.schedules import learning_rate_schedule

    # decay_at replaces decay_every / decay_start (the uneven milestones of the shipped GPU phases).
    train = TrainConfig(steps=1000, decay_every=300, decay_factor=0.5, decay_at=(400, 900))
    schedule = learning_rate_schedule(1e-4, train)
    rates = [float(schedule(step)) for step in (0, 399, 400, 899, 900, 999)]
    np.testing.assert_allclose(rates, [1e-4, 1e-4, 5e-5, 5e-5, 2.5e-5, 2.5e-5], rtol=1e-6)
    assert TrainConfig.from_dict(json.loads(train.to_json())).decay_at == (400, 900)
    for bad in ((0,), (500, 400), (400, 400)):
        with pytest.raises(ValueError, match="decay_at"):
            TrainConfig(decay_at=bad)


def test_learning_rate_schedule_warms_up_then_decays():
    from keras_srfm.training.schedules import LinearWarmup, learning_rate_schedule

    train = TrainConfig(steps=1000, decay_every=300, decay_factor=0.5, decay_start=100, warmup_steps=100)
    schedule = learning_rate_schedule(1e-4, train)
    rates = [float(schedule(step)) for step in (0, 49, 99, 399, 400)]
    np.testing.assert_allclose(rates, [1e-6, 5e-5, 1e-4, 1e-4, 5e-5], rtol=1e-6)
    # Serialisable (optimizer configs), with a float or a schedule inside.
    for inner in (schedule, LinearWarmup(2e-4, 10)):
        again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(inner))
        assert float(again(5)) == pytest.approx(float(inner(5)))
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainConfig(warmup_steps=-1)


def test_default_adam_epsilon_does_not_damp_eta_scaled_gradients():
    # eta=0.01 (Eq. 1) makes M_p's generator gradients ~1e-8; the first Adam step must still be ~lr.
    # Keras adds epsilon before the bias correction (x~32 at step 1), so a 1e-9 gradient loses 3%;
    # with Keras' default 1e-7 every step here would shrink to under 3% of lr.
    from keras_srfm.training.runner import _adam

    variable = keras.Variable(np.zeros(4, "float32"))
    optimizer = _adam(1e-4, TrainConfig(), ema=False)
    optimizer.apply_gradients([(tf.constant([1e-8, -1e-8, 3e-9, 1e-9]), variable)])
    np.testing.assert_allclose(np.abs(variable.numpy()), 1e-4, rtol=0.05)


def test_check_finite_names_the_losses_and_ignores_an_infinite_psnr(tmp_path):
    from keras_srfm.training.run_setup import NonFiniteLossError, check_finite

    check_finite({"g_total": 1.0, "psnr": float("inf"), "bench_psnr": float("inf")}, 5, tmp_path)
    with pytest.raises(NonFiniteLossError, match=r"by step 5 \(a, b, c and 1 more not finite\).*step 0"):
        check_finite({"a": float("nan"), "b": float("inf"), "c": float("-inf"), "d": float("nan"), "e": 1.0},
                     5, tmp_path)

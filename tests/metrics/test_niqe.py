"""NIQE (Mittal et al. 2013): golden value, the vectorised code against a per-block loop, the
AGGD estimator on known distributions, flat regions, and the parameter file's resolution."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_srfm.imaging.imresize import imresize
from keras_srfm.metrics import fidelity
from keras_srfm.metrics import niqe as niqe_metric
from keras_srfm.metrics.niqe import NiqeParams, niqe

# MATLAB R2021a on the NIQE release: 5.72957338 (../shared/metrics/README.md).
BABOON_MATLAB = 5.72957338


@pytest.fixture(scope="module")
def pristine() -> NiqeParams:
    path = niqe_metric.niqe_params_path()
    if not path.is_file():
        pytest.skip(
            f"NIQE parameters not found at {path} (set SRFM_DATA_DIR to the shared data, or "
            f"{niqe_metric.NIQE_PARAMS_ENV} to niqe_pris_params.npz)"
        )
    return NiqeParams.from_npz(path)


@pytest.fixture(scope="module")
def baboon(shared_data: Path) -> np.ndarray:
    return np.asarray(
        Image.open(shared_data / "benchmarks" / "Set14" / "HR" / "baboon.png").convert("RGB")
    )


def _synthetic_params(seed: int = 0) -> NiqeParams:
    """A pristine model of the right shapes (for code paths, not for meaningful scores)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(36, 36))
    x = np.arange(7) - 3.0
    g = np.exp(-(x * x) / (2 * (7 / 6) ** 2))
    window = np.outer(g, g)
    return NiqeParams(mu=rng.normal(size=36), cov=a @ a.T / 36, window=window / window.sum())


def _texture(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """uint8 gray image: smooth random field, noise and a flat (saturated) square."""
    rng = np.random.default_rng(seed)
    base = np.cumsum(np.cumsum(rng.normal(size=shape), axis=0), axis=1)
    base = (base - base.min()) / np.ptp(base) * 200 + 20 + rng.normal(scale=6, size=shape)
    base[10:60, 20:90] = 255.0  # flat: MSCN exactly 0 there
    return np.clip(np.round(base), 0, 255).astype(np.uint8)


# === Golden value ===


def test_golden_baboon(pristine: NiqeParams, baboon: np.ndarray) -> None:
    value = niqe(baboon, shave=0, params=pristine)
    assert abs(value - 5.7296) < 1e-3  # the requirement
    # Measured 5.7295738842 (this code, float64; the same with the 2-D or separable filter):
    # 5e-7 from MATLAB's printed value, so 1e-5 is tight yet leaves room for BLAS differences.
    assert abs(value - BABOON_MATLAB) < 1e-5


def test_blur_raises_niqe(pristine: NiqeParams, baboon: np.ndarray) -> None:
    """Bicubic x4 down-and-up (the Table I baseline) is far less natural than the original."""
    hr = baboon
    blurred = imresize(imresize(hr, scale=0.25), scale=4)
    assert niqe(blurred, params=pristine) > niqe(hr, params=pristine) + 1.0


# === Against a per-block loop (the MATLAB code's structure) ===


@functools.lru_cache(maxsize=1)
def _loop_grid() -> tuple[np.ndarray, np.ndarray]:
    gam = np.arange(0.2, 10.001, 0.001)  # the release's 0.2:0.001:10
    r_gam = np.array(
        [math.gamma(2 / a) ** 2 / (math.gamma(1 / a) * math.gamma(3 / a)) for a in gam]
    )
    return gam, r_gam


def _loop_aggd(vec: np.ndarray) -> tuple[float, float, float]:
    gam, r_gam = _loop_grid()
    with np.errstate(invalid="ignore", divide="ignore"):
        left = math.sqrt(np.mean(vec[vec < 0] ** 2)) if np.any(vec < 0) else math.nan
        right = math.sqrt(np.mean(vec[vec > 0] ** 2)) if np.any(vec > 0) else math.nan
        g = left / right
        rhat = np.mean(np.abs(vec)) ** 2 / np.mean(vec**2)
        rnorm = rhat * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    alpha = float(gam[np.argmin((r_gam - rnorm) ** 2)])
    scale = math.sqrt(math.gamma(1 / alpha) / math.gamma(3 / alpha))
    return alpha, left * scale, right * scale


def _loop_features(block: np.ndarray) -> list[float]:
    alpha, left, right = _loop_aggd(block.ravel())
    feat = [alpha, (left + right) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        alpha, left, right = _loop_aggd((block * np.roll(block, shift, axis=(0, 1))).ravel())
        feat += [alpha, (right - left) * math.gamma(2 / alpha) / math.gamma(1 / alpha), left, right]
    return feat


def _loop_niqe(gray: np.ndarray, params: NiqeParams) -> float:
    """computequality.m written out block by block, with a 2-D (not separable) filter."""
    image = gray.astype(np.float64)
    rows, cols = image.shape[0] // 96, image.shape[1] // 96
    image = image[: rows * 96, : cols * 96]
    per_scale = []
    for level, size in enumerate((96, 48)):
        pad = np.pad(image, 3, mode="edge")
        h, w = image.shape
        mu = sum(
            params.window[i, j] * pad[i : i + h, j : j + w] for i in range(7) for j in range(7)
        )
        sq = sum(
            params.window[i, j] * pad[i : i + h, j : j + w] ** 2 for i in range(7) for j in range(7)
        )
        centred = image - mu
        centred[np.abs(centred) < 1e-9] = 0.0  # exact arithmetic in flat areas
        mscn = centred / (np.sqrt(np.abs(sq - mu * mu)) + 1)
        per_scale.append(
            [
                _loop_features(mscn[r * size : (r + 1) * size, c * size : (c + 1) * size])
                for c in range(cols)  # MATLAB's column-major block order
                for r in range(rows)
            ]
        )
        if level == 0:
            image = imresize(image, scale=0.5)
    feats = np.concatenate([np.array(f) for f in per_scale], axis=1)
    mu_d = np.nanmean(feats, axis=0)
    cov_d = np.cov(feats[~np.isnan(feats).any(axis=1)], rowvar=False)
    diff = params.mu - mu_d
    return float(np.sqrt(diff @ np.linalg.pinv((params.cov + cov_d) / 2) @ diff))


def test_vectorised_matches_block_loop() -> None:
    params = _synthetic_params()
    gray = _texture((200, 300))
    expected = _loop_niqe(gray, params)
    # Measured difference 1e-13 (summation order); 1e-9 relative leaves room across CPUs.
    assert niqe(gray, shave=0, params=params) == pytest.approx(expected, rel=1e-9)


def test_y_and_gray_channels() -> None:
    params = _synthetic_params()
    rgb = np.stack([_texture((200, 200), s) for s in range(3)], axis=-1)
    assert niqe(rgb, shave=0, params=params) == pytest.approx(
        _loop_niqe(fidelity.rgb_to_y(rgb), params), rel=1e-9
    )
    assert niqe(rgb, shave=0, y_channel=False, params=params) == pytest.approx(
        _loop_niqe(fidelity.rgb_to_gray(rgb), params), rel=1e-9
    )
    # The shave is taken before the block grid: 4 pixels off each border.
    assert niqe(rgb, shave=4, params=params) == pytest.approx(
        _loop_niqe(fidelity.rgb_to_y(rgb)[4:-4, 4:-4], params), rel=1e-9
    )


# === Pieces ===


def _aggd_quantiles(beta_left: float, beta_right: float, n: int = 200_000) -> np.ndarray:
    """Deterministic quantiles of an AGGD with shape 1 (an asymmetric Laplacian)."""
    n_left = round(n * beta_left / (beta_left + beta_right))  # side masses ~ their scales
    q_left = (np.arange(n_left) + 0.5) / n_left
    q_right = (np.arange(n - n_left) + 0.5) / (n - n_left)
    return np.concatenate([beta_left * np.log1p(-q_left), -beta_right * np.log1p(-q_right)])


def test_aggd_recovers_known_parameters() -> None:
    alpha, left, right = niqe_metric._aggd(
        np.stack([_aggd_quantiles(0.5, 2.0), _aggd_quantiles(1.0, 1.0)])
    )
    # Measured: alpha 1.000 (grid step 0.001), scales within 3e-5 of the truth (quantile sample).
    np.testing.assert_allclose(alpha, [1.0, 1.0])
    np.testing.assert_allclose(left, [0.5, 1.0], rtol=1e-4)
    np.testing.assert_allclose(right, [2.0, 1.0], rtol=1e-4)


def test_aggd_one_sided_block_is_nan_like_matlab() -> None:
    alpha, left, right = niqe_metric._aggd(np.abs(np.linspace(-1, 1, 100))[None])
    assert math.isnan(left[0]) and right[0] > 0
    assert alpha[0] == pytest.approx(0.2)  # MATLAB's min over NaNs picks the first grid value


def test_flat_region_has_zero_mscn() -> None:
    params = _synthetic_params()
    image = np.full((40, 40), 117.0)
    image[:, 30:] = 30.0
    mscn = niqe_metric._mscn(image, params.window)
    assert np.all(mscn[:, :25] == 0.0)  # exactly, not 1e-14 (the AGGD fits split by sign)
    assert np.all(mscn[:, 27:30] != 0.0)


def test_separable_filter_matches_2d() -> None:
    params = _synthetic_params()
    image = np.random.default_rng(1).normal(size=(30, 41))
    pad = np.pad(image, 3, mode="edge")
    expected = sum(
        params.window[i, j] * pad[i : i + 30, j : j + 41] for i in range(7) for j in range(7)
    )
    np.testing.assert_allclose(
        niqe_metric._filter_replicate(image, params.window), expected, atol=1e-13
    )
    non_separable = params.window + np.eye(7) * 1e-3
    expected = sum(
        non_separable[i, j] * pad[i : i + 30, j : j + 41] for i in range(7) for j in range(7)
    )
    np.testing.assert_allclose(
        niqe_metric._filter_replicate(image, non_separable), expected, atol=1e-13
    )


def test_matlab_pinv_on_singular_matrix() -> None:
    a = np.diag([4.0, 2.0, 0.0])
    np.testing.assert_allclose(niqe_metric._pinv(a), np.diag([0.25, 0.5, 0.0]))


# === Errors and the parameter file ===


def test_bad_inputs() -> None:
    params = _synthetic_params()
    with pytest.raises(ValueError, match="two 96x96 blocks"):
        niqe(_texture((100, 100)), params=params)
    with pytest.raises(ValueError, match="uint8"):
        niqe(_texture((200, 200)).astype(np.float32), params=params)
    with pytest.raises(ValueError, match="shave"):
        niqe(_texture((200, 200)), shave=100, params=params)


def test_missing_params_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nope.npz"
    monkeypatch.setenv(niqe_metric.NIQE_PARAMS_ENV, str(missing))
    assert niqe_metric.niqe_params_path() == missing
    with pytest.raises(FileNotFoundError) as err:
        niqe(_texture((200, 200)))
    message = str(err.value)
    assert "\n" not in message and str(missing) in message
    assert niqe_metric.NIQE_PARAMS_ENV in message and niqe_metric.NIQE_PARAMS_URL in message


def test_default_params_path_follows_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(niqe_metric.NIQE_PARAMS_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("SRFM_DATA_DIR", str(tmp_path / "shared" / "data"))
    assert niqe_metric.niqe_params_path() == tmp_path / "shared" / "metrics" / "niqe_pris_params.npz"
    # Absent there, a copy in the Keras cache (download_niqe_params) is used.
    cached = tmp_path / "keras" / "datasets" / "niqe_pris_params.npz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    assert niqe_metric.niqe_params_path() == cached


def test_params_file_checked(tmp_path: Path, pristine: NiqeParams) -> None:
    import hashlib

    digest = hashlib.sha256(niqe_metric.niqe_params_path().read_bytes()).hexdigest()
    assert digest == niqe_metric.NIQE_PARAMS_SHA256  # what download_niqe_params checks
    bad = tmp_path / "bad.npz"
    np.savez(bad, mu_pris_param=np.zeros((1, 36)))
    with pytest.raises(ValueError, match="not a NIQE parameter file"):
        NiqeParams.from_npz(bad)
    assert pristine.mu.shape == (36,) and pristine.cov.shape == (36, 36)

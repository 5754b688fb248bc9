"""Tests for utils.generative (notebooks 6_1-6_4): the custom-train_step models train, save and
load with Keras 3 (identical outputs), the pictures, and the quality measures against closed forms.

Models are tiny (8x8 images, a few filters, one epoch on 64 images): the tests check the
mechanics, not sample quality.
"""
from __future__ import annotations

import warnings

import keras
import matplotlib
import numpy as np
import pytest

from utils import generative as gen

matplotlib.use("Agg")

SHAPE = (8, 8, 1)
LATENT = 4


@pytest.fixture(scope="module")
def x01():
    return np.random.default_rng(0).random((64,) + SHAPE).astype("float32")


@pytest.fixture(scope="module")
def z():
    return np.random.default_rng(1).standard_normal((5, LATENT)).astype("float32")


def tiny_vae(seed=1, beta=1.0):
    return gen.VAE(gen.build_vae_encoder(SHAPE, 2, filters=(4, 8), dense=8),
                   gen.build_vae_decoder(2, SHAPE, filters=(8, 4)), beta=beta, seed=seed)


def tiny_gan():
    return gen.GAN(gen.build_generator(LATENT, SHAPE, filters=(8, 8, 4)),
                   gen.build_discriminator(SHAPE, filters=(4, 8)), seed=2)


def tiny_cgan(aux=True):
    return gen.ConditionalGAN(gen.build_generator(LATENT, SHAPE, n_classes=3, filters=(8, 8, 4)),
                              gen.build_discriminator(SHAPE, n_classes=3, aux_classifier=aux, filters=(4, 8)),
                              aux_weight=1.0 if aux else 0.0, seed=3)


# --------------------------------------------------------------------------- KL term


def test_kl_divergence_values():
    assert gen.kl_divergence([[0.0, 0.0]], [[0.0, 0.0]]) == pytest.approx([0.0])
    # one dimension, mean 1, variance 1: KL = mean^2 / 2
    assert gen.kl_divergence([[1.0]], [[0.0]]) == pytest.approx([0.5])
    # variance e: KL = 0.5 * (e - 1 - 1)
    assert gen.kl_divergence([[0.0]], [[1.0]]) == pytest.approx([0.5 * (np.e - 2)])


def test_kl_divergence_matches_monte_carlo_and_tensor_path():
    rng = np.random.default_rng(0)
    mean, log_var = rng.normal(size=(3, 2)), rng.normal(scale=0.5, size=(3, 2))
    kl = gen.kl_divergence(mean, log_var)
    std = np.exp(log_var / 2)
    s = mean[:, None] + std[:, None] * rng.standard_normal((3, 200_000, 2))
    log_q = -0.5 * (((s - mean[:, None]) / std[:, None]) ** 2 + log_var[:, None] + np.log(2 * np.pi))
    log_p = -0.5 * (s**2 + np.log(2 * np.pi))
    np.testing.assert_allclose(kl, (log_q - log_p).sum(-1).mean(1), atol=0.02)
    as_tensor = gen.kl_divergence(keras.ops.convert_to_tensor(mean), keras.ops.convert_to_tensor(log_var))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(as_tensor), kl, rtol=1e-6)
    with pytest.raises(ValueError, match="mean and log_var"):
        gen.kl_divergence(np.zeros((2, 3)), np.zeros((2, 2)))


# --------------------------------------------------------------------------- models: train, save, load


def test_vae_trains_and_reports_nats(x01):
    keras.utils.set_random_seed(0)
    vae = tiny_vae()
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3))
    h = vae.fit(x01, epochs=2, batch_size=32, verbose=0).history
    assert set(h) == {"loss", "reconstruction", "kl"}
    assert np.isfinite(h["loss"]).all() and h["reconstruction"][-1] > 0 and h["kl"][-1] >= 0
    np.testing.assert_allclose(h["loss"][-1], h["reconstruction"][-1] + h["kl"][-1], rtol=1e-4)
    # binary cross-entropy summed over 64 pixels of uniform noise: at least 64 * E[H(u)] = 32 nats
    assert 32 < h["reconstruction"][-1] < 64 * np.log(2) * 2
    out = vae(x01[:3])
    assert tuple(out.shape) == (3,) + SHAPE
    np.testing.assert_array_equal(vae(x01[:3]), out)  # inference decodes the mean: deterministic
    ev = vae.evaluate(x01, batch_size=32, verbose=0, return_dict=True)
    assert set(ev) == {"loss", "reconstruction", "kl"}


@pytest.mark.parametrize("fmt", ["keras", "weights.h5"])
def test_vae_save_load_identical(x01, tmp_path, fmt):
    keras.utils.set_random_seed(0)
    vae = tiny_vae(beta=0.5)
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3))
    vae.fit(x01, epochs=1, batch_size=32, verbose=0)
    before = keras.ops.convert_to_numpy(vae(x01[:4]))
    path = tmp_path / f"vae.{fmt}"
    if fmt == "keras":
        vae.save(path)
        loaded = keras.saving.load_model(path)
        assert isinstance(loaded, gen.VAE) and loaded.beta == 0.5
    else:
        vae.save_weights(path)
        loaded = tiny_vae(seed=99, beta=0.5)
        assert not np.allclose(keras.ops.convert_to_numpy(loaded(x01[:4])), before)
        loaded.load_weights(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x01[:4])), before)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded.encode(x01[:4])[1]),
                                  keras.ops.convert_to_numpy(vae.encode(x01[:4])[1]))


@pytest.mark.parametrize("fmt", ["keras", "weights.h5"])
def test_gan_trains_saves_loads(x01, z, tmp_path, fmt):
    keras.utils.set_random_seed(0)
    gan = tiny_gan()
    gan.compile(d_optimizer=keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5))
    g_before = [w.numpy().copy() for w in gan.generator.trainable_weights]
    h = gan.fit(x01 * 2 - 1, epochs=1, batch_size=32, verbose=0).history
    assert set(h) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(v).all() for v in h.values())
    assert 0 <= h["d_real"][0] <= 1 and 0 <= h["d_fake"][0] <= 1
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(g_before, gan.generator.trainable_weights))
    out = keras.ops.convert_to_numpy(gan.generate(z))
    assert out.shape == (5,) + SHAPE and out.min() >= -1 and out.max() <= 1
    path = tmp_path / f"gan.{fmt}"
    if fmt == "keras":
        gan.save(path)
        loaded = keras.saving.load_model(path)
        assert isinstance(loaded, gen.GAN)
    else:
        gan.save_weights(path)
        loaded = tiny_gan()
        loaded.load_weights(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded.generate(z)), out)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded.discriminator(out)),
                                  keras.ops.convert_to_numpy(gan.discriminator(out)))
    loaded.compile()  # can train on after loading
    loaded.fit(x01 * 2 - 1, epochs=1, batch_size=32, verbose=0)


@pytest.mark.parametrize("aux", [True, False])
def test_conditional_gan_trains_saves_loads(x01, z, tmp_path, aux):
    keras.utils.set_random_seed(0)
    labels = np.arange(len(x01)) % 3
    cgan = tiny_cgan(aux)
    cgan.compile()
    h = cgan.fit(x01 * 2 - 1, labels, epochs=1, batch_size=32, verbose=0).history
    assert set(h) == {"d_loss", "g_loss", "d_real", "d_fake", "aux_loss"}
    assert all(np.isfinite(v).all() for v in h.values())
    assert (h["aux_loss"][0] > 0) == aux
    req = [0, 1, 2, 0, 1]
    out = keras.ops.convert_to_numpy(cgan.generate(z, req))
    one_hot = np.eye(3, dtype="float32")[req]
    np.testing.assert_array_equal(out, keras.ops.convert_to_numpy(cgan.generate(z, one_hot)))
    assert not np.allclose(out, keras.ops.convert_to_numpy(cgan.generate(z, [2, 2, 0, 1, 0])))  # label matters
    cgan.save(tmp_path / "c.keras")
    loaded = keras.saving.load_model(tmp_path / "c.keras")
    assert isinstance(loaded, gen.ConditionalGAN) and loaded.aux_weight == cgan.aux_weight and loaded.aux == aux
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded.generate(z, req)), out)
    cgan.save_weights(tmp_path / "c.weights.h5")
    fresh = tiny_cgan(aux)
    fresh.load_weights(tmp_path / "c.weights.h5")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(fresh.generate(z, req)), out)


def test_discriminator_label_paths(x01):
    y1, y2 = np.eye(3, dtype="float32")[[0, 1]], np.eye(3, dtype="float32")[[2, 2]]
    img = x01[:2] * 2 - 1
    plain = gen.build_discriminator(SHAPE, n_classes=3, filters=(4, 8))
    assert not np.allclose(plain([img, y1]), plain([img, y2]))  # the label reaches the logit
    aux = gen.build_discriminator(SHAPE, n_classes=3, aux_classifier=True, filters=(4, 8))
    (l1, c1), (l2, c2) = aux([img, y1]), aux([img, y2])
    assert not np.allclose(l1, l2)
    np.testing.assert_array_equal(c1, c2)  # the class head never sees the label input


def test_conditional_gan_bad_inputs():
    with pytest.raises(ValueError, match="aux_classifier=True"):
        gen.ConditionalGAN(gen.build_generator(LATENT, SHAPE, n_classes=3, filters=(8, 8, 4)),
                           gen.build_discriminator(SHAPE, n_classes=3, filters=(4, 8)), aux_weight=1.0)
    with pytest.raises(ValueError, match="labels"):
        tiny_cgan().generate(np.zeros((2, LATENT), "float32"))
    with pytest.raises(ValueError, match="divisible by 4"):
        gen.build_generator(LATENT, (10, 10, 1))
    with pytest.raises(ValueError, match="n_classes"):
        gen.build_discriminator(SHAPE, aux_classifier=True)


# --------------------------------------------------------------------------- pictures and callback


def test_pictures(z):
    import matplotlib.pyplot as plt

    imgs = np.random.default_rng(0).random((6, 8, 8, 1))
    fig = gen.sample_grid(imgs, cols=3, row_labels=["a", "b"], title="t")
    assert isinstance(fig, matplotlib.figure.Figure)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b"]
    assert fig.axes[0].images[0].get_array().shape == (2 * 8 + 2, 3 * 8 + 2 * 2)
    plt.close(fig)
    fig = gen.plot_latent_space(np.random.default_rng(0).normal(size=(30, 2)), np.arange(30) % 10)
    assert isinstance(fig, matplotlib.figure.Figure)
    plt.close(fig)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        gen.plot_latent_space(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="sample_grid"):
        gen.sample_grid(np.zeros((0, 8, 8)))
    dec = gen.build_vae_decoder(2, SHAPE, filters=(8, 4))
    grid = gen.latent_grid(dec, n=3, limit=1.0)
    assert grid.shape == (9,) + SHAPE
    np.testing.assert_allclose(grid[0], keras.ops.convert_to_numpy(dec(np.array([[-1.0, 1.0]], "float32")))[0],
                               atol=1e-6)
    path = gen.interpolate(dec, [0, 0], [1, -1], steps=4)
    assert path.shape == (4,) + SHAPE
    np.testing.assert_allclose(path[-1], keras.ops.convert_to_numpy(dec(np.array([[1.0, -1.0]], "float32")))[0],
                               atol=1e-6)


def test_sample_history_keeps_arrays(x01, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)
    gan = tiny_gan()
    gan.compile()
    cb = gen.SampleHistory(n=4, seed=0)
    gan.fit(x01 * 2 - 1, epochs=2, batch_size=32, verbose=0, callbacks=[cb])
    assert [e for e, _ in cb.history] == [0, 1, 2]
    assert all(a.shape == (4,) + SHAPE and a.dtype == np.float32 for _, a in cb.history)
    assert not np.array_equal(cb.history[0][1], cb.history[-1][1])  # the generator changed
    np.testing.assert_array_equal(cb.history[-1][1], keras.ops.convert_to_numpy(gan.generate(cb.z)))
    assert list(tmp_path.iterdir()) == []  # no files unless asked
    cgan = tiny_cgan()
    cgan.compile()
    cb = gen.SampleHistory(labels=[0, 1, 2], save_dir=tmp_path / "grids", value_range=(-1, 1))
    cgan.fit(x01 * 2 - 1, np.arange(64) % 3, epochs=1, batch_size=32, verbose=0, callbacks=[cb])
    assert [a.shape[0] for _, a in cb.history] == [3, 3]
    assert sorted(p.name for p in (tmp_path / "grids").iterdir()) == ["epoch_000.png", "epoch_001.png"]


def test_feature_classifier_and_embed(x01):
    clf = gen.build_feature_classifier(SHAPE, 3, feature_dim=5, filters=(4, 4))
    f = gen.embed(clf, x01[:7])
    assert f.shape == (7, 5) and f.dtype == np.float64 and (f >= 0).all()
    assert gen.embed(clf, x01[:7], layer=None).shape == (7, 3)
    assert gen.embed(lambda a: a.reshape(len(a), -1)[:, :2], x01[:7], batch_size=3).shape == (7, 2)
    with pytest.raises(ValueError, match="no layer 'nope'"):
        gen.embed(clf, x01[:2], layer="nope")


# --------------------------------------------------------------------------- measures


def test_frechet_identical_sets_is_zero():
    f = np.random.default_rng(0).normal(size=(500, 6))
    assert gen.frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6)


def test_frechet_closed_form_for_gaussians():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mu_a, mu_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    cov_a, cov_b = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T  # commuting: closed form below
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)  # 5 + 4 + 1 + 0
    assert expected == pytest.approx(10.0)
    assert gen.frechet_distance_from_stats(mu_a, cov_a, mu_b, cov_b) == pytest.approx(expected, rel=1e-8)
    # non-commuting pair against the symmetric form tr(A + B - 2 (A^1/2 B A^1/2)^1/2)
    m = rng.normal(size=(4, 4))
    A, B = m @ m.T + np.eye(4), np.diag([1.0, 2.0, 3.0, 4.0])

    def sqrtm_psd(s):
        w, v = np.linalg.eigh(s)
        return v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.T

    ra = sqrtm_psd(A)
    sym = np.trace(A + B - 2 * sqrtm_psd(ra @ B @ ra))
    assert gen.frechet_distance_from_stats(np.zeros(4), A, np.zeros(4), B) == pytest.approx(sym, rel=1e-6)
    # from samples: close to the population value
    fa = rng.multivariate_normal(mu_a, cov_a, size=40_000)
    fb = rng.multivariate_normal(mu_b, cov_b, size=40_000)
    assert gen.frechet_distance(fa, fb) == pytest.approx(expected, rel=0.03)


def test_frechet_grows_with_mean_shift_and_handles_singular():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(400, 5))
    g = rng.normal(size=(400, 5))
    d = [gen.frechet_distance(f, g + s) for s in (0.0, 0.5, 1.0, 2.0)]
    assert d[0] < 0.2 and all(x < y for x, y in zip(d, d[1:]))
    assert d[-1] == pytest.approx(d[0] + 5 * 4.0, rel=0.05)
    # a dead (constant) feature makes both covariances singular: same distance as without it
    fz, gz = np.c_[f, np.zeros(len(f))], np.c_[g + 1.0, np.zeros(len(g))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no LinAlgWarning leaks out
        assert gen.frechet_distance(fz, gz) == pytest.approx(gen.frechet_distance(f, g + 1.0), abs=1e-4)
    few = gen.frechet_distance(rng.normal(size=(5, 20)), rng.normal(size=(5, 20)))  # rank-deficient covariances
    assert np.isfinite(few) and few >= 0
    with pytest.raises(ValueError, match="dimensions differ"):
        gen.frechet_distance(f, f[:, :3])
    with pytest.raises(ValueError, match="N >= 2"):
        gen.frechet_distance(f[:1], f)
    with pytest.raises(ValueError, match="NaN"):
        gen.frechet_distance(np.full((3, 2), np.nan), f[:, :2])


def test_two_sample_accuracy():
    rng = np.random.default_rng(0)
    same = gen.two_sample_accuracy(rng.normal(size=(400, 8)), rng.normal(size=(300, 8)))
    assert 0.4 < same < 0.6
    far = gen.two_sample_accuracy(rng.normal(size=(200, 8)), rng.normal(size=(200, 8)) + 3.0)
    assert far > 0.97
    with pytest.raises(ValueError, match="folds"):
        gen.two_sample_accuracy(rng.normal(size=(3, 2)), rng.normal(size=(3, 2)))


def test_gaussian_baseline_samples():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(2000, 1))
    x = np.concatenate([base, 2 * base + 0.1 * rng.normal(size=(2000, 1))], axis=1).reshape(2000, 1, 2, 1) + 5
    ind = gen.gaussian_baseline_samples(x, full_covariance=False, n=20_000, seed=1, clip=False)
    full = gen.gaussian_baseline_samples(x, full_covariance=True, n=20_000, seed=1, clip=False)
    assert ind.shape == full.shape == (20_000, 1, 2, 1) and ind.dtype == np.float32
    flat, fi, ff = x.reshape(2000, 2), ind.reshape(-1, 2), full.reshape(-1, 2)
    np.testing.assert_allclose(fi.mean(0), flat.mean(0), atol=0.05)
    np.testing.assert_allclose(fi.var(0), flat.var(0), rtol=0.05)
    assert abs(np.corrcoef(fi.T)[0, 1]) < 0.05  # independent pixels
    np.testing.assert_allclose(np.cov(ff.T), np.cov(flat.T), rtol=0.05)  # correlation kept
    np.testing.assert_array_equal(gen.gaussian_baseline_samples(x, True, 5, seed=1, clip=False), full[:5])
    clipped = gen.gaussian_baseline_samples(x, False, 5000, seed=2)
    assert clipped.min() >= x.min() and clipped.max() <= x.max()
    with pytest.raises(ValueError, match="N >= 2"):
        gen.gaussian_baseline_samples(x[:1], False, 3)


def test_photo_patches_are_reproducible_colour_crops():
    a, src = gen.photo_patches(20, 16, seed=0)
    b, _ = gen.photo_patches(20, 16, seed=0)
    c, _ = gen.photo_patches(20, 16, seed=1)
    assert a.shape == (20, 16, 16, 3) and a.dtype == np.uint8 and src.tolist() == [i % 8 for i in range(20)]
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.std() > 10  # photo content, not a flat colour
    with pytest.raises(ValueError, match="size"):
        gen.photo_patches(4, 200)


def test_generator_ema_averages_every_step_and_saves(x01, z, tmp_path):
    keras.utils.set_random_seed(0)
    gan = tiny_gan()
    gan.compile()
    with pytest.raises(ValueError, match="decay"):
        gen.GeneratorEMA(1.0)
    with pytest.raises(RuntimeError, match="train first"):
        gen.GeneratorEMA(0.5).generate(z)

    class Record(keras.callbacks.Callback):  # raw weights after each step (runs after the EMA callback)
        def __init__(self):
            super().__init__()
            self.steps = []

        def on_train_batch_end(self, batch, logs=None):
            self.steps.append([w.numpy().copy() for w in self.model.generator.trainable_weights])

    start = [w.numpy().copy() for w in gan.generator.trainable_weights]
    ema, rec = gen.GeneratorEMA(0.5, calibration_samples=64, seed=3), Record()
    gan.fit(x01 * 2 - 1, epochs=1, batch_size=16, verbose=0, callbacks=[ema, rec])
    assert len(rec.steps) == 4
    expected = start
    for raw in rec.steps:  # w_avg = 0.5 w_avg + 0.5 w, from the weights at the start of training
        expected = [0.5 * e + 0.5 * r for e, r in zip(expected, raw)]
    for e, w in zip(expected, ema.generator.trainable_weights):
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(w.numpy(), r) for w, r in zip(ema.generator.trainable_weights, rec.steps[-1]))
    out = keras.ops.convert_to_numpy(ema.generate(z))
    assert out.shape == (5,) + SHAPE
    # generate() re-estimated the first batch norm's statistics on the averaged dense layer's output
    dense, norm = ema.generator.layers[1], ema.generator.layers[2]
    assert isinstance(norm, keras.layers.BatchNormalization) and norm.momentum == 0.9  # momentum restored
    h = keras.ops.convert_to_numpy(dense(np.random.default_rng(3).standard_normal((64, LATENT)).astype("float32")))
    np.testing.assert_allclose(norm.moving_mean.numpy(), h.mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(norm.moving_variance.numpy(), h.var(axis=0), rtol=1e-3, atol=1e-5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ema.generate(z)), out)  # no second calibration
    # the average is an ordinary generator: its weights load into the same builder, identical outputs
    path = tmp_path / "ema.weights.h5"
    ema.generator.save_weights(path)
    loaded = gen.build_generator(LATENT, SHAPE, filters=(8, 8, 4))
    loaded.load_weights(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(z, training=False)), out)
    # a second fit continues the same average (no restart from the raw weights)
    before = [w.numpy().copy() for w in ema.generator.trainable_weights]
    gan.fit(x01 * 2 - 1, epochs=1, batch_size=64, verbose=0, callbacks=[ema])
    raw = [w.numpy() for w in gan.generator.trainable_weights]
    for b, r, w in zip(before, raw, ema.generator.trainable_weights):
        np.testing.assert_allclose(w.numpy(), 0.5 * b + 0.5 * r, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(keras.ops.convert_to_numpy(ema.generate(z)), out)


def _write_cifar_like(path, per_batch=3, members=None):
    """A small archive in the layout of cifar-10-python.tar.gz (pickled dicts of b"data", b"labels")."""
    import io
    import pickle
    import tarfile

    rng = np.random.default_rng(0)
    batches = {}
    with tarfile.open(path, "w:gz") as tar:
        for i, name in enumerate(members or [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
            data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
            labels = [(i + j) % 10 for j in range(per_batch)]
            batches[name] = (data, labels)
            blob = pickle.dumps({b"batch_label": name.encode(), b"data": data, b"labels": labels})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return batches


def test_load_cifar10_reads_the_keras_archive_layout(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    batches = _write_cifar_like(archive)
    (x, y), (xt, yt) = gen.load_cifar10(archive)
    assert x.shape == (15, 32, 32, 3) and x.dtype == np.uint8 and y.dtype == np.int64 and y.shape == (15,)
    assert xt.shape == (3, 32, 32, 3) and yt.tolist() == batches["test_batch"][1]
    data, labels = batches["data_batch_2"]
    # row = red plane, then green, then blue (32x32 each): pixel (r, c) of channel k is data[k*1024 + r*32 + c]
    np.testing.assert_array_equal(x[3, 5, 7], [data[0, 5 * 32 + 7], data[0, 1024 + 5 * 32 + 7], data[0, 2048 + 5 * 32 + 7]])
    assert y[3:6].tolist() == labels
    assert len(gen.CIFAR10_CLASSES) == 10


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_unpickler_reads_arrays_of_every_protocol(protocol):
    import io
    import pickle

    blob = pickle.dumps({b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [1, 2]}, protocol=protocol)
    got = gen._ArrayUnpickler(io.BytesIO(blob), "test").load()
    assert got[b"data"].tolist() == [[0, 1, 2], [3, 4, 5]] and got[b"labels"] == [1, 2]


def test_load_cifar10_bad_inputs_name_the_file_and_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="utils.weights fetch cifar-10-python.tar.gz"):
        gen.load_cifar10(tmp_path / "missing.tar.gz")
    partial = tmp_path / "partial.tar.gz"
    _write_cifar_like(partial, members=["data_batch_1"])
    with pytest.raises(ValueError, match="data_batch_2"):
        gen.load_cifar10(partial)
    import io
    import pickle
    import tarfile

    class Boom:
        def __reduce__(self):
            return (print, ("code ran",))

    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        blob = pickle.dumps({b"data": Boom(), b"labels": []})
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    with pytest.raises(ValueError, match="refused to unpickle builtins.print"):
        gen.load_cifar10(evil)
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar file")
    with pytest.raises(ValueError, match="not a readable .tar.gz.*fetch --force"):
        gen.load_cifar10(junk)


_TORCH_STEP = r"""
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
sys.path.insert(0, sys.argv[1])
import numpy as np, keras
from utils import generative as gen
keras.utils.set_random_seed(0)
x = np.random.default_rng(0).uniform(-1, 1, (128, 16, 16, 3)).astype("float32")
gan = gen.GAN(gen.build_generator(8, (16, 16, 3), filters=(16, 8, 8)), gen.build_discriminator((16, 16, 3), filters=(8, 8)), seed=1)
gan.compile()
before = [w.copy() for w in gan.generator.get_weights()]
d_before = [w.copy() for w in gan.discriminator.get_weights()]
h = gan.fit(x, epochs=1, batch_size=32, verbose=0).history
assert all(np.isfinite(v[-1]) for v in h.values()), h
assert any(not np.allclose(a, b) for a, b in zip(before, gan.generator.get_weights())), "generator did not move"
assert any(not np.allclose(a, b) for a, b in zip(d_before, gan.discriminator.get_weights())), "discriminator did not move"
gan.generator.save_weights(sys.argv[2])
z = np.random.default_rng(1).standard_normal((4, 8)).astype("float32")
np.save(sys.argv[3], keras.ops.convert_to_numpy(gan.generator(z, training=False)))
"""


def test_gan_train_step_runs_on_the_torch_backend_and_loads_in_tensorflow(tmp_path):
    """The course's checkpoints can be trained on a GPU machine with PyTorch but no TensorFlow
    (``KERAS_BACKEND=torch``): the same train step updates both networks there, and the saved
    weights give the same images here."""
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    if importlib.util.find_spec("torch") is None:
        pytest.skip("PyTorch is not installed (only needed to train checkpoints on a PyTorch GPU machine)")
    root = Path(gen.__file__).resolve().parents[1]
    script = tmp_path / "step.py"
    script.write_text(_TORCH_STEP)
    weights, out = tmp_path / "g.weights.h5", tmp_path / "torch_out.npy"
    run = subprocess.run([sys.executable, str(script), str(root), str(weights), str(out)], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    g = gen.build_generator(8, (16, 16, 3), filters=(16, 8, 8))
    g.load_weights(weights)
    z = np.random.default_rng(1).standard_normal((4, 8)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(g(z, training=False)), np.load(out), atol=1e-5)

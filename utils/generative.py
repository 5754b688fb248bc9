"""Generative models and honest measures of their samples (day 6: notebooks ``6_1``-``6_4``).

Models (Keras 3, TensorFlow backend, custom ``train_step``; losses tracked with
``keras.metrics.Mean``, no symbolic ``add_loss``)::

    from utils import generative as gen
    vae = gen.VAE(gen.build_vae_encoder((28, 28, 1), 2), gen.build_vae_decoder(2, (28, 28, 1)))
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3))
    vae.fit(x01, epochs=5, batch_size=128)        # logs loss, reconstruction, kl (nats / image)

    gan = gen.GAN(gen.build_generator(64, (32, 32, 3)), gen.build_discriminator((32, 32, 3)))
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    gan.fit(x_pm1, epochs=5, batch_size=64)       # logs d_loss, g_loss

    cgan = gen.ConditionalGAN(gen.build_generator(64, (28, 28, 1), n_classes=10),
                              gen.build_discriminator((28, 28, 1), n_classes=10, aux_classifier=True),
                              aux_weight=1.0)
    cgan.compile(d_optimizer=..., g_optimizer=...)
    cgan.fit(x_pm1, labels, epochs=5, batch_size=64)

All three save and load with ``model.save("m.keras")`` / ``keras.saving.load_model`` or
``save_weights("m.weights.h5")`` / ``load_weights`` (the optimizers are not part of the
saved file: compile again to continue training).

Pixel ranges: the VAE works on images in ``[0, 1]`` (Bernoulli likelihood, so the
reconstruction term is a binary cross-entropy summed over pixels, in nats per image);
the GAN generators end in ``tanh`` and expect real images scaled to ``[-1, 1]``.

Measures: :func:`frechet_distance` between feature statistics (the course's own small
feature extractor, not the Inception-based FID), :func:`two_sample_accuracy` (can a linear
classifier tell real from generated features?), and :func:`gaussian_baseline_samples`
(the baselines a generator must beat).
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

import keras
from keras import layers, ops

PACKAGE = "course"
"""Registration package of the serialisable classes here (``"course>VAE"``, ...)."""


def _minimize(optimizer, loss_fn: Callable, weights) -> tuple:
    """One gradient step: ``loss_fn()`` returns ``(loss, *extras)``; ``optimizer`` moves ``weights``
    down the gradient of ``loss``. Returns what ``loss_fn`` returned.

    The custom train steps below use it so they run on TensorFlow (``tf.GradientTape``, the
    course's backend) and on PyTorch (autograd; ``KERAS_BACKEND=torch``, used to train the course's
    checkpoints on a GPU machine that has PyTorch but no TensorFlow)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            out = loss_fn()
        optimizer.apply_gradients(zip(tape.gradient(out[0], weights), weights))
        return out
    if backend == "torch":
        import torch

        for w in weights:
            w.value.grad = None
        out = loss_fn()
        out[0].backward()
        with torch.no_grad():
            optimizer.apply([w.value.grad for w in weights], weights)
        return out
    raise RuntimeError(f"utils.generative trains with the TensorFlow or PyTorch backend; Keras uses "
                       f"{backend!r} (set KERAS_BACKEND before importing keras)")


# --------------------------------------------------------------------------- the KL term


def kl_divergence(mean, log_var):
    """KL divergence ``KL(N(mean, exp(log_var)) || N(0, I))`` per sample, in nats (used by 6_2).

    ``mean``, ``log_var``: ``(N, D)`` arrays or tensors (float). Returns ``(N,)``:
    ``-0.5 * sum_d (1 + log_var - mean**2 - exp(log_var))``; a NumPy float64 array when both
    inputs are NumPy/lists, a tensor otherwise (usable inside a ``train_step``).
    """
    if not isinstance(mean, keras.KerasTensor) and not ops.is_tensor(mean) and not ops.is_tensor(log_var):
        m, lv = np.asarray(mean, dtype=np.float64), np.asarray(log_var, dtype=np.float64)
        if m.shape != lv.shape or m.ndim != 2:
            raise ValueError(f"kl_divergence: mean and log_var must both be (N, D); got {m.shape} and {lv.shape}")
        return -0.5 * np.sum(1.0 + lv - m**2 - np.exp(lv), axis=1)
    return -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=1)


# --------------------------------------------------------------------------- network builders


def _check_shape(image_shape, name="image_shape"):
    image_shape = tuple(int(s) for s in image_shape)
    if len(image_shape) != 3 or image_shape[0] % 4 or image_shape[1] % 4:
        raise ValueError(f"{name} must be (H, W, C) with H and W divisible by 4; got {image_shape}")
    return image_shape


def build_vae_encoder(image_shape, latent_dim: int = 2, filters: Sequence[int] = (32, 64), dense: int = 16,
                      name: str = "encoder") -> keras.Model:
    """Convolutional encoder (used by 6_2): images ``(N, H, W, C)`` float32 in ``[0, 1]`` →
    ``[z_mean, z_log_var]``, each ``(N, latent_dim)``. Two stride-2 convolutions, so ``H`` and
    ``W`` must be divisible by 4 (the architecture of the Keras VAE example)."""
    image_shape = _check_shape(image_shape)
    x_in = keras.Input(image_shape)
    x = x_in
    for f in filters[:2]:
        x = layers.Conv2D(f, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(x_in, [z_mean, z_log_var], name=name)


def build_vae_decoder(latent_dim: int, image_shape, filters: Sequence[int] = (64, 32),
                      name: str = "decoder") -> keras.Model:
    """Decoder (used by 6_2): ``(N, latent_dim)`` → images ``(N, H, W, C)`` in ``[0, 1]``
    (sigmoid: Bernoulli means). Mirror of :func:`build_vae_encoder`."""
    h, w, c = _check_shape(image_shape)
    z = keras.Input((latent_dim,))
    x = layers.Dense((h // 4) * (w // 4) * filters[0], activation="relu")(z)
    x = layers.Reshape((h // 4, w // 4, filters[0]))(x)
    for f in filters[:2]:
        x = layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(c, 3, padding="same", activation="sigmoid")(x)
    return keras.Model(z, x, name=name)


def build_generator(latent_dim: int, image_shape, n_classes: int = 0, filters: Sequence[int] = (128, 64, 32),
                    momentum: float = 0.9, name: str = "generator") -> keras.Model:
    """DCGAN generator (used by 6_3, 6_4): ``z (N, latent_dim)`` → images ``(N, H, W, C)`` in
    ``[-1, 1]`` (tanh). Dense → ``(H/4, W/4, filters[0])`` → two stride-2 transposed
    convolutions (``filters[1]``, ``filters[2]`` channels) with batch norm (``momentum`` 0.9:
    short trainings, see FACTS) and LeakyReLU.
    With ``n_classes > 0`` the model takes ``[z, labels_one_hot (N, n_classes)]`` and the
    one-hot label is concatenated to ``z`` (the conditional GAN of 6_4)."""
    h, w, c = _check_shape(image_shape)
    z = keras.Input((latent_dim,), name="z")
    inputs, x = [z], z
    if n_classes:
        y = keras.Input((n_classes,), name="label")
        inputs, x = [z, y], layers.Concatenate()([z, y])
    x = layers.Dense((h // 4) * (w // 4) * filters[0], use_bias=False)(x)
    x = layers.BatchNormalization(momentum=momentum)(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((h // 4, w // 4, filters[0]))(x)
    for f in filters[1:3]:
        x = layers.Conv2DTranspose(f, 4, strides=2, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=momentum)(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Conv2D(c, 3, padding="same", activation="tanh")(x)
    return keras.Model(inputs if n_classes else z, x, name=name)


def build_discriminator(image_shape, n_classes: int = 0, aux_classifier: bool = False,
                        filters: Sequence[int] = (64, 128), dropout: float = 0.3,
                        name: str = "discriminator") -> keras.Model:
    """DCGAN discriminator (used by 6_3, 6_4): images ``(N, H, W, C)`` in ``[-1, 1]`` → one
    real/fake logit ``(N, 1)``. Two stride-2 convolutions with LeakyReLU, flatten, dropout.

    With ``n_classes > 0`` it takes ``[images, labels_one_hot (N, n_classes)]``. Plain
    conditional GAN (``aux_classifier=False``): the one-hot label is broadcast to ``n_classes``
    constant image channels and concatenated to the image, so every convolution sees it (as
    in the keras-io conditional GAN). With ``aux_classifier=True`` it returns ``[logit (N, 1),
    class_logits (N, n_classes)]``: the convolutions and the class head see the image only,
    never the label input (otherwise the head could copy it); the label joins the image
    features just before the real/fake logit."""
    h, w, _ = image_shape = _check_shape(image_shape)
    if aux_classifier and not n_classes:
        raise ValueError("build_discriminator: aux_classifier=True needs n_classes > 0")
    x_in = keras.Input(image_shape, name="image")
    inputs, x = x_in, x_in
    if n_classes:
        y = keras.Input((n_classes,), name="label")
        inputs = [x_in, y]
        if not aux_classifier:
            planes = layers.UpSampling2D((h, w))(layers.Reshape((1, 1, n_classes))(y))
            x = layers.Concatenate()([x_in, planes])
    for f in filters[:2]:
        x = layers.Conv2D(f, 4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
    feats = layers.Dropout(dropout)(layers.Flatten()(x))
    if not aux_classifier:
        return keras.Model(inputs, layers.Dense(1, name="logit")(feats), name=name)
    logit = layers.Dense(1, name="logit")(layers.Concatenate()([feats, layers.Dense(64)(y)]))
    return keras.Model(inputs, [logit, layers.Dense(n_classes, name="class_logits")(feats)], name=name)


def build_feature_classifier(image_shape, n_classes: int, feature_dim: int = 64, filters: Sequence[int] = (32, 64),
                             name: str = "feature_classifier") -> keras.Model:
    """Small CNN classifier whose layer ``"features"`` (``(N, feature_dim)``, ReLU) is the
    course's fixed feature extractor for :func:`frechet_distance` and
    :func:`two_sample_accuracy` (6_3), and whose softmax output ``(N, n_classes)`` checks the
    requested labels of a conditional GAN (6_4). Train it on real images with
    ``sparse_categorical_crossentropy``; then :func:`embed` with ``layer="features"``."""
    image_shape = _check_shape(image_shape)
    x_in = keras.Input(image_shape)
    x = x_in
    for f in filters[:2]:
        x = layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x) if image_shape[0] > 16 else layers.Flatten()(x)
    feats = layers.Dense(feature_dim, activation="relu", name="features")(x)
    return keras.Model(x_in, layers.Dense(n_classes, activation="softmax", name="probs")(feats), name=name)


# --------------------------------------------------------------------------- models


def _serialize(obj):
    return keras.saving.serialize_keras_object(obj)


def _deserialize(cfg):
    return keras.saving.deserialize_keras_object(cfg)


@keras.saving.register_keras_serializable(package=PACKAGE)
class VAE(keras.Model):
    """Variational autoencoder with the reparameterisation trick (used by 6_2).

    ``encoder``: images ``(N, H, W, C)`` in ``[0, 1]`` → ``[z_mean, z_log_var]`` ``(N, D)``
    (see :func:`build_vae_encoder`); ``decoder``: ``(N, D)`` → images in ``[0, 1]``.
    Loss per image, in nats: reconstruction (binary cross-entropy summed over pixels) +
    ``beta`` × :func:`kl_divergence`. ``fit``/``evaluate`` log ``loss``, ``reconstruction``
    and ``kl`` (batch means). ``model(x)`` returns the reconstruction decoded from the latent
    *mean* (deterministic); during training ``z = mean + exp(log_var / 2) * eps``.
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, beta: float = 1.0, seed: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.beta = float(beta)
        self.seed = seed
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.rec_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.built = True  # the sub-models are built: saving works before the first call

    @property
    def metrics(self):
        return [self.loss_tracker, self.rec_tracker, self.kl_tracker]

    def encode(self, x):
        """``(N, H, W, C)`` → ``(z_mean, z_log_var)``, each ``(N, D)``."""
        z_mean, z_log_var = self.encoder(x)
        return z_mean, z_log_var

    def reparameterize(self, z_mean, z_log_var):
        """``z = mean + exp(log_var / 2) * eps``, ``eps ~ N(0, I)``: differentiable in mean, log_var."""
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def generate(self, z):
        """Decode latent codes ``(N, D)`` → images ``(N, H, W, C)`` in ``[0, 1]``."""
        return self.decoder(z, training=False)

    def call(self, x, training=False):
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.reparameterize(z_mean, z_log_var) if training else z_mean
        return self.decoder(z, training=training)

    def _vae_losses(self, x, training):
        z_mean, z_log_var = self.encoder(x, training=training)
        recon = self.decoder(self.reparameterize(z_mean, z_log_var), training=training)
        eps = 1e-7
        rec = -ops.sum(x * ops.log(recon + eps) + (1 - x) * ops.log(1 - recon + eps), axis=(1, 2, 3))
        kl = kl_divergence(z_mean, z_log_var)
        return ops.mean(rec + self.beta * kl), ops.mean(rec), ops.mean(kl)

    def _update(self, total, rec, kl):
        self.loss_tracker.update_state(total)
        self.rec_tracker.update_state(rec)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        total, rec, kl = _minimize(self.optimizer, lambda: self._vae_losses(x, training=True), self.trainable_weights)
        return self._update(total, rec, kl)

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        return self._update(*self._vae_losses(x, training=False))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(encoder=_serialize(self.encoder), decoder=_serialize(self.decoder), beta=self.beta, seed=self.seed)
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"], config["decoder"] = _deserialize(config["encoder"]), _deserialize(config["decoder"])
        return cls(**config)


def _bce_logits(labels, logits):
    return ops.mean(ops.binary_crossentropy(labels, logits, from_logits=True))


@keras.saving.register_keras_serializable(package=PACKAGE)
class GAN(keras.Model):
    """Generative adversarial network with two optimizers (used by 6_3).

    ``generator``: ``z (N, latent_dim)`` → images in ``[-1, 1]``; ``discriminator``: images →
    real/fake logit ``(N, 1)``. ``compile(d_optimizer=, g_optimizer=)``; ``fit(x)`` on real
    images in ``[-1, 1]`` (labels, if given, are ignored). Each step: one discriminator update
    on a real and a generated batch (binary cross-entropy on logits, real label
    ``1 - label_smoothing``), then one generator update (non-saturating loss: make the
    discriminator say "real"). Logs ``d_loss`` and ``g_loss``; also ``d_real`` and ``d_fake``,
    the discriminator's mean probability on real and generated images (a winning
    discriminator shows ``d_real`` → 1, ``d_fake`` → 0). ``model(z)`` = ``generator(z)``.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, label_smoothing: float = 0.0,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.discriminator = generator, discriminator
        self.label_smoothing = float(label_smoothing)
        self.seed = seed
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")
        self.built = True  # the sub-models are built: saving works before the first call

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker, self.d_fake_tracker]

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """``d_optimizer``, ``g_optimizer``: Keras optimizers (default Adam(2e-4, beta_1=0.5))."""
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5)

    def get_compile_config(self):
        return None  # optimizers are not saved with the model: compile again to train on

    def generate(self, z):
        """Latent codes ``(N, latent_dim)`` → images ``(N, H, W, C)`` in ``[-1, 1]``."""
        return self.generator(z, training=False)

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def _noise(self, n):
        return keras.random.normal((n, self.latent_dim), seed=self.seed_generator)

    def _track(self, d_loss, g_loss, d_real, d_fake):
        for t, v in zip(self.metrics, (d_loss, g_loss, d_real, d_fake)):
            t.update_state(v)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        real = data[0] if isinstance(data, (tuple, list)) else data
        n = ops.shape(real)[0]
        fake = ops.stop_gradient(self.generator(self._noise(n), training=True))

        def d_losses():
            lr, lf = self.discriminator(real, training=True), self.discriminator(fake, training=True)
            return (_bce_logits(ops.ones_like(lr) * (1 - self.label_smoothing), lr)
                    + _bce_logits(ops.zeros_like(lf), lf), lr, lf)

        def g_losses():
            lg = self.discriminator(self.generator(self._noise(n), training=True), training=True)
            return (_bce_logits(ops.ones_like(lg), lg),)

        d_loss, lr, lf = _minimize(self.d_optimizer, d_losses, self.discriminator.trainable_weights)
        (g_loss,) = _minimize(self.g_optimizer, g_losses, self.generator.trainable_weights)
        return self._track(d_loss, g_loss, ops.mean(ops.sigmoid(lr)), ops.mean(ops.sigmoid(lf)))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(generator=_serialize(self.generator), discriminator=_serialize(self.discriminator),
                   label_smoothing=self.label_smoothing, seed=self.seed)
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["generator"] = _deserialize(config["generator"])
        config["discriminator"] = _deserialize(config["discriminator"])
        return cls(**config)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConditionalGAN(GAN):
    """Conditional GAN: the label is an extra input to both networks (used by 6_4).

    ``generator``: ``[z (N, latent_dim), one_hot (N, n_classes)]`` → images in ``[-1, 1]``;
    ``discriminator``: ``[images, one_hot]`` → logit ``(N, 1)``, or ``[logit, class_logits
    (N, n_classes)]`` when built with ``aux_classifier=True`` (:func:`build_discriminator`).
    ``fit(images, labels)`` with integer labels ``(N,)``. Fakes are generated for random
    labels. With an auxiliary classifier, ``aux_weight`` × cross-entropy is added: the
    discriminator learns to classify *real* images, the generator to make images that the
    classifier assigns to the requested label (logged as ``aux_loss``, the generator's term).
    The plain concatenated-label version learned no conditioning on 28×28 MNIST in 40 s of
    CPU training (requested-label accuracy 0.10); the auxiliary term reached 0.82 (issue 13).
    ``model([z, one_hot])`` = ``generator([z, one_hot])``.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, aux_weight: float = 0.0,
                 label_smoothing: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(generator, discriminator, label_smoothing=label_smoothing, seed=seed, **kwargs)
        self.n_classes = int(generator.inputs[1].shape[-1])
        self.aux = isinstance(discriminator.outputs, (list, tuple)) and len(discriminator.outputs) == 2
        if aux_weight and not self.aux:
            raise ValueError("ConditionalGAN: aux_weight > 0 needs a discriminator with two outputs "
                             "[logit, class_logits] (build_discriminator(..., aux_classifier=True))")
        self.aux_weight = float(aux_weight)
        self.aux_tracker = keras.metrics.Mean(name="aux_loss")

    @property
    def metrics(self):
        return super().metrics + [self.aux_tracker]

    def generate(self, z, labels=None):
        """``z (N, latent_dim)`` and integer ``labels (N,)`` (or one-hot ``(N, n_classes)``) → images."""
        if labels is None:
            raise ValueError("ConditionalGAN.generate: give the labels (N,) of the requested classes")
        labels = ops.convert_to_tensor(labels)
        if len(labels.shape) == 1:
            labels = ops.one_hot(ops.cast(labels, "int32"), self.n_classes)
        return self.generator([ops.convert_to_tensor(z, "float32"), ops.cast(labels, "float32")], training=False)

    def _disc(self, images, one_hot, training):
        out = self.discriminator([images, one_hot], training=training)
        return (out[0], out[1]) if self.aux else (out, None)

    def train_step(self, data):
        if not isinstance(data, (tuple, list)) or len(data) < 2:
            raise ValueError("ConditionalGAN.fit needs (images, integer labels)")
        real, labels = data[0], data[1]
        n = ops.shape(real)[0]
        y_real = ops.one_hot(ops.cast(ops.reshape(labels, (-1,)), "int32"), self.n_classes)
        fake_labels = keras.random.randint((n,), 0, self.n_classes, seed=self.seed_generator)
        y_fake = ops.one_hot(fake_labels, self.n_classes)
        fake = ops.stop_gradient(self.generator([self._noise(n), y_fake], training=True))

        def d_losses():
            lr, cr = self._disc(real, y_real, True)
            lf, _ = self._disc(fake, y_fake, True)
            d_loss = (_bce_logits(ops.ones_like(lr) * (1 - self.label_smoothing), lr)
                      + _bce_logits(ops.zeros_like(lf), lf))
            if self.aux_weight:
                d_loss += self.aux_weight * ops.mean(ops.categorical_crossentropy(y_real, cr, from_logits=True))
            return d_loss, lr, lf

        def g_losses():
            lg, cg = self._disc(self.generator([self._noise(n), y_fake], training=True), y_fake, True)
            g_loss = _bce_logits(ops.ones_like(lg), lg)
            aux = ops.mean(ops.categorical_crossentropy(y_fake, cg, from_logits=True)) if self.aux else 0.0
            return g_loss + self.aux_weight * aux, g_loss, aux

        d_loss, lr, lf = _minimize(self.d_optimizer, d_losses, self.discriminator.trainable_weights)
        _, g_loss, aux = _minimize(self.g_optimizer, g_losses, self.generator.trainable_weights)
        self.aux_tracker.update_state(aux)
        return self._track(d_loss, g_loss, ops.mean(ops.sigmoid(lr)), ops.mean(ops.sigmoid(lf)))

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def get_config(self):
        cfg = super().get_config()
        cfg["aux_weight"] = self.aux_weight
        return cfg


# --------------------------------------------------------------------------- pictures


def _to_uint8(images, value_range):
    lo, hi = value_range
    x = (np.asarray(images, dtype=np.float64) - lo) / (hi - lo)
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def sample_grid(images, cols: int | None = None, value_range=(0.0, 1.0), row_labels: Sequence[str] | None = None,
                title: str | None = None, size: float = 0.9):
    """Matplotlib figure of images ``(N, H, W, C)`` or ``(N, H, W)`` (float in ``value_range``,
    e.g. ``(-1, 1)`` for GAN output, or uint8 with ``value_range=(0, 255)``) tiled ``cols``
    per row (default ``ceil(sqrt(N))``); ``row_labels`` name the rows (6_4: one row per
    requested digit). Returns the figure (used by 6_2, 6_3, 6_4)."""
    import matplotlib.pyplot as plt

    from utils import images as uimages

    arr = np.asarray(images)
    if arr.ndim not in (3, 4) or len(arr) == 0:
        raise ValueError(f"sample_grid: images must be (N, H, W) or (N, H, W, C) with N > 0; got {arr.shape}")
    cols = cols or math.ceil(math.sqrt(len(arr)))
    rows = math.ceil(len(arr) / cols)
    tile = uimages.grid(list(_to_uint8(arr, value_range)), cols=cols, pad=2, value=255)
    h, w = arr.shape[1:3]
    width = max(2.0, size * cols * max(w, 28) / 28) + (0.6 if row_labels is not None else 0)
    height = max(1.5, size * rows * max(h, 28) / 28) + (0.3 if title else 0)
    fig, ax = plt.subplots(figsize=(width, height))
    ax.imshow(tile, cmap="gray" if tile.ndim == 2 else None, vmin=0, vmax=255)
    ax.set_xticks([])
    if row_labels is not None:
        ax.set_yticks([(h + 2) * r + h / 2 for r in range(len(row_labels))], list(row_labels))
    else:
        ax.set_yticks([])
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_latent_space(z, labels=None, title: str = "latent space", ax=None):
    """Scatter of 2-D latent codes ``z (N, 2)`` coloured by integer ``labels (N,)`` (used by
    6_2). Returns the figure."""
    import matplotlib.pyplot as plt

    z = np.asarray(z)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"plot_latent_space: z must be (N, 2); got {z.shape}")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5.5, 4.5))
    sc = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=6, alpha=0.8)
    if labels is not None:
        fig.colorbar(sc, ax=ax, ticks=np.unique(labels))
    ax.set(xlabel="z[0]", ylabel="z[1]", title=title)
    return fig


def latent_grid(decoder: Callable, n: int = 15, limit: float = 2.0):
    """Decode an ``n × n`` grid of 2-D codes over ``[-limit, limit]²`` (rows: z[1] from top
    +limit to bottom -limit; columns: z[0] left to right) → images ``(n*n, H, W, C)`` (6_2).
    ``decoder``: ``(M, 2)`` → images (a Keras model or :meth:`VAE.generate`)."""
    axis = np.linspace(-limit, limit, n, dtype="float32")
    zz = np.array([[x, y] for y in axis[::-1] for x in axis], dtype="float32")
    return np.asarray(ops.convert_to_numpy(decoder(zz)))


def interpolate(decoder: Callable, z_a, z_b, steps: int = 8):
    """Decode ``steps`` codes on the straight line from ``z_a`` to ``z_b`` (each ``(D,)``) →
    images ``(steps, H, W, C)`` (6_2)."""
    t = np.linspace(0, 1, steps, dtype="float32")[:, None]
    z = (1 - t) * np.asarray(z_a, "float32")[None] + t * np.asarray(z_b, "float32")[None]
    return np.asarray(ops.convert_to_numpy(decoder(z)))


class SampleHistory(keras.callbacks.Callback):
    """Keep generated samples from *fixed* latent codes over training (6_2, 6_3, 6_4).

    After every ``every`` epochs (and before training) calls ``model.generate(z)`` (or
    ``model.generate(z, labels)`` when ``labels`` is given) and appends ``(epoch, images)``
    to :attr:`history` (``images``: float32 ``(n, H, W, C)``; epoch 0 = before training).
    Writes nothing unless ``save_dir`` is given: then also ``epoch_XXX.png`` grids there.
    ``value_range`` is only for the PNGs (``(-1, 1)`` for GANs).
    """

    def __init__(self, n: int = 16, every: int = 1, seed: int = 0, labels=None, save_dir=None,
                 value_range=(0.0, 1.0), latent_dim: int | None = None):
        super().__init__()
        self.n, self.every, self.seed, self.latent_dim = n, every, seed, latent_dim
        self.labels = None if labels is None else np.asarray(labels)
        if self.labels is not None:
            self.n = len(self.labels)
        self.save_dir = None if save_dir is None else Path(save_dir)
        self.value_range = value_range
        self.history: list[tuple[int, np.ndarray]] = []
        self.z = None

    def _snap(self, epoch):
        if self.z is None:
            dim = self.latent_dim or self.model.latent_dim
            self.z = np.random.default_rng(self.seed).standard_normal((self.n, dim)).astype("float32")
        args = (self.z,) if self.labels is None else (self.z, self.labels)
        imgs = np.asarray(ops.convert_to_numpy(self.model.generate(*args)), dtype="float32")
        self.history.append((epoch, imgs))
        if self.save_dir is not None:
            import matplotlib.pyplot as plt

            fig = sample_grid(imgs, value_range=self.value_range, title=f"epoch {epoch}")
            from utils import images as uimages

            uimages.write_atomically(self.save_dir / f"epoch_{epoch:03d}.png", lambda t: fig.savefig(t, format="png"))
            plt.close(fig)

    def on_train_begin(self, logs=None):
        if not self.history:
            self._snap(0)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self._snap(epoch + 1)


class GeneratorEMA(keras.callbacks.Callback):
    """Exponential moving average of a GAN generator's weights (6_3 and its course checkpoint).

    Pass it to ``GAN.fit(callbacks=[...])``: after every training batch each trainable
    generator weight is averaged, ``w_avg = decay * w_avg + (1 - decay) * w``, into
    :attr:`generator`, a copy of ``model.generator`` with the same architecture. The averaged
    generator changes smoothly where the raw one jumps back and forth in the adversarial game,
    and its samples are usually better (the standard practice of Karras et al. 2018; Yazıcı et
    al. 2019). ``decay`` sets the horizon, about ``1 / (1 - decay)`` steps: 0.95 for a run of a
    few hundred steps, 0.999 for thousands. The average starts from the generator's weights
    when training begins (first ``fit``); later ``fit`` calls continue it.

    Batch-norm moving statistics are *not* averaged: the raw generator's statistics do not fit
    the averaged weights (on the course's 16×16 patches an averaged-statistics generator stayed
    several times further from the data than the raw one). :meth:`recalibrate` re-estimates
    them for the averaged weights from one training-mode pass over ``calibration_samples``
    codes ``np.random.default_rng(seed).standard_normal``; :meth:`generate` does it first
    whenever the weights changed. Call it before saving :attr:`generator` yourself
    (``save_weights``; the file loads into the same builder).
    """

    def __init__(self, decay: float = 0.999, calibration_samples: int = 2048, seed: int = 0):
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"GeneratorEMA: decay must be in [0, 1); got {decay}")
        if calibration_samples < 2:
            raise ValueError(f"GeneratorEMA: calibration_samples must be >= 2; got {calibration_samples}")
        self.decay, self.calibration_samples, self.seed = float(decay), int(calibration_samples), seed
        self.generator: keras.Model | None = None
        self._pairs, self._stale = None, True

    def on_train_begin(self, logs=None):
        if self.generator is None:
            source = self.model.generator
            self.generator = keras.models.clone_model(source)
            self.generator.set_weights(source.get_weights())
            self._pairs = list(zip(self.generator.trainable_weights, source.trainable_weights))

    def on_train_batch_end(self, batch, logs=None):
        d = self.decay
        for v_avg, v in self._pairs:
            v_avg.assign(d * v_avg + (1.0 - d) * v)
        self._stale = True

    def recalibrate(self):
        """Set every batch-norm layer's moving mean and variance of :attr:`generator` to the
        statistics of one batch of ``calibration_samples`` codes (training-mode pass with the
        momentum set to 0 for that pass). Returns :attr:`generator`."""
        if self.generator is None:
            raise RuntimeError("GeneratorEMA: train first (the average starts in fit)")
        norms = [l for l in self.generator.layers if isinstance(l, layers.BatchNormalization)]
        dim = int(self.generator.inputs[0].shape[-1])
        z = np.random.default_rng(self.seed).standard_normal((self.calibration_samples, dim)).astype("float32")
        saved = [l.momentum for l in norms]
        try:
            for l in norms:
                l.momentum = 0.0
            self.generator(z, training=True)
        finally:
            for l, m in zip(norms, saved):
                l.momentum = m
        self._stale = False
        return self.generator

    def generate(self, z):
        """Latent codes ``(N, latent_dim)`` → images from the averaged generator (inference mode,
        batch-norm statistics recalibrated first if the weights changed)."""
        if self._stale:
            self.recalibrate()
        return self.generator(z, training=False)


# --------------------------------------------------------------------------- small colour photos

PATCH_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "china", "flower", "motorcycle_left", "grace_hopper")
"""The colour photos (``utils.data.PHOTOS``) that :func:`photo_patches` cuts (6_3's fast mode)."""


def photo_patches(n: int, size: int = 16, seed: int = 0, photos: Sequence[str] = PATCH_PHOTOS,
                  work_side: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Small colour photographs that ship offline (6_3's fast-mode stand-in for CIFAR-10).

    Each photo of ``photos`` is shrunk (area interpolation) so its short side is ``work_side``
    pixels, then ``n`` square ``size × size`` patches are cut at random positions (``seed``),
    the photos taking turns. Returns ``(patches (n, size, size, 3) uint8 RGB, source (n,)
    int64)`` where ``source`` is the index of the photo in ``photos`` (a label for the course's
    feature extractor). Different seeds give different crops of the *same* photos."""
    import cv2

    from utils import data

    if n < 1 or size < 4 or size > work_side:
        raise ValueError(f"photo_patches: need n >= 1 and 4 <= size <= work_side; got n={n}, size={size}, "
                         f"work_side={work_side}")
    rng = np.random.default_rng(seed)
    small = []
    for name in photos:
        img = data.photo(name)
        f = work_side / min(img.shape[:2])
        small.append(cv2.resize(img, (round(img.shape[1] * f), round(img.shape[0] * f)), interpolation=cv2.INTER_AREA))
    source = np.arange(n) % len(photos)
    out = np.empty((n, size, size, 3), np.uint8)
    for i, s in enumerate(source):
        h, w = small[s].shape[:2]
        r, c = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        out[i] = small[s][r:r + size, c:c + size]
    return out, source.astype(np.int64)


class _ArrayUnpickler(__import__("pickle").Unpickler):
    """Unpickles only plain data and numpy arrays (CIFAR-10's batches); refuses every other global."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),  # bytes in protocol 2
                ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}  # protocol 5

    def __init__(self, file, source: str):
        super().__init__(file, encoding="bytes")
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            if module.startswith("numpy.core.") and hasattr(np, "_core"):
                module = "numpy._core." + module[len("numpy.core."):]   # numpy 2 renamed numpy.core
            return super().find_class(module, name)
        raise ValueError(f"{self.source}: refused to unpickle {module}.{name}: a CIFAR-10 batch holds only "
                         "numpy arrays, lists and bytes (a tampered or foreign file?)")


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
"""CIFAR-10's class names, in label order."""


def load_cifar10(archive) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """CIFAR-10 from its official archive ``cifar-10-python.tar.gz`` (6_3's full mode), read
    without extracting it and without Keras' download: ``(x_train (50000, 32, 32, 3) uint8 RGB,
    y_train (50000,) int64), (x_test (10000, 32, 32, 3), y_test (10000,))``, in the order of
    ``keras.datasets.cifar10.load_data()``.

    The archive is the one Keras downloads (members ``cifar-10-batches-py/data_batch_1`` …
    ``_5`` and ``test_batch``, Python pickles with ``b"data"`` ``(n, 3072)`` uint8 rows, red
    then green then blue planes of 32×32, and ``b"labels"``). Get it with
    ``python -m utils.weights fetch cifar-10-python.tar.gz`` (``make weights``), which checks
    its sha256 before anything here unpickles it. A missing file or an archive without these
    members raises an error naming the file and what was expected. The pickles are read by an
    unpickler that accepts only numpy arrays, dicts, lists, strings and numbers (a tampered file
    that asks for anything else is refused)."""
    import tarfile

    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"{archive}: missing. Fetch CIFAR-10 once (needs the internet): "
                                "python -m utils.weights fetch cifar-10-python.tar.gz   (or make weights)")

    def batch(tar, member):
        try:
            f = tar.extractfile(f"cifar-10-batches-py/{member}")
        except KeyError:
            f = None
        if f is None:
            raise ValueError(f"{archive}: no member cifar-10-batches-py/{member}; expected the official "
                             "cifar-10-python.tar.gz (data_batch_1..5 and test_batch)")
        d = _ArrayUnpickler(f, f"{archive}: {member}").load()
        if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
            raise ValueError(f"{archive}: {member}: expected a dict with b'data' and b'labels'")
        data, labels = np.asarray(d[b"data"], np.uint8), np.asarray(d[b"labels"], np.int64)
        if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
            raise ValueError(f"{archive}: {member}: expected (n, 3072) pixels and n labels; got "
                             f"{data.shape} and {labels.shape}")
        return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels

    try:
        with tarfile.open(archive, "r:gz") as tar:
            parts = [batch(tar, f"data_batch_{i}") for i in range(1, 6)]
            test = batch(tar, "test_batch")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ValueError(f"{archive}: not a readable .tar.gz ({e}); fetch it again: "
                         "python -m utils.weights fetch --force cifar-10-python.tar.gz") from e
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return train, test


# --------------------------------------------------------------------------- measures


def embed(extractor, images, layer: str | None = "features", batch_size: int = 256) -> np.ndarray:
    """Features ``(N, D)`` float64 of ``images (N, H, W, C)`` from a fixed extractor (6_3, 6_4).

    ``extractor``: a Keras model (its layer ``layer`` is used, e.g. ``"features"`` of
    :func:`build_feature_classifier`; ``layer=None``: its output) or any callable
    ``images → (N, D)``. Images are passed as float32, in whatever range the extractor was
    trained on (convert GAN output from ``[-1, 1]`` yourself)."""
    x = np.asarray(images, dtype="float32")
    if isinstance(extractor, keras.Model):
        if layer is not None:
            try:
                out = extractor.get_layer(layer).output
            except ValueError as e:
                raise ValueError(f"embed: the extractor has no layer {layer!r}") from e
            ins = extractor.inputs
            extractor = keras.Model(ins[0] if len(ins) == 1 else ins, out)
        model = extractor
        extractor = lambda b: ops.convert_to_numpy(model(b, training=False))  # eager: no retracing per call
    feats = np.concatenate([np.asarray(extractor(x[i:i + batch_size])) for i in range(0, len(x), batch_size)])
    return np.asarray(feats, dtype=np.float64).reshape(len(x), -1)


def _features(f, name):
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"{name} must be (N, D) with N >= 2; got {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return f


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and covariance ``(D, D)`` (``N - 1`` normalisation) of ``features (N, D)``."""
    f = _features(features, "features")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_distance_from_stats(mu_a, cov_a, mu_b, cov_b, eps: float = 1e-6) -> float:
    """Fréchet (2-Wasserstein²) distance between Gaussians ``N(mu_a, cov_a)`` and
    ``N(mu_b, cov_b)``: ``|mu_a - mu_b|² + tr(cov_a + cov_b - 2 (cov_a cov_b)^½)``.

    A square root that does not square back to ``cov_a cov_b`` (a singular product:
    constant features, fewer samples than dimensions) is retried with ``eps`` added to both
    diagonals (the pytorch-fid recipe); a matrix square root whose imaginary part
    is numerical noise (max ``< 1e-3`` of the trace scale) is made real; a larger one raises.
    """
    from scipy import linalg

    mu_a, mu_b = np.atleast_1d(np.asarray(mu_a, np.float64)), np.atleast_1d(np.asarray(mu_b, np.float64))
    cov_a, cov_b = np.atleast_2d(np.asarray(cov_a, np.float64)), np.atleast_2d(np.asarray(cov_b, np.float64))
    d = len(mu_a)
    if mu_b.shape != (d,) or cov_a.shape != (d, d) or cov_b.shape != (d, d):
        raise ValueError(f"frechet_distance: shapes disagree: mu {mu_a.shape}, {mu_b.shape}; "
                         f"cov {cov_a.shape}, {cov_b.shape}")
    def root(m):
        with warnings.catch_warnings():  # singular products are expected; the result is checked below
            warnings.simplefilter("ignore")
            r = linalg.sqrtm(m)
        ok = np.all(np.isfinite(r)) and np.linalg.norm(r @ r - m) <= 1e-4 * max(1.0, np.linalg.norm(m))
        return r, ok

    covmean, ok = root(cov_a @ cov_b)
    if not ok:
        off = np.eye(d) * eps
        covmean, _ = root((cov_a + off) @ (cov_b + off))
    if np.iscomplexobj(covmean):
        scale = max(1.0, abs(np.trace(cov_a)) + abs(np.trace(cov_b)))
        if np.max(np.abs(covmean.imag)) > 1e-3 * scale:
            raise ValueError(f"frechet_distance: matrix square root has a large imaginary part "
                             f"({np.max(np.abs(covmean.imag)):.3g}); are the covariances valid?")
        covmean = covmean.real
    diff = mu_a - mu_b
    return float(max(0.0, diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean)))


def frechet_distance(features_a, features_b, eps: float = 1e-6) -> float:
    """Fréchet distance between two sets of features ``(N_a, D)`` and ``(N_b, D)`` (6_3, 6_4).

    Fits a Gaussian (mean, covariance) to each set and returns
    :func:`frechet_distance_from_stats`. With features from the course's own small extractor
    (:func:`build_feature_classifier` + :func:`embed`) this is **not** the Inception-based FID
    of the literature: numbers are comparable only with the same extractor, and only between
    sets of the same size (the estimate is biased upward for small N). Report it beside a
    floor (real against held-out real) and baselines (:func:`gaussian_baseline_samples`).
    """
    a, b = _features(features_a, "features_a"), _features(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"frechet_distance: feature dimensions differ: {a.shape[1]} and {b.shape[1]}")
    return frechet_distance_from_stats(*feature_statistics(a), *feature_statistics(b), eps=eps)


def two_sample_accuracy(features_real, features_fake, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated accuracy of a logistic regression telling real from generated features
    (6_3, 6_4). Both sets are cut to the same size (random subset, ``seed``), standardised,
    and split into ``folds`` stratified folds. 0.5: indistinguishable by a linear classifier
    on these features; 1.0: every sample is recognised. Returns the mean test accuracy."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    a, b = _features(features_real, "features_real"), _features(features_fake, "features_fake")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"two_sample_accuracy: feature dimensions differ: {a.shape[1]} and {b.shape[1]}")
    n = min(len(a), len(b))
    if n < folds:
        raise ValueError(f"two_sample_accuracy: need at least folds={folds} samples per set; got {n}")
    rng = np.random.default_rng(seed)
    a, b = a[rng.permutation(len(a))[:n]], b[rng.permutation(len(b))[:n]]
    x, y = np.concatenate([a, b]), np.r_[np.ones(n), np.zeros(n)]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(np.mean(cross_val_score(clf, x, y, cv=cv)))


def gaussian_baseline_samples(x, full_covariance: bool, n: int, seed: int = 0, clip: bool = True) -> np.ndarray:
    """Samples of a Gaussian fitted to images ``x (N, ...)`` (6_3: the baselines to beat).

    ``full_covariance=False``: independent pixels with the data's per-pixel mean and
    variance; ``True``: the data's full ``(P, P)`` pixel covariance (``P`` = pixels × channels;
    sampled through an eigendecomposition, so singular covariances are fine). Returns float32
    ``(n, ...)``, clipped to ``[x.min(), x.max()]`` when ``clip``."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim < 2 or len(arr) < 2:
        raise ValueError(f"gaussian_baseline_samples: x must be (N, ...) with N >= 2; got {arr.shape}")
    flat = arr.reshape(len(arr), -1)
    rng = np.random.default_rng(seed)
    mu = flat.mean(axis=0)
    if full_covariance:
        vals, vecs = np.linalg.eigh(np.cov(flat, rowvar=False))
        out = mu + (rng.standard_normal((n, len(vals))) * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    else:
        out = mu + rng.standard_normal((n, flat.shape[1])) * flat.std(axis=0, ddof=1)
    if clip:
        out = np.clip(out, arr.min(), arr.max())
    return out.reshape((n,) + arr.shape[1:]).astype("float32")


# --------------------------------------------------------------------------- the course checkpoint of 6_3

DCGAN_CHECKPOINT = "weights/course/dcgan_patches16.weights.h5"
DCGAN_CHECKPOINT_FILTERS = (256, 128, 64)
"""The generator widths of :data:`DCGAN_CHECKPOINT` (``build_generator(64, (16, 16, 3), filters=...)``)."""
"""The course's DCGAN generator for 6_3 (``build_generator(64, (16, 16, 3))`` weights)."""


def train_dcgan_checkpoint(path=DCGAN_CHECKPOINT, epochs: int = 14, n: int = 30000, size: int = 16,
                           latent_dim: int = 64, seed: int = 42, select_from: int = 3,
                           ema_decay: float = 0.999, batch_size: int = 64, d_learning_rate: float = 2e-4,
                           g_learning_rate: float = 2e-4, filters: Sequence[int] = DCGAN_CHECKPOINT_FILTERS,
                           max_seconds: float | None = None) -> dict:
    """Train the DCGAN of 6_3 on ``photo_patches(n, size, seed=0)`` and write the generator's
    weights (``ema_decay > 0``: those of its moving average, :class:`GeneratorEMA`) to ``path``
    (atomically) at the epoch with the lowest Fréchet distance to
    *validation* patches ``photo_patches(800, seed=2)`` (never the notebook's held-out seed 1),
    on a feature extractor trained here to name each patch's source photo. Generator
    ``build_generator(latent_dim, (size, size, 3), filters=filters)``; Adam(``d_learning_rate``
    / ``g_learning_rate``, beta_1=0.5), batch ``batch_size``. ``max_seconds``: stop after the
    first epoch that ends past this many seconds (a time-boxed run; None: all ``epochs``).
    Returns ``{"epoch": best epoch, "fd": its distance, "per_pixel": ..., "full_covariance":
    ..., "raw": [per-epoch distances of the raw generator], "ema": [... of the average, or the
    raw ones again], "seconds": training time}``. The defaults remake the shipped
    ``weights/course/dcgan_patches16.weights.h5`` (see its ``.md`` for what else was tried).
    Runs on TensorFlow or, for a GPU machine without TensorFlow, ``KERAS_BACKEND=torch``."""
    import time

    from utils import course
    from utils import images as uimages

    keras.utils.set_random_seed(seed)
    x_u8, source = photo_patches(n, size, seed=0)
    x = x_u8.astype("float32") / 127.5 - 1
    xv = photo_patches(800, size, seed=2)[0].astype("float32") / 127.5 - 1
    fx = build_feature_classifier((size, size, 3), len(PATCH_PHOTOS))
    fx.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    fx.fit(x, source, epochs=5, batch_size=64, verbose=0)
    fv = embed(fx, xv)
    fd = lambda imgs: frechet_distance(fv, embed(fx, imgs))
    info = {"per_pixel": fd(gaussian_baseline_samples(x, False, len(xv))),
            "full_covariance": fd(gaussian_baseline_samples(x, True, len(xv))), "fd": math.inf, "epoch": 0,
            "raw": [], "ema": []}
    gan = GAN(build_generator(latent_dim, (size, size, 3), filters=filters), build_discriminator((size, size, 3)),
              seed=seed)
    gan.compile(d_optimizer=keras.optimizers.Adam(d_learning_rate, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(g_learning_rate, beta_1=0.5))
    ema = GeneratorEMA(ema_decay) if ema_decay else None
    z = np.random.default_rng(1).standard_normal((len(xv), latent_dim)).astype("float32")
    target = course.path(path)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        gan.fit(x, epochs=1, batch_size=batch_size, verbose=0, callbacks=[ema] if ema else [])
        info["raw"].append(fd(ops.convert_to_numpy(gan.generate(z))))
        info["ema"].append(fd(ops.convert_to_numpy(ema.generate(z))) if ema else info["raw"][-1])
        d = info["ema"][-1]
        raw = f"raw generator {info['raw'][-1]:.2f}; " if ema else ""
        info["seconds"] = time.perf_counter() - start
        print(f"epoch {epoch}: Fréchet distance {d:.2f} ({raw}per-pixel Gaussian {info['per_pixel']:.2f}, "
              f"full covariance {info['full_covariance']:.2f}) {info['seconds']:.0f} s", flush=True)
        if epoch >= select_from and d < info["fd"]:
            info.update(fd=d, epoch=epoch)
            generator = ema.recalibrate() if ema else gan.generator
            uimages.write_atomically(target, generator.save_weights, keep_suffix=True)
        if max_seconds is not None and info["seconds"] > max_seconds:
            break
    return info


if __name__ == "__main__":  # python -m utils.generative train-dcgan
    import sys

    if len(sys.argv) not in (2, 3) or sys.argv[1] != "train-dcgan":
        sys.exit("usage: python -m utils.generative train-dcgan [OUTPUT]   (default " + DCGAN_CHECKPOINT + ")")
    print(train_dcgan_checkpoint(*sys.argv[2:]))

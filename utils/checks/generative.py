"""Checks for the generative-models day (``6_1`` to ``6_4``)."""
from __future__ import annotations

import numpy as np

from ._core import Case, run_cases

__all__ = ["reconstruct", "kl_divergence"]


def _ref_reconstruct(x, components, mean, k):
    """Rebuild ``(N, D)`` rows from their first ``k`` principal components."""
    c = np.asarray(components, dtype=np.float64)[:k]
    x, mean = np.asarray(x, dtype=np.float64), np.asarray(mean, dtype=np.float64)
    return (x - mean) @ c.T @ c + mean


def reconstruct(func):
    """``func(x (N, D), components (K, D) orthonormal rows, mean (D,), k) -> (N, D)``: project the
    centred rows on the first ``k`` components and map them back, plus the mean (``6_1``)."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    comps = q.T  # orthonormal rows
    mean = rng.standard_normal(6)
    x = rng.standard_normal((5, 6))
    specs = [(1, "one component"), (3, "three components"), (6, "all components give back x")]
    cases = [Case((x, comps, mean, k), expected=_ref_reconstruct(x, comps, mean, k), label=lab) for k, lab in specs]
    cases.append(Case((mean[None] + 0.0, comps, mean, 2), expected=mean[None], label="the mean image itself"))
    tall = rng.standard_normal((3, 6))
    cases.append(Case((tall, comps[:4], np.zeros(6), 0), expected=np.zeros((3, 6)),
                      label="k = 0 with a zero mean gives zeros"))
    return run_cases("reconstruct", func, cases, reference=_ref_reconstruct, convert=np.asarray,
                     hint="centre the data first, project it onto the first k components (one code of k numbers per "
                          "image), then go back the same way and undo the centring.")


def _ref_kl_divergence(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) per row, in nats: ``(N, D), (N, D) -> (N,)``."""
    m, lv = np.asarray(mean, dtype=np.float64), np.asarray(log_var, dtype=np.float64)
    return -0.5 * np.sum(1.0 + lv - m**2 - np.exp(lv), axis=1)


def kl_divergence(func):
    """``func(mean (N, D), log_var (N, D)) -> (N,)``: the VAE's KL term
    ``-0.5 * sum_d (1 + log_var - mean**2 - exp(log_var))`` per sample, in nats (``6_2``)."""
    rng = np.random.default_rng(1)
    specs = [
        (np.zeros((1, 2)), np.zeros((1, 2)), "the prior itself: KL = 0"),
        (np.array([[1.0, 0.0]]), np.zeros((1, 2)), "mean 1 in one dimension: KL = 0.5"),
        (np.zeros((1, 3)), np.log(np.full((1, 3), 4.0)), "variance 4 in three dimensions"),
        (rng.standard_normal((4, 2)), rng.standard_normal((4, 2)), "four random rows"),
        (rng.standard_normal((3, 5)), rng.normal(-2, 1, (3, 5)), "narrow posteriors, D = 5"),
    ]
    cases = [Case((m, lv), expected=_ref_kl_divergence(m, lv), label=lab) for m, lv, lab in specs]
    return run_cases("kl_divergence", func, cases, reference=_ref_kl_divergence,
                     convert=lambda r: np.asarray(r, dtype=np.float64).reshape(-1),
                     atol=1e-5, rtol=1e-4,
                     hint="the KL between N(mean, exp(log_var)) and N(0, 1) has a closed form per latent dimension "
                          "(see the cell above); add the dimensions of each row, one number per image, not over the batch.")

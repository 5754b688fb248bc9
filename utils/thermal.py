"""Thermal (long-wave infrared) images: what the camera measures, how it is shown, and a
deterministic synthetic thermal data set (taught in ``7_1``).

**What a thermal camera measures.** An uncooled microbolometer sees the radiance emitted in
the long-wave infrared band (about 8-14 µm) by everything in front of it. Each pixel reports
*counts*: a 14-bit number (0..16383, stored in a 16-bit PNG) roughly linear in the band
radiance, which grows with temperature by Planck's law. :func:`band_radiance` integrates
Planck's law over the band; :func:`temperature_to_counts` and :func:`counts_to_temperature`
are this module's (made-up but physically shaped) radiometric calibration. A surface with
emissivity below 1 also reflects its surroundings (a cold sky), so it looks colder than it is.

**Showing it: automatic gain control (AGC).** A scene spans a few hundred counts of the 16,384
possible; a screen shows 256 grey levels. :func:`agc_linear` stretches min..max (one hot lamp
squeezes everything else into a few grey levels), :func:`agc_percentile` clips the tails first,
:func:`agc_histeq` equalises the histogram (every grey level gets about as many pixels).
:func:`colorize` applies a colour map (``inferno``, ``gray``, ...).

**Synthetic scenes on real pixels.** :func:`thermal_scene` turns a random crop of a photo or
texture that ships with scikit-image / scikit-learn / matplotlib into a background temperature
field, places people (upright, warm) and vehicles (a body near ambient with a hot engine end),
and adds what makes thermal detection hard: warm distractors (lamps, sun-heated surfaces,
warm posts, warm puddles/vents), low-contrast objects (a person on a hot day, a parked car with
a cold engine), optics blur, sensor noise with fixed-pattern column and row noise, per-pixel
gain non-uniformity and vignetting. Boxes are exact (from the drawn masks).
:func:`write_yolo_set` writes such scenes as a YOLO data set folder (``channels: 1``, 16-bit
single-channel PNGs) through :mod:`utils.datasets`, each split from its own seed.

Full mode reads a real set instead (HIT-UAV or FLIR ADAS converted to YOLO):
:func:`read_real_set` gives a clear message naming the folder and where to get it.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CLASSES = ["person", "vehicle"]
"""The synthetic set's classes, YOLO order (``names`` in data.yaml)."""
LWIR_BAND = (8e-6, 14e-6)
"""Long-wave infrared band of an uncooled microbolometer, metres."""
BITS = 14
"""Radiometric counts are 14-bit (0..16383), stored in 16-bit PNGs."""
_H, _C, _KB = 6.62607015e-34, 2.99792458e8, 1.380649e-23
_T_TABLE = np.arange(-60.0, 200.01, 0.05)  # °C: calibration table


def band_radiance(temperature_c, band=LWIR_BAND) -> np.ndarray:
    """Black-body radiance integrated over ``band`` (W m⁻² sr⁻¹) at ``temperature_c`` (°C,
    scalar or array; float64 result of the same shape): Planck's law summed on 200 wavelengths."""
    t = np.asarray(temperature_c, np.float64) + 273.15
    if np.any(t <= 0):
        raise ValueError("band_radiance: temperatures must be above absolute zero (-273.15 °C)")
    lam = np.linspace(band[0], band[1], 200)
    dl = lam[1] - lam[0]
    spectral = 2 * _H * _C ** 2 / lam ** 5 / np.expm1(_H * _C / (lam * _KB * t[..., None]))
    return (spectral.sum(-1) - 0.5 * (spectral[..., 0] + spectral[..., -1])) * dl


@functools.lru_cache(maxsize=1)
def _table() -> tuple[np.ndarray, np.ndarray]:
    return _T_TABLE, band_radiance(_T_TABLE)


def _radiance(temperature_c) -> np.ndarray:
    t, r = _table()
    return np.interp(np.asarray(temperature_c, np.float64), t, r)


# the course camera's calibration: -40 °C -> about 1,000 counts, 150 °C -> about 15,000 counts
_R_LO, _R_HI = float(band_radiance(-40.0)), float(band_radiance(150.0))
GAIN = 14000.0 / (_R_HI - _R_LO)
"""Counts per W m⁻² sr⁻¹ of the course's simulated camera."""
OFFSET = 1000.0 - GAIN * _R_LO
"""Counts at zero radiance (may be negative: only the linear part inside the range matters)."""


def temperature_to_counts(temperature_c, emissivity=1.0, reflected_c=-20.0, noise=None) -> np.ndarray:
    """Radiometric counts (float64, unclipped) of surfaces at ``temperature_c`` °C.

    The camera receives ``ε L(T) + (1 - ε) L(T_reflected)`` (``reflected_c``: what the
    surface mirrors, e.g. a cold sky) and reports ``OFFSET + GAIN × radiance``. Pass ``noise``
    (an array of counts) to add it. Use :func:`quantize` to get the 14-bit integers.
    """
    eps = np.asarray(emissivity, np.float64)
    if np.any((eps < 0) | (eps > 1)):
        raise ValueError("temperature_to_counts: emissivity must lie in 0..1")
    rad = eps * _radiance(temperature_c) + (1 - eps) * _radiance(reflected_c)
    counts = OFFSET + GAIN * rad
    return counts if noise is None else counts + noise


def counts_to_temperature(counts, emissivity=1.0, reflected_c=-20.0) -> np.ndarray:
    """Inverse of :func:`temperature_to_counts` (no noise): counts → °C (float64), by
    interpolation in the calibration table (-60..200 °C; outside it, clipped)."""
    eps = float(emissivity)
    if not 0 < eps <= 1:
        raise ValueError("counts_to_temperature: emissivity must lie in (0, 1]")
    t, r = _table()
    rad = (np.asarray(counts, np.float64) - OFFSET) / GAIN
    rad = (rad - (1 - eps) * float(_radiance(reflected_c))) / eps
    return np.interp(rad, r, t)


def quantize(counts, bits: int = BITS) -> np.ndarray:
    """Float counts → uint16 integers, rounded and clipped to ``0..2**bits - 1``."""
    return np.clip(np.rint(np.asarray(counts, np.float64)), 0, 2 ** bits - 1).astype(np.uint16)


# -------------------------------------------------------------------------- display (AGC)


def _as_counts(image, name: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 2 or arr.dtype.kind not in "uif" or arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty (H, W) array of counts, got shape {arr.shape} dtype {arr.dtype}")
    return arr.astype(np.float64)


def _stretch(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    if hi <= lo:  # a flat image: mid grey
        return np.full(x.shape, 128, np.uint8)
    return np.clip(np.rint((x - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)


def agc_linear(image) -> np.ndarray:
    """Linear min-max gain control: ``(H, W)`` counts (any integer or float dtype) → ``(H, W)``
    uint8, the minimum at 0 and the maximum at 255, rounded. A flat image gives 128 everywhere."""
    x = _as_counts(image, "agc_linear")
    return _stretch(x, float(x.min()), float(x.max()))


def agc_percentile(image, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """Percentile-clip gain control: the ``low`` and ``high`` percentiles (``np.percentile``,
    linear interpolation) map to 0 and 255, values outside are clipped. ``(H, W)`` → uint8.
    A few hot pixels (a lamp) no longer decide the contrast of the whole image."""
    if not 0 <= low < high <= 100:
        raise ValueError(f"agc_percentile: need 0 <= low < high <= 100, got low={low}, high={high}")
    x = _as_counts(image, "agc_percentile")
    lo, hi = np.percentile(x, [low, high])
    return _stretch(x, float(lo), float(hi))


def agc_histeq(image) -> np.ndarray:
    """Histogram equalisation of the counts themselves (all 16 bits, no 8-bit histogram first):
    each distinct value maps to ``255 × (CDF(v) - CDF(min)) / (N - CDF(min))``, rounded, so grey
    levels are spent where there are pixels. ``(H, W)`` → uint8; a flat image gives 128."""
    x = _as_counts(image, "agc_histeq")
    values, inverse, count = np.unique(x.ravel(), return_inverse=True, return_counts=True)
    if len(values) == 1:
        return np.full(x.shape, 128, np.uint8)
    cdf = np.cumsum(count)
    lut = np.rint((cdf - cdf[0]) / (cdf[-1] - cdf[0]) * 255.0).astype(np.uint8)
    return lut[inverse].reshape(x.shape)


AGC = {"linear": agc_linear, "percentile": agc_percentile, "histeq": agc_histeq}
"""Gain controls by name (the ``agc`` knob of ``7_1``)."""


def colorize(image8, cmap: str = "inferno") -> np.ndarray:
    """Apply a matplotlib colour map to an ``(H, W)`` uint8 image → ``(H, W, 3)`` uint8 RGB
    (``inferno``/``magma``/``hot`` look like the "iron" palettes of thermal cameras; ``gray``
    is "white hot")."""
    import matplotlib

    arr = np.asarray(image8)
    if arr.ndim != 2 or arr.dtype != np.uint8:
        raise ValueError(f"colorize: expected an (H, W) uint8 image (run a gain control first), got {arr.shape} {arr.dtype}")
    lut = (matplotlib.colormaps[cmap](np.arange(256))[:, :3] * 255).round().astype(np.uint8)
    return lut[arr]


# ------------------------------------------------------------------------ synthetic scenes

BACKGROUNDS = ("grass", "gravel", "brick", "camera", "coffee", "chelsea", "rocket", "china", "moon", "astronaut")
"""Real pixels (scikit-image / scikit-learn) turned into background temperature fields."""


@functools.lru_cache(maxsize=None)
def _gray(name: str) -> np.ndarray:
    """A shipped photo or texture as float32 gray 0..1 (cached, read-only)."""
    from skimage import data as skdata

    if name in ("china",):
        from sklearn.datasets import load_sample_image

        img = load_sample_image("china.jpg")
    else:
        img = getattr(skdata, name)()
    img = np.asarray(img, np.float32)
    if img.ndim == 3:
        img = img[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    img = img / 255.0
    img.setflags(write=False)
    return img


def _crop(rng, name: str, h: int, w: int) -> np.ndarray:
    """A random crop of :func:`_gray` ``name`` resized to ``(h, w)``, mirrored left-right half the time."""
    from utils.data import random_crop

    out = random_crop(rng, _gray(name), (h, w))
    return out[:, ::-1] if rng.random() < 0.5 else out


@dataclass
class ThermalScene:
    """One synthetic thermal image and its truth.

    ``counts`` ``(H, W)`` uint16 14-bit radiometric counts (what the camera writes);
    ``temperature`` ``(H, W)`` float32 °C, the scene before the sensor (no blur, no noise);
    ``boxes`` ``(K, 4)`` float64 ``xyxy`` pixels (exclusive ends); ``labels`` K class names
    of :data:`CLASSES`; ``hard`` K sets of tags (``"low-contrast"``, ``"near-distractor"``);
    ``distractors`` the warm things drawn that are not objects (kind names) and
    ``distractor_boxes`` ``(D, 4)`` their ``xyxy`` boxes."""

    counts: np.ndarray
    temperature: np.ndarray
    boxes: np.ndarray
    labels: list[str]
    hard: list[set] = field(default_factory=list)
    distractors: list[str] = field(default_factory=list)
    distractor_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))

    @property
    def class_ids(self) -> np.ndarray:
        """0-based indices into :data:`CLASSES`."""
        return np.array([CLASSES.index(n) for n in self.labels], int)


def _person_mask(rng, w: int, h: int) -> np.ndarray:
    """An upright person seen from the side/front: head, torso, two legs (bool ``(h, w)``)."""
    import cv2

    m = np.zeros((h, w), np.uint8)
    head = max(1, int(round(w * 0.28)))
    cv2.circle(m, (w // 2, head), head, 1, -1)
    cv2.ellipse(m, (w // 2, int(h * 0.42)), (max(1, w // 2 - 1 + (w % 2)), max(1, int(h * 0.2))), 0, 0, 360, 1, -1)
    leg = max(1, w // 4)
    gap = int(rng.integers(0, max(1, w // 4) + 1))
    y0 = int(h * 0.55)
    cv2.rectangle(m, (w // 2 - gap // 2 - leg, y0), (w // 2 - gap // 2 - 1, h - 1), 1, -1)
    cv2.rectangle(m, (w // 2 + (gap + 1) // 2, y0), (w // 2 + (gap + 1) // 2 + leg - 1, h - 1), 1, -1)
    return m.astype(bool)


def _vehicle_mask(w: int, h: int) -> np.ndarray:
    import cv2

    m = np.zeros((h, w), np.uint8)
    r = max(1, min(w, h) // 4)
    cv2.rectangle(m, (r, 0), (w - 1 - r, h - 1), 1, -1)
    cv2.rectangle(m, (0, r), (w - 1, h - 1 - r), 1, -1)
    for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
        cv2.circle(m, (cx, cy), r, 1, -1)
    return m.astype(bool)


def _free(occupied: np.ndarray, y: int, x: int, h: int, w: int, margin: int = 2) -> bool:
    return not occupied[max(0, y - margin):y + h + margin, max(0, x - margin):x + w + margin].any()


def thermal_scene(seed, size: int = 128, max_objects: int = 5, hard: bool = True) -> ThermalScene:
    """One deterministic synthetic thermal scene (``7_1``): same ``seed`` (an int or a
    ``np.random.Generator``), same scene, byte for byte.

    Background: a random crop of one of :data:`BACKGROUNDS` mapped to temperatures around an
    ambient of -5..32 °C (night to a hot afternoon), with a ground-warmer-than-far gradient.
    Objects (1..``max_objects``, never overlapping, fully inside): people 5-10 px wide and 2.2-3
    times as tall, at 28-35 °C (a warm head, cooler clothes); vehicles 18-34 × 10-18 px (or
    turned upright), a body a few degrees above ambient with a hot engine end and a windscreen that
    mirrors the cold sky.
    ``hard=True`` adds: about a fifth of the objects at low contrast (people 2-3.5 °C, vehicles
    1.5-3 °C above the local background, no hot engine), lamps, sun-heated surfaces, warm posts and
    warm round patches, optics blur, temporal noise, column/row fixed-pattern noise, gain
    non-uniformity, vignetting.
    """
    import cv2

    from utils.data import mask_to_box

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    H = W = int(size)
    ambient = float(rng.uniform(-5, 32))
    texture = _crop(rng, BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))], H, W)
    span = float(rng.uniform(3, 9))
    temp = ambient + span * (texture - texture.mean())
    temp += np.linspace(-1, 1, H)[:, None] * rng.uniform(0, 2)  # the near ground is warmer
    emis = np.full((H, W), 0.95)
    occupied = np.zeros((H, W), bool)
    distractors: list[str] = []
    dboxes: list[list[int]] = []

    if hard:  # sun-heated surfaces first (objects may stand on them)
        for _ in range(int(rng.integers(0, 3))):
            h, w = int(rng.integers(14, H // 2)), int(rng.integers(14, W // 2))
            y, x = int(rng.integers(0, H - h)), int(rng.integers(0, W - w))
            patch = _crop(rng, BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))], h, w)
            temp[y:y + h, x:x + w] += rng.uniform(4, 14) + 3 * (patch - patch.mean())
            distractors.append("sun-heated surface")
            dboxes.append([x, y, x + w, y + h])

    boxes, labels, tags, masks = [], [], [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        person = rng.random() < 0.6
        if person:
            w = int(rng.integers(5, 11))
            h = int(round(w * rng.uniform(2.2, 3.0)))
            mask = _person_mask(rng, w, h)
        else:
            w, h = int(rng.integers(18, 35)), int(rng.integers(10, 19))
            mask = _vehicle_mask(w, h)
            if rng.random() < 0.3:
                mask, (w, h) = mask.T, (h, w)
        for _try in range(20):
            y, x = int(rng.integers(1, H - h - 1)), int(rng.integers(1, W - w - 1))
            if _free(occupied, y, x, h, w):
                break
        else:
            continue
        local = float(np.median(temp[max(0, y - 4):y + h + 4, max(0, x - 4):x + w + 4]))
        low = hard and rng.random() < 0.2
        region = temp[y:y + h, x:x + w]
        obj = np.zeros((h, w))
        if person:
            body = local + rng.uniform(2.0, 3.5) if low else max(rng.uniform(28, 35), local + 4)
            obj[:] = body - 1.0  # clothes
            head = max(1, int(round(w * 0.28)))
            obj[:2 * head + 1] = body + 1.0  # face and hair-free skin
            e = 0.98
        else:
            body = local + (rng.uniform(1.5, 3.0) if low else rng.uniform(3, 9))
            obj[:] = body
            hot = 0 if low else rng.uniform(12, 35)
            long_side = max(h, w)
            k = max(2, long_side // 4)
            if w >= h:
                sl = (slice(None), slice(0, k)) if rng.random() < 0.5 else (slice(None), slice(w - k, w))
            else:
                sl = (slice(0, k), slice(None)) if rng.random() < 0.5 else (slice(h - k, h), slice(None))
            obj[sl] += hot
            e = np.full((h, w), 0.9)  # painted metal
            k2 = max(1, long_side // 6)  # the windscreen: glass mirrors the cold sky, so it looks cold
            if w >= h:
                c0 = k + 1 if sl[1].start == 0 else w - k - 1 - k2
                e[:, c0:c0 + k2] = 0.75
            else:
                r0 = k + 1 if sl[0].start == 0 else h - k - 1 - k2
                e[r0:r0 + k2, :] = 0.75
        region[mask] = obj[mask]
        emis[y:y + h, x:x + w][mask] = (e if np.ndim(e) else np.full((h, w), e))[mask]
        occupied[y:y + h, x:x + w] |= mask
        boxes.append(mask_to_box(mask) + [x, y, x, y])
        labels.append("person" if person else "vehicle")
        tags.append({"low-contrast"} if low else set())
        masks.append((y, x, h, w))

    if hard:  # point-like and object-like warm distractors, never on an object
        kinds = ["lamp", "warm post", "warm patch"]
        for _ in range(int(rng.integers(1, 5))):
            kind = kinds[int(rng.integers(len(kinds)))]
            if kind == "lamp":
                h = w = int(rng.integers(2, 6))
            elif kind == "warm post":
                w, h = int(rng.integers(2, 4)), int(rng.integers(14, 30))
            else:
                h = w = int(rng.integers(5, 13))
                h = int(round(h * rng.uniform(0.7, 1.3)))
            for _try in range(20):
                y, x = int(rng.integers(0, H - h)), int(rng.integers(0, W - w))
                if _free(occupied, y, x, h, w, margin=3):
                    break
            else:
                continue
            m = np.zeros((h, w), np.uint8)
            if kind == "warm post":
                m[:] = 1
                hot = rng.uniform(3, 8)
            else:
                cv2.ellipse(m, (w // 2, h // 2), (max(1, w // 2), max(1, h // 2)), 0, 0, 360, 1, -1)
                hot = rng.uniform(30, 70) if kind == "lamp" else rng.uniform(3, 10)
            m = m.astype(bool)
            temp[y:y + h, x:x + w][m] += hot
            occupied[y:y + h, x:x + w] |= m
            distractors.append(kind)
            dboxes.append([x, y, x + w, y + h])
        for k, (y, x, h, w) in enumerate(masks):  # an object beside a distractor is harder
            near = occupied[max(0, y - 6):y + h + 6, max(0, x - 6):x + w + 6].sum() > occupied[y:y + h, x:x + w].sum()
            if near:
                tags[k].add("near-distractor")

    temperature = temp.astype(np.float32)
    blurred = cv2.GaussianBlur(temp, (0, 0), 0.6)
    counts = temperature_to_counts(blurred, emissivity=cv2.GaussianBlur(emis, (0, 0), 0.6),
                                   reflected_c=ambient - 25)
    if hard:
        yy, xx = np.mgrid[0:H, 0:W]
        r2 = ((yy - H / 2 + 0.5) ** 2 + (xx - W / 2 + 0.5) ** 2) / (H * H / 2)
        counts = OFFSET + (counts - OFFSET) * (1 - rng.uniform(0.02, 0.07) * r2)  # cos^4-like falloff
        counts = OFFSET + (counts - OFFSET) * rng.normal(1, 0.004, (H, W))  # gain non-uniformity
        dt = 1 / (GAIN * float(band_radiance(ambient + 0.5) - band_radiance(ambient - 0.5)))  # °C per count
        counts += rng.normal(0, rng.uniform(0.03, 0.12) / dt, (H, W))  # temporal noise (NETD)
        counts += rng.normal(0, rng.uniform(0.05, 0.25) / dt, (1, W))  # column fixed-pattern
        counts += rng.normal(0, rng.uniform(0.0, 0.08) / dt, (H, 1))  # row noise
    return ThermalScene(quantize(counts), temperature, np.array(boxes, np.float64).reshape(-1, 4), labels, tags,
                        distractors, np.array(dboxes, np.float64).reshape(-1, 4))


def thermal_scenes(n: int, seed: int, size: int = 128, hard: bool = True, max_objects: int = 5) -> list[ThermalScene]:
    """``n`` scenes from one generator seeded with ``seed`` (deterministic)."""
    rng = np.random.default_rng(seed)
    return [thermal_scene(rng, size, max_objects, hard) for _ in range(n)]


# ------------------------------------------------------------------------------ data sets


def write_yolo_set(root, sizes: dict[str, int], seeds: dict[str, int], size: int = 128, hard: bool = True,
                   overwrite: bool = False):
    """Write synthetic thermal scenes as a YOLO data set folder (``7_1``): ``images/<split>/
    <split>_0000.png`` 16-bit single-channel PNGs of 14-bit counts, ``labels/<split>/...txt``,
    ``data.yaml`` with ``channels: 1`` and ``names: [person, vehicle]``.

    ``sizes`` ``{split: images}``, ``seeds`` ``{split: seed}`` (give every split its own seed:
    the test scenes then come from a generator the training never saw). Returns the set read
    back and validated (:func:`utils.datasets.read_dataset`). Same arguments → same bytes.
    """
    from utils import datasets as D
    from utils.annotations import ImageAnnotation, Object

    if set(sizes) != set(seeds):
        raise ValueError(f"write_yolo_set: sizes has splits {sorted(sizes)} but seeds has {sorted(seeds)}")
    if len(set(seeds.values())) != len(seeds):
        raise ValueError(f"write_yolo_set: seeds {seeds} repeat; each split needs its own seed")
    splits = {}
    for split, n in sizes.items():
        samples = []
        for i, sc in enumerate(thermal_scenes(n, seeds[split], size, hard)):
            name = f"{split}_{i:04d}.png"
            ann = ImageAnnotation(name, size, size, [Object(lab, box) for lab, box in zip(sc.labels, sc.boxes)])
            samples.append(D.Sample(ann, sc.counts))
        splits[split] = samples
    D.write_dataset(root, splits, CLASSES, channels=1, overwrite=overwrite)
    ds = D.read_dataset(root)
    stale = {s: len(v) for s, v in ds.splits.items() if len(v) != sizes.get(s)}
    if stale:  # overwrite=True replaces files but never deletes: an earlier, larger set left images behind
        raise FileExistsError(f"{root}: holds {stale} images per split but {sizes} were written now (files left "
                              "by an earlier run with other sizes); delete that folder and run again")
    return ds


def load_split(ds, split: str, agc: str = "percentile", size: int | None = None):
    """One split of a single-channel set read by :func:`utils.datasets.read_dataset` → network
    input and truth (``7_1``).

    Each image file (16-bit or 8-bit, one channel) goes through the gain control ``agc``
    (a name in :data:`AGC`, or a function ``(H, W) counts -> (H, W) uint8``), then is resized to ``size`` × ``size`` when given (boxes scaled).
    Returns ``x`` ``(N, H, W, 1)`` float32 in 0..1 and ``gts``, one dict per image:
    ``boxes`` ``(K, 4)`` ``xyxy`` pixels of ``x``, ``class_ids`` ``(K,)`` 1-based
    (``ds.class_names`` order, the :func:`utils.detection.coco_evaluate` convention).
    """
    import cv2

    from utils.images import load_image

    if not callable(agc) and agc not in AGC:
        raise ValueError(f"agc={agc!r}: expected one of {sorted(AGC)} or a function")
    gain = agc if callable(agc) else AGC[agc]
    if split not in ds.splits:
        raise KeyError(f"split {split!r} is not in the data set (it has {sorted(ds.splits)})")
    index = {n: k + 1 for k, n in enumerate(ds.names)}
    xs, gts = [], []
    for s in ds.splits[split]:
        raw = load_image(s.image, mode="gray", dtype="keep")  # RGB thermal JPEGs (HIT-UAV, FLIR): their luma
        img = np.asarray(gain(raw), np.float32) / 255.0
        a = s.annotation
        boxes = np.array([o.bbox for o in a.objects], np.float64).reshape(-1, 4)
        if size is not None and (img.shape[0], img.shape[1]) != (size, size):
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            boxes = boxes * [size / a.width, size / a.height, size / a.width, size / a.height]
        xs.append(img[..., None])
        gts.append({"boxes": boxes, "class_ids": np.array([index[o.label] for o in a.objects], int)})
    return np.stack(xs), gts


def hit_uav_to_yolo(source, root, drop=("DontCare",), overwrite: bool = False):
    """Convert the HIT-UAV download (``source`` = the repository folder holding ``normal_json/``)
    into a YOLO data set folder at ``root`` (full mode of ``7_1``), the decisions of the notebook's
    HIT-UAV section made once for the whole set:

    - keys ``annotation``/``filename`` renamed (:data:`utils.datasets.HIT_UAV_KEYS`);
    - annotations of categories named in ``drop`` (``DontCare``: regions, not objects), of image
      ids that are not listed, or of undefined categories are left out;
    - boxes are clipped to the image; boxes left without area are left out.

    Reads ``normal_json/annotations/<split>.json`` (or ``instances_<split>.json``) with images in
    ``normal_json/<split>/`` for each split present. Returns ``(dataset read back and validated,
    {"dropped": n, "clipped": n})``. A missing download raises ``FileNotFoundError`` naming it.
    """
    from utils import datasets as D

    base = Path(source) / "normal_json"
    found = {}
    for split in D.SPLITS:  # HIT-UAV uses the same names: normal_json/annotations/<split>.json and image folders
        name = split
        for candidate in (base / "annotations" / f"{name}.json", base / "annotations" / f"instances_{name}.json"):
            if candidate.is_file() and (base / name).is_dir():
                found[split] = (candidate, base / name)
                break
    if not found:
        raise FileNotFoundError(f"{base}: no HIT-UAV annotations (expected normal_json/annotations/train.json and "
                                "normal_json/train/ images): clone https://github.com/suojiashun/HIT-UAV-Infrared-"
                                f"Thermal-Dataset (CC BY 4.0) into {Path(source)}")
    import json
    import tempfile

    stats = {"dropped": 0, "clipped": 0}
    splits, names = {}, None
    with tempfile.TemporaryDirectory() as tmp:
        for split, (json_path, image_dir) in found.items():
            data = D.normalise_coco_keys(json.loads(json_path.read_text(encoding="utf-8")), D.HIT_UAV_KEYS,
                                         str(json_path))
            sizes = {im["id"]: (im["width"], im["height"]) for im in data["images"]}
            keep = {c["id"] for c in data["categories"] if c["name"] not in drop}
            anns = []
            for a in data["annotations"]:
                if a.get("image_id") not in sizes or a.get("category_id") not in keep:
                    stats["dropped"] += 1
                    continue
                w_img, h_img = sizes[a["image_id"]]
                x, y, w, h = (float(v) for v in a["bbox"])
                x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, w_img), min(y + h, h_img)
                if x1 <= x0 or y1 <= y0:
                    stats["dropped"] += 1
                    continue
                stats["clipped"] += (x0, y0, x1, y1) != (x, y, x + w, y + h)
                anns.append(dict(a, bbox=[x0, y0, x1 - x0, y1 - y0], segmentation=[]))
            data["annotations"] = anns
            data["categories"] = [c for c in data["categories"] if c["id"] in keep]
            clean = Path(tmp) / f"{split}.json"
            clean.write_text(json.dumps(data), encoding="utf-8")
            samples, split_names = D.from_coco(clean, image_dir)
            if names is not None and split_names != names:
                raise ValueError(f"{json_path}: categories {split_names} differ from the other splits' {names}")
            names, splits[split] = split_names, samples
        D.write_dataset(root, splits, names, overwrite=overwrite)
    return D.read_dataset(root), stats


def read_real_set(folder, what: str = "HIT-UAV") -> object:
    """Full mode: a real thermal set already converted to a YOLO folder (``7_1``), read and
    validated. A missing folder raises ``FileNotFoundError`` naming it and where to get the data."""
    from utils import datasets as D

    folder = Path(folder)
    if not (folder / "data.yaml").is_file():
        raise FileNotFoundError(
            f"{folder}: no YOLO data set here (no data.yaml). Full mode of 7_1 trains on a real thermal set: "
            f"download {what} (HIT-UAV: https://github.com/suojiashun/HIT-UAV-Infrared-Thermal-Dataset, CC BY 4.0; "
            "FLIR ADAS: https://www.flir.com/oem/adas/adas-dataset-form/) and convert it: for HIT-UAV cloned "
            f"into data/HIT-UAV run `python -m utils.thermal convert-hit-uav data/HIT-UAV {folder}` "
            "(utils.thermal.hit_uav_to_yolo: the notebook's HIT-UAV decisions for the whole set); for other "
            "COCO-like sets use utils.datasets.coco_to_yolo as in the notebook.")
    return D.read_dataset(folder)


def main(argv: list[str] | None = None) -> int:
    """``python -m utils.thermal convert-hit-uav SOURCE ROOT``: :func:`hit_uav_to_yolo`."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or args[0] != "convert-hit-uav":
        print("usage: python -m utils.thermal convert-hit-uav SOURCE ROOT   (SOURCE: the HIT-UAV clone, "
              "ROOT: the YOLO folder to write, e.g. data/hit_uav_yolo)")
        return 2
    ds, stats = hit_uav_to_yolo(args[1], args[2])
    print(f"{args[2]}: {ds.counts()} ({stats['dropped']} annotations left out, {stats['clipped']} boxes clipped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Procedurally drawn style references: a pencil study, an ink-and-wash drawing and an oil sketch.

The bundled styles need reference images that the project draws itself. Each one is a loose
head-and-shoulders study (a shaded 3/4 head built from an ellipsoid plus feature bumps) rendered
with the marks of its medium: grainy hatching on toothy paper, pen lines over pooled transparent
washes, or bristle-streaked impasto strokes. A Gram-matrix style loss sees only texture
statistics, so what matters most is that the marks are rich, varied and cover the whole sheet.

Everything is numpy plus Pillow (polygon fills, PNG output); blurs are done with an FFT.
Output is fully deterministic: every random number comes from ``numpy.random.default_rng`` with a
fixed seed per reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REFERENCE_NAMES: tuple[str, ...] = ("pencil", "ink_wash", "paint")
_SEEDS = {"pencil": 1017, "ink_wash": 2029, "paint": 3041}
Array = np.ndarray


# ----------------------------------------------------------------------------- helpers


def _blur(a: Array, sigma: float) -> Array:
    """Gaussian blur of a 2-D (or HxWxC, per channel) float array, reflecting at the borders."""
    if sigma <= 0:
        return a.astype(np.float64)
    if a.ndim == 3:
        return np.stack([_blur(a[..., c], sigma) for c in range(a.shape[2])], axis=-1)
    pad = min(int(3 * sigma) + 1, min(a.shape) - 1)
    b = np.pad(a.astype(np.float64), pad, mode="reflect")
    fy, fx = np.fft.fftfreq(b.shape[0])[:, None], np.fft.rfftfreq(b.shape[1])[None, :]
    out = np.fft.irfft2(np.fft.rfft2(b) * np.exp(-2.0 * (np.pi * sigma) ** 2 * (fx**2 + fy**2)), s=b.shape)
    return out[pad : pad + a.shape[0], pad : pad + a.shape[1]]


def _noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> Array:
    """Smooth Gaussian noise with unit standard deviation and feature size about ``sigma`` px."""
    n = _blur(rng.standard_normal(shape), sigma)
    return (n - n.mean()) / (n.std() + 1e-12)


def _smoothstep(e0: float, e1: float, x: Array) -> Array:
    """Hermite step from 0 at ``e0`` to 1 at ``e1``."""
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _polygon_mask(points: Array, size: int) -> Array:
    """Filled polygon as a float mask in [0, 1] (2x supersampled for soft edges)."""
    img = Image.new("L", (2 * size, 2 * size), 0)
    ImageDraw.Draw(img).polygon([(float(x) * 2, float(y) * 2) for x, y in points], fill=255)
    return np.asarray(img.resize((size, size), Image.Resampling.BOX), dtype=np.float64) / 255.0


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 120, rot: float = 0.0) -> Array:
    """Closed ellipse polyline (n, 2) in pixel coordinates."""
    phi = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y, c, s = rx * np.cos(phi), ry * np.sin(phi), np.cos(rot), np.sin(rot)
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], axis=1)


def _bezier(*ctrl: tuple[float, float], n: int = 24) -> Array:
    """Polyline (n, 2) sampling the Bezier curve through the given control points."""
    p = np.asarray(ctrl, dtype=np.float64)[:, None, :]
    t = np.linspace(0, 1, n)[:, None]
    while len(p) > 1:
        p = p[:-1] * (1 - t) + p[1:] * t
    return p[0]


@dataclass
class StrokeRaster:
    """One stroke in its box (y0, y1, x0, x1): coverage, ``t`` 0..1 along it, ``s`` -1..1 across."""

    box: tuple[int, int, int, int]
    cov: Array
    t: Array
    s: Array


def _rasterize(points: Array, widths: Array, size: int) -> StrokeRaster | None:
    """Anti-aliased variable-width polyline, vectorised over the pixels of its bounding box."""
    pad = float(widths.max()) / 2 + 1.5
    x0, y0 = np.floor(points.min(axis=0) - pad).astype(int)
    x1, y1 = np.ceil(points.max(axis=0) + pad).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)
    if x0 >= x1 or y0 >= y1:
        return None
    ys, xs = np.mgrid[y0:y1, x0:x1]
    px, py = xs.reshape(-1, 1) - points[:-1, 0], ys.reshape(-1, 1) - points[:-1, 1]
    seg = np.diff(points, axis=0)
    seg_len = np.hypot(seg[:, 0], seg[:, 1]) + 1e-9
    u = np.clip((px * seg[:, 0] + py * seg[:, 1]) / seg_len**2, 0.0, 1.0)
    dist = np.hypot(px - u * seg[:, 0], py - u * seg[:, 1])
    half = (widths[:-1] + u * np.diff(widths)) / 2
    k = np.argmin(dist - half, axis=1)
    rows = np.arange(len(k))
    sd = dist[rows, k] - half[rows, k]
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    t = (cum[k] + u[rows, k] * seg_len[k]) / cum[-1]
    cross = (seg[k, 0] * py[rows, k] - seg[k, 1] * px[rows, k]) / seg_len[k]
    s = np.clip(cross / np.maximum(half[rows, k], 0.5), -1, 1)
    cov = np.clip(0.5 - sd, 0.0, 1.0) * np.minimum(1.0, 2 * half[rows, k])  # sub-pixel lines get lighter
    shape = (y1 - y0, x1 - x0)
    return StrokeRaster((y0, y1, x0, x1), cov.reshape(shape), t.reshape(shape), s.reshape(shape))


def _arc(p0: Array, angle: float, length: float, bend: float, n: int = 7) -> Array:
    """Points of a gently curved stroke centred on ``p0``; ``bend`` is the total turn in radians."""
    a = angle + bend * (np.linspace(0, 1, n) - 0.5)
    steps = np.stack([np.cos(a), np.sin(a)], axis=1) * (length / (n - 1))
    pts = np.concatenate([[[0.0, 0.0]], np.cumsum(steps[:-1], axis=0)])
    return pts - pts.mean(axis=0) + p0


def _trace(p0: Array, field: Array, length: float, n: int = 8) -> Array:
    """Streamline of length ``length`` through ``p0`` along the (sign-free) line field ``field``."""
    size, step, halves = field.shape[0], length / (n - 1), []
    for sign in (1.0, -1.0):
        p, d, pts = p0.astype(np.float64), None, []
        for _ in range(n // 2):
            ix, iy = np.clip(p.astype(int), 0, size - 1)
            f = field[iy, ix]
            d = sign * f if d is None else (f if f @ d >= 0 else -f)
            p = p + step * d
            pts.append(p)
        halves.append(pts)
    return np.array(halves[1][::-1] + [p0] + halves[0])


def _direction_field(angle: Array) -> Array:
    """Unit vectors (H, W, 2) for a line-orientation angle map."""
    return np.stack([np.cos(angle), np.sin(angle)], axis=-1)


def _orientation(*weighted: tuple[Array, Array]) -> Array:
    """Blend orientation angle maps by weight using doubled angles, returns an angle map."""
    c, s = (sum(w * f(2 * a) for a, w in weighted) for f in (np.cos, np.sin))
    return 0.5 * np.arctan2(_blur(s, 2), _blur(c, 2))


# ----------------------------------------------------------------------------- subject


@dataclass
class Scene:
    """A loose head-and-shoulders subject: tones, region masks, form directions and contours."""

    tone: Array  # 1 = light (paper), 0 = darkest shadow
    masks: dict[str, Array]
    angle: Array  # preferred stroke orientation (radians) following the forms
    lines: dict[str, list[Array]]


def _head_scene(size: int, zoom: float = 1.0) -> Scene:
    """A 3/4 head turned to the viewer's left, lit from the upper left; ``zoom`` > 1 crops closer."""
    u = size / 512.0 * zoom
    cx, cy, a, b = size / 2 - 6 * u, 0.45 * size - 30 * u, 88 * u, 116 * u
    xm, eye_y = cx - 0.34 * a, cy - 0.05 * b  # facial midline (turned left), eye level
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)

    def at(fx: float, fy: float, x0: float = cx) -> tuple[float, float]:
        return x0 + fx * a, cy + fy * b

    def gauss(fx: float, fy: float, sx: float, sy: float) -> Array:
        x0, y0 = at(fx, fy, xm)
        return np.exp(-(((xs - x0) / (sx * a)) ** 2 + ((ys - y0) / (sy * b)) ** 2) / 2)

    phi = np.linspace(0, 2 * np.pi, 160, endpoint=False)
    sq = 1 - 0.24 * np.clip(np.sin(phi), 0, None) ** 2
    head_pts = np.stack([cx + a * np.cos(phi) * sq, cy + b * np.sin(phi)], axis=1)
    head_pts[:, 0] -= 0.06 * a * np.exp(-(((phi - 2.75) / 0.25) ** 2))  # cheekbone on the turned side
    head = _polygon_mask(head_pts, size)
    hairline = cy - 0.42 * b + 0.35 * b * ((xs - xm) / a) ** 2
    face = head * _smoothstep(-4 * u, 4 * u, ys - hairline) * _smoothstep(6 * u, -6 * u, xs - (cx + 0.42 * a))
    hair_pts = np.concatenate(
        [
            _bezier(at(-1.02, -0.1), at(-1.1, -1.35), at(1.3, -1.4), at(1.25, 0.3)),
            _bezier(at(1.25, 0.3), at(1.35, 1.05), at(1.5, 1.3), at(0.95, 1.35)),
            _bezier(at(0.95, 1.35), at(0.5, 0.9), at(0.1, -0.2), at(-1.02, -0.1)),
        ]
    )
    ear_pts = _ellipse(*at(0.55, 0.1), 0.13 * a, 0.22 * b, 30)
    face = np.clip(face + _polygon_mask(ear_pts, size), 0, 1)
    hair = np.clip(_polygon_mask(hair_pts, size) + head, 0, 1) * (1 - face)
    neck_pts = np.concatenate(
        [_bezier(at(-0.5, 0.6), at(-0.45, 1.2), at(-0.6, 1.55)), _bezier(at(0.7, 1.5), at(0.55, 1.1), at(0.5, 0.5))]
    )
    neck = _polygon_mask(neck_pts, size) * (1 - head) * (1 - hair)
    body_pts = np.concatenate(
        [
            _bezier((20 * u, size + 10 * u), (25 * u, cy + 2.0 * b), at(-1.9, 1.6), at(-0.55, 1.47)),
            _bezier(at(0.65, 1.42), at(1.9, 1.5), (size - 40 * u, cy + 1.8 * b), (size - 25 * u, size + 10 * u)),
        ]
    )
    body = _polygon_mask(body_pts, size) * (1 - hair) * (1 - head)
    figure = np.clip(head + hair + neck + body, 0, 1)
    flow_noise = _noise(np.random.default_rng(7), (size, size), 14 * u)

    # relief: an ellipsoid head with feature bumps, a cylinder neck, a dome of shoulders
    bumps = (
        0.22 * gauss(-0.1, 0.12, 0.09, 0.2)
        + 0.12 * gauss(0, -0.2, 0.6, 0.06)  # nose, brow
        - 0.16 * gauss(-0.252, -0.05, 0.14, 0.07)
        - 0.2 * gauss(0.399, -0.05, 0.2, 0.08)  # eye sockets
        + 0.1 * gauss(0.294, 0.18, 0.22, 0.1)
        + 0.08 * gauss(0.05, 0.5, 0.25, 0.05)  # cheekbone, lips
        + 0.1 * gauss(0.05, 0.8, 0.2, 0.1)
    )  # chin
    h_head = (np.sqrt(np.clip(1 - ((xs - cx) / a) ** 2 - ((ys - cy) / b) ** 2, 0, None)) + bumps * head) * a
    h_neck = np.sqrt(np.clip(1 - ((xs - (cx + 0.05 * a)) / (0.6 * a)) ** 2, 0, None)) * 0.6 * a
    by = (ys - (size + 60 * u)) / (size + 60 * u - cy - 1.35 * b)
    h_body = (np.sqrt(np.clip(1 - ((xs - cx) / (3.3 * a)) ** 2 - by**2, 0, None)) + 0.008 * flow_noise) * 2 * a
    light = np.array([-0.5, -0.28, 0.8]) / np.linalg.norm([-0.5, -0.28, 0.8])
    shade, height = np.zeros_like(xs), np.zeros_like(xs)
    for h, m, k, amb in ((h_head, head, 0.93, 0.36), (h_neck, neck, 0.95, 0.2), (h_body, body, 0.8, 0.2)):
        h = _blur(h * (m > 0.01), 1.5 * u)
        gy, gx = np.gradient(h)
        lam = (-gx * light[0] - gy * light[1] + light[2]) / np.sqrt(gx**2 + gy**2 + 1)
        shade += m * k * (amb + (1.05 - amb) * np.clip(lam, 0, 1) ** 1.5)
        height += m * h
    shade -= 0.25 * gauss(0.02, 0.36, 0.1, 0.04) + 0.2 * gauss(0.02, 0.52, 0.2, 0.03)  # under nose, mouth
    shade -= 0.4 * neck * _smoothstep(cy + 1.15 * b, cy + 0.7 * b, ys)  # jaw shadow on the neck
    shade -= 0.25 * body * _blur(neck + hair, 10 * u)  # cast on the shoulders
    shade -= 0.55 * (gauss(-0.232, -0.05, 0.035, 0.03) + gauss(0.369, -0.045, 0.05, 0.035))  # irises
    folds = [
        _bezier(
            at(dx, 1.55), at(dx * 1.6 + bend, 1.9), at(dx * 2.2 - bend, 2.1), (cx + dx * 2.8 * a, size + 5 * u), n=16
        )
        for dx, bend in ((-0.9, 0.3), (-0.45, -0.2), (0.05, 0.25), (0.6, -0.3), (1.1, 0.2))
    ]
    fold_shade = np.zeros_like(xs)
    for f in folds:
        r = _rasterize(f, np.linspace(6, 26, len(f)) * u, size)
        y0, y1, x0, x1 = r.box
        fold_shade[y0:y1, x0:x1] = np.maximum(fold_shade[y0:y1, x0:x1], r.cov * np.clip(0.2 + r.s, 0, 1))
    shade -= 0.3 * body * _blur(fold_shade, 3 * u)

    hair_tone = 0.3 + 0.35 * gauss(-0.01, -0.85, 0.5, 0.2) + 0.06 * flow_noise
    bg_tone = 0.55 + 0.4 * _smoothstep(0.1 * size, 0.95 * size, xs + 0.3 * ys) - 0.15 * _blur(figure, 25 * u)
    tone = np.clip(bg_tone * (1 - figure) + np.clip(shade, 0, 1) * (1 - hair) + hair_tone * hair, 0.02, 1.0)
    hair_angle = np.arctan2(ys - (cy - 1.4 * b), xs - (cx + 0.2 * a)) + np.pi / 2 - 0.35 * _smoothstep(cy, cy + b, ys)
    gy, gx = np.gradient(_blur(height, 3 * u))
    iso = np.arctan2(gy, gx) + np.pi / 2  # along the relief's contours
    bg_angle = np.full_like(xs, -0.8)
    angle = _orientation((iso, head + neck + body), (hair_angle, 3 * hair), (bg_angle, 0.7 - 0.7 * figure))

    def eye(fx: float, w: float) -> list[Array]:
        (x0, _), w = at(fx, 0, xm), w * a
        return [
            _bezier((x0 - w, eye_y), (x0, eye_y - 0.45 * w), (x0 + w, eye_y), n=12),
            _bezier((x0 - w, eye_y), (x0, eye_y + 0.35 * w), (x0 + w, eye_y + 0.05 * w), n=12),
        ]

    features = [
        _bezier(at(-0.02, -0.1, xm), at(-0.12, 0.1, xm), at(-0.18, 0.3, xm)),  # nose
        _bezier(at(-0.16, 0.32, xm), at(0, 0.37, xm), at(0.15, 0.3, xm), n=12),
        _bezier(at(-0.3, 0.5, xm), at(0, 0.46, xm), at(0.32, 0.52, xm), n=16),  # mouth
        _bezier(at(-0.36, -0.2, xm), at(-0.21, -0.27, xm), at(-0.026, -0.22, xm), n=12),  # brows
        _bezier(at(0.252, -0.22, xm), at(0.42, -0.3, xm), at(0.588, -0.2, xm), n=12),
        ear_pts[3:27],
    ]
    lines = {
        "outline": [head_pts[8:92]],
        "features": eye(-0.252, 0.12) + eye(0.399, 0.2) + features,
        "figure": [neck_pts[:24], neck_pts[24:], body_pts[:24], body_pts[24:], hair_pts[:48]],
        "folds": [f[: int(len(f) * 0.75)] for f in folds],
        "irises": [
            _ellipse(*at(-0.232, -0.05, xm), 0.03 * a, 0.03 * a, 10),
            _ellipse(*at(0.369, -0.05, xm), 0.045 * a, 0.045 * a, 12),
        ],
    }
    masks = {
        "head": head,
        "face": face,
        "hair": hair,
        "neck": neck,
        "body": body,
        "figure": figure,
        "skin": np.clip(face + neck, 0, 1),
    }
    return Scene(tone, masks, angle, lines)


# ----------------------------------------------------------------------------- shared media


def _paper(rng: np.random.Generator, size: int, rgb: tuple[int, int, int], grain: float) -> tuple[Array, Array]:
    """Paper colour (H, W, 3 floats 0..1) and its tooth map (0..1, high = raised fibre)."""
    tooth = 0.55 * _noise(rng, (size, size), 0.6) + 0.45 * _noise(rng, (size, size), 1.5)
    tooth = np.clip(0.5 + 0.22 * tooth, 0, 1)
    mottle = _noise(rng, (size, size), 40 * size / 512)
    shade = 1 + grain * (tooth - 0.5) + 0.015 * mottle
    return np.asarray(rgb, dtype=np.float64) / 255 * shade[..., None], tooth


def _deposit(acc: Array, box: tuple[int, int, int, int], alpha: Array) -> None:
    """Accumulate coverage ``alpha`` into ``acc`` like layered translucent marks (1-(1-a)(1-b))."""
    sub = acc[box[0] : box[1], box[2] : box[3]]
    sub += (1 - sub) * alpha


def _taper(n: int, start: float = 0.35, end: float = 0.25) -> Array:
    """Width profile along a stroke: thin at both ends, full in the middle."""
    t = np.linspace(0, 1, n)
    return np.minimum(1.0, np.minimum(start + (1 - start) * t / 0.3, end + (1 - end) * (1 - t) / 0.4))


def _sample(rng: np.random.Generator, weight: Array, count: int) -> Array:
    """``count`` pixel positions (x, y floats) drawn with probability proportional to ``weight``."""
    p = np.clip(weight, 0, None).ravel()
    idx = rng.choice(p.size, size=count, p=p / p.sum())
    return np.stack([idx % weight.shape[1], idx // weight.shape[1]], axis=1) + rng.uniform(0, 1, (count, 2))


def _chunks(line: Array, rng: np.random.Generator, lo: float, hi: float, gap: float) -> list[Array]:
    """Split a polyline into overlapping (gap < 0) or broken (gap > 0) pieces of lo..hi px."""
    d = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(line, axis=0).T))])
    pieces, start = [], 0.0
    while start < d[-1] - 4:
        end = min(d[-1], start + rng.uniform(lo, hi))
        s = np.linspace(start, end, max(3, int((end - start) / 5)))
        pieces.append(np.stack([np.interp(s, d, line[:, 0]), np.interp(s, d, line[:, 1])], axis=1))
        if end >= d[-1]:
            break
        start = end + gap * rng.uniform(0.3, 1.5)
    return pieces


# ----------------------------------------------------------------------------- pencil


def _graphite_stroke(
    dens: Array, tooth: Array, pts: Array, width: float, pressure: float, region: Array | None = None
) -> None:
    """One tapered pencil stroke whose graphite catches on the paper tooth."""
    r = _rasterize(pts, width * _taper(len(pts)), dens.shape[0])
    if r is None:
        return
    y0, y1, x0, x1 = r.box
    prof = pressure * np.sin(np.pi * np.clip(r.t, 0.02, 0.98)) ** 0.5 * (1.1 - 0.4 * r.t)
    alpha = r.cov * np.clip(prof * (0.35 + 1.1 * tooth[y0:y1, x0:x1]) - 0.08, 0, 0.95)
    if region is not None:
        alpha *= region[y0:y1, x0:x1]
    _deposit(dens, r.box, alpha)


def _hatch(
    rng: np.random.Generator,
    mark: Callable[..., None],
    weight: Array,
    cover: float,
    *,
    angle: float | None,
    field: Array | None,
    spacing: float,
    length: float,
    width: float,
    pressure: float,
) -> None:
    """Groups of near-parallel ``mark(points, width, pressure, region)`` strokes where ``weight`` is high.

    Strokes follow ``field`` if given, else ``angle``; ``cover`` is how often patches cover a weight-1 area.
    """
    region = np.clip(1.6 * weight, 0, 1)
    patches = int(cover * weight.sum() / (6 * spacing * length))
    if patches == 0:
        return
    for c in _sample(rng, weight**1.5, patches):
        ix, iy = np.clip(c.astype(int), 0, weight.shape[0] - 1)
        theta = (angle if field is None else np.arctan2(field[iy, ix, 1], field[iy, ix, 0])) + rng.normal(0, 0.12)
        n, bend = int(rng.integers(3, 10)), rng.normal(0, 0.3)
        along, perp = np.array([np.cos(theta), np.sin(theta)]), np.array([-np.sin(theta), np.cos(theta)])
        press = pressure * rng.uniform(0.6, 1.2)
        for i in range(n):
            p0 = c + perp * (i - (n - 1) / 2) * spacing * rng.uniform(0.8, 1.25) + along * rng.normal(0, 0.12 * length)
            ln = length * rng.uniform(0.6, 1.25)
            pts = _trace(p0, field, ln) if field is not None else _arc(p0, theta, ln, bend + rng.normal(0, 0.08))
            mark(pts, width * rng.uniform(0.8, 1.3), press * rng.uniform(0.8, 1.15), region)


def _draw_pencil(size: int, rng: np.random.Generator) -> Array:
    """Graphite study: grainy layered hatching, smudged tone and a few confident contour lines."""
    u = size / 512
    sc = _head_scene(size)
    paper, tooth = _paper(rng, size, (240, 235, 224), 0.06)
    fig = np.clip(_blur(sc.masks["figure"], 2 * u) * 1.3, 0, 1)
    ys, xs = np.mgrid[0:size, 0:size] / size
    edge = np.minimum.reduce([xs, ys, 1 - xs, 1 - ys]) + 0.04 * _noise(rng, (size, size), 30 * u)
    bg_dark = (1 - fig) * (0.55 + 0.3 * _blur(sc.masks["figure"], 30 * u) - 0.25 * xs) * _smoothstep(0, 0.16, edge)
    tone = sc.tone * fig + (1 - bg_dark) * (1 - fig)
    dens = np.zeros((size, size))
    pencil, field, hair = partial(_graphite_stroke, dens, tooth), _direction_field(sc.angle), sc.masks["hair"]
    smudge = _blur(1 - tone, 6 * u) ** 1.5 * (0.7 + 0.3 * _noise(rng, (size, size), 12 * u)) * (0.5 + 0.7 * tooth)
    dens += np.clip(0.35 * smudge, 0, 0.5)
    figure_layers = (
        (0.97, -0.85, 4.5, 40, 0.4),
        (0.78, -0.3, 4.0, 34, 0.55),
        (0.6, None, 3.6, 30, 0.6),
        (0.46, -1.2, 3.2, 26, 0.7),
        (0.32, -0.6, 2.8, 20, 0.8),
    )  # tone threshold, angle, spacing, ...
    layers = [  # (where, cover, angle or None to follow the form, spacing, length, width, pressure)
        *(
            (np.clip((thr - tone) / 0.3, 0, 1) * fig * (1 - 0.6 * hair), 4.5, ang, sp, ln, 1.5, pr)
            for thr, ang, sp, ln, pr in figure_layers
        ),
        *(
            (np.clip((bg_dark - thr) / 0.3, 0, 1), 2.2, ang, 4.2, 75, 1.6, pr)
            for thr, ang, pr in ((0.2, -0.9, 0.5), (0.45, -0.7, 0.55))
        ),  # loose background hatching
    ]
    for weight, cover, ang, spacing, length, width, press in layers:
        _hatch(
            rng,
            pencil,
            weight,
            cover,
            angle=ang,
            field=None if ang is not None else field,
            spacing=spacing * u,
            length=length * u,
            width=width * u,
            pressure=press,
        )
    hair_region = np.clip(_blur(hair, 3 * u) * 1.5, 0, 1)
    for p0 in _sample(rng, (hair * (1.4 - tone)) ** 2, int(2200 * u * u)):
        pencil(
            _trace(p0, field, rng.uniform(35, 90) * u, n=12),
            rng.uniform(1.1, 1.9) * u,
            rng.uniform(0.3, 0.9),
            hair_region,
        )
    for iris in sc.lines["irises"]:
        pencil(iris, 4 * u, 1.2)
    for group, press in (("outline", 0.9), ("features", 1.1), ("figure", 0.7), ("folds", 0.5)):
        for line in (line for line in sc.lines[group] for _ in range(2)):  # each contour restated twice
            for piece in _chunks(line + rng.normal(0, 1.2 * u, 2), rng, 25 * u, 80 * u, -6 * u):
                pencil(piece, rng.uniform(1.8, 2.8) * u, press * rng.uniform(0.6, 1.1))
    return paper * (1 - dens[..., None]) + np.array([0.22, 0.215, 0.21]) * dens[..., None]


# ----------------------------------------------------------------------------- ink and wash


def _warp(
    mask: Array, rng: np.random.Generator, amount: float, sigma: float, shift: tuple[float, float] = (0.0, 0.0)
) -> Array:
    """``mask`` moved by ``shift`` and pushed around by a smooth random displacement field."""
    size, (ys, xs) = mask.shape[0], np.mgrid[0 : mask.shape[0], 0 : mask.shape[0]]
    dx = amount * _noise(rng, mask.shape, sigma) - shift[0]
    dy = amount * _noise(rng, mask.shape, sigma) - shift[1]
    return mask[np.clip((ys + dy).astype(int), 0, size - 1), np.clip((xs + dx).astype(int), 0, size - 1)]


def _wash(
    rng: np.random.Generator,
    canvas: Array,
    shape: Array,
    pigment: tuple[float, float, float],
    density: float,
    u: float,
    shift: tuple[float, float] = (0.0, 0.0),
    rough: float = 5.0,
) -> None:
    """Glaze a transparent wash over ``canvas`` (in place) with pooled edges, granulation and blooms."""
    size = shape.shape[0]
    warped = _warp(shape, rng, rough * u, 1.4 * rough * u, (shift[0] * u, shift[1] * u))
    m = _smoothstep(0.3, 0.7, _blur(warped, 1.5 * u))
    pool = np.clip(m - _blur(m, 3 * u), 0, 1) ** 0.8
    bleed = _blur(m, 5 * u) * (_noise(rng, (size, size), 10 * u) > 1.0)
    uneven = 0.82 + 0.12 * _noise(rng, (size, size), 25 * u) + 0.07 * _noise(rng, (size, size), 1.2 * u)
    blooms = np.zeros((size, size))
    for cx, cy in _sample(rng, m * (pool < 0.05), 2):
        ring = _ellipse(cx, cy, *(rng.uniform(12, 30, 2) * u), n=40)
        blooms += _warp(_polygon_mask(ring, size), rng, 4 * u, 3 * u)
    blooms = np.clip(blooms, 0, 1) * m
    bloom_edge = np.clip(blooms - _blur(blooms, 1.5 * u), 0, 1)
    a = density * (m * uneven * (1 - 0.45 * blooms) + 1.6 * pool + 0.35 * bleed + 2.0 * bloom_edge)
    canvas *= 1 - np.clip(a, 0, 1)[..., None] * (1 - np.asarray(pigment))


def _pen_stroke(
    ink: Array,
    tooth: Array,
    pts: Array,
    width: float,
    pressure: float,
    region: Array | None = None,
    wobble: Array | None = None,
) -> None:
    """A dip-pen line: swelling and thinning with pressure, a little dry on raised paper fibres."""
    n = len(pts)
    swell = 0.65 + 0.35 * np.sin(np.linspace(0, np.pi, n)) if wobble is None else wobble
    r = _rasterize(pts, width * swell * _taper(n, 0.5, 0.4), ink.shape[0])
    if r is None:
        return
    y0, y1, x0, x1 = r.box
    alpha = r.cov * np.clip(pressure * (1.25 - 0.45 * tooth[y0:y1, x0:x1] ** 2), 0, 0.97)
    if region is not None:
        alpha *= region[y0:y1, x0:x1]
    _deposit(ink, r.box, alpha)


def _draw_ink_wash(size: int, rng: np.random.Generator) -> Array:
    """Pen contours and cross-contour hatching over loose, pooled washes of ochre, brick and teal."""
    u, sc = size / 512, _head_scene(size)
    canvas, tooth = _paper(rng, size, (246, 238, 218), 0.05)
    mk, tone = sc.masks, _blur(sc.tone, 6 * u)
    ochre, brick, teal = (0.86, 0.64, 0.3), (0.74, 0.36, 0.26), (0.32, 0.56, 0.56)
    sepia, slate = (0.45, 0.33, 0.24), (0.52, 0.56, 0.66)
    back = _polygon_mask(_ellipse(0.56 * size, 0.4 * size, 0.4 * size, 0.3 * size, rot=-0.4), size)
    _wash(rng, canvas, back * (1 - mk["figure"]), ochre, 0.45, u, rough=16)
    for k in range(4):  # loose broad brush washes around the sheet
        phi = rng.uniform(0, 2 * np.pi)
        c = size * (0.5 + 0.36 * np.array([np.cos(phi), np.sin(phi)]))
        pts = _arc(c, phi + np.pi / 2 + rng.normal(0, 0.3), rng.uniform(100, 200) * u, rng.normal(0, 0.5))
        r, band = _rasterize(pts, np.full(len(pts), rng.uniform(30, 60) * u), size), np.zeros((size, size))
        band[r.box[0] : r.box[1], r.box[2] : r.box[3]] = r.cov
        _wash(rng, canvas, band * (1 - mk["figure"]), (teal, slate, ochre)[k % 3], 0.4, u, rough=9)
    for shape, pigment, density, shift in (
        (mk["skin"] * (tone < 0.9), ochre, 0.35, (4, -3)),
        (mk["skin"] * (tone < 0.62), brick, 0.3, (-3, 2)),
        (np.clip(mk["skin"] + mk["body"], 0, 1) * (tone < 0.36), slate, 0.3, (0, 0)),
        (mk["hair"], brick, 0.55, (5, 3)),
        (mk["hair"] * (tone < 0.4), sepia, 0.6, (0, 0)),
        (mk["body"], teal, 0.55, (-4, 4)),
        (mk["body"] * (tone < 0.55), teal, 0.5, (0, 0)),
    ):
        _wash(rng, canvas, shape, pigment, density, u, shift)

    ink = np.zeros((size, size))
    pen, fig = partial(_pen_stroke, ink, tooth), np.clip(_blur(mk["figure"], 2 * u) * 1.5, 0, 1)
    dark = np.clip((0.5 - tone) / 0.25, 0, 1) * fig * (1 - mk["hair"])
    _hatch(rng, pen, dark, 1.8, angle=-0.9, field=None, spacing=4.5 * u, length=26 * u, width=1.0 * u, pressure=0.8)
    cross = np.clip((0.6 - tone) / 0.3, 0, 1) * np.clip(mk["neck"] + mk["body"], 0, 1)
    _hatch(
        rng,
        pen,
        cross,
        1.5,
        angle=None,
        field=_direction_field(sc.angle + np.pi / 2),
        spacing=6 * u,
        length=34 * u,
        width=1.0 * u,
        pressure=0.75,
    )  # cross-contour lines around neck and shoulders
    for p0 in _sample(rng, mk["hair"] * (1.2 - tone), int(170 * u * u)):
        pts = _trace(p0, _direction_field(sc.angle), rng.uniform(40, 110) * u, n=14)
        pen(pts, rng.uniform(0.8, 2.0) * u, rng.uniform(0.7, 1.0), np.clip(mk["hair"] * 1.3, 0, 1))
    for group, w, gap in (("outline", 3.0, 4), ("features", 2.4, 2), ("figure", 2.6, 7), ("folds", 1.8, 9)):
        for piece in (p for line in sc.lines[group] for p in _chunks(line, rng, 30 * u, 110 * u, gap * u)):
            swell = 0.45 + 0.3 * _noise(rng, (1, len(piece)), 2)[0] + 0.35 * np.sin(np.linspace(0, np.pi, len(piece)))
            pen(piece + rng.normal(0, 0.6 * u, 2), w * u, 1.0, None, np.clip(swell, 0.2, 1.3))
    for iris in sc.lines["irises"]:
        pen(iris, 3.5 * u, 1.0)
    halo = (1 - mk["figure"]) * np.clip(_blur(mk["figure"], 25 * u) * 2.5 - 0.3, 0, 1) * _smoothstep(0.9, 0.3, sc.tone)
    _hatch(rng, pen, halo, 2.0, angle=-0.8, field=None, spacing=5 * u, length=40 * u, width=1.2 * u, pressure=0.9)
    out = canvas * (1 - ink[..., None]) + np.array([0.15, 0.11, 0.09]) * ink[..., None]
    return out[:, ::-1]  # mirrored, so the head turns the other way from the pencil study


# ----------------------------------------------------------------------------- paint


def _ramp(tone: Array, stops: list[tuple[float, tuple[int, int, int]]]) -> Array:
    """Map tone (0..1) to RGB (0..1) through colour stops."""
    pos = [p for p, _ in stops]
    return np.stack([np.interp(tone, pos, [c[i] / 255 for _, c in stops]) for i in range(3)], axis=-1)


def _paint_target(sc: Scene, rng: np.random.Generator, u: float) -> Array:
    """The colour study the brush strokes sample from: warm lights, cool shadows, strong colour."""
    size = sc.tone.shape[0]
    tone, mk = _blur(sc.tone, 2 * u), {k: _blur(v, 1.5 * u) for k, v in sc.masks.items()}
    skin = _ramp(
        tone,
        [
            (0.0, (60, 40, 62)),
            (0.28, (112, 62, 58)),
            (0.45, (165, 95, 70)),
            (0.65, (212, 142, 100)),
            (0.85, (238, 188, 146)),
            (1.0, (250, 222, 190)),
        ],
    )
    cool = _smoothstep(0.55, 0.3, tone) * _smoothstep(0.1, 0.3, tone)  # ultramarine in the half-shadows
    skin += np.array([-0.06, 0.0, 0.12]) * cool[..., None]
    hair = _ramp(
        tone,
        [
            (0.0, (30, 22, 28)),
            (0.3, (78, 42, 30)),
            (0.5, (140, 72, 34)),
            (0.75, (196, 124, 58)),
            (1.0, (226, 170, 100)),
        ],
    )
    cloth = _ramp(tone, [(0.0, (20, 24, 60)), (0.35, (38, 56, 128)), (0.65, (74, 104, 170)), (1.0, (170, 186, 214))])
    ys, xs = np.mgrid[0:size, 0:size] / size
    warm = _smoothstep(0.3, 0.8, xs + 0.15 * _noise(rng, (size, size), 60 * u) + 0.3 * ys)
    bg = (
        _ramp(tone, [(0.0, (28, 34, 62)), (0.5, (58, 74, 118)), (1.0, (128, 140, 168))]) * (1 - warm[..., None])
        + _ramp(tone, [(0.0, (120, 70, 30)), (0.5, (190, 130, 50)), (1.0, (232, 190, 110))]) * warm[..., None]
    )
    skin_m = np.clip(mk["skin"] + mk["head"] * (1 - mk["hair"]), 0, 1)
    target = (
        bg * (1 - mk["figure"])[..., None]
        + skin * (skin_m * (1 - mk["hair"]))[..., None]
        + hair * mk["hair"][..., None]
        + cloth * mk["body"][..., None]
    )
    target /= np.maximum((1 - mk["figure"]) + skin_m * (1 - mk["hair"]) + mk["hair"] + mk["body"], 1e-3)[..., None]
    variation = 1 + 0.07 * np.stack([_noise(rng, (size, size), 18 * u) for _ in range(3)], axis=-1)
    return np.clip(target * variation, 0, 1)


def _brush_stroke(
    canvas: Array, relief: Array, pts: Array, width: float, colour: Array, rng: np.random.Generator
) -> None:
    """One loaded bristle brush stroke: streaky, runs dry at the end, leaves ridged paint."""
    r = _rasterize(pts, width * _taper(len(pts), 0.75, 0.55), canvas.shape[0])
    if r is None:
        return
    y0, y1, x0, x1 = r.box
    bristle = 1 + 0.3 * np.convolve(rng.standard_normal(max(8, int(width * 2.5)) + 2), np.ones(3) / 3**0.5, "valid")
    run_out = rng.uniform(0.7, 1.15, len(bristle))
    j = np.clip(((r.s + 1) / 2 * (len(bristle) - 1)).round().astype(int), 0, len(bristle) - 1)
    dry = np.clip((run_out[j] - r.t) / 0.12, 0, 1)
    alpha = r.cov * dry * np.clip(0.8 + 0.25 * bristle[j], 0, 1)
    under, t = canvas[y0:y1, x0:x1], r.t[..., None]
    col = colour * (0.85 + 0.15 * bristle[j])[..., None] * (1 - 0.25 * t) + under * 0.25 * t  # drags the wet paint
    under += (col - under) * alpha[..., None]
    ridge = (0.55 + 0.45 * bristle[j]) * (0.6 + 0.5 * np.abs(r.s) ** 3) * (1.2 - 0.5 * r.t)  # ridged at the edges
    sub = relief[y0:y1, x0:x1]
    sub += (ridge * (2.0 + width * 0.1) - sub) * alpha


def _draw_paint(size: int, rng: np.random.Generator) -> Array:
    """Oil sketch: an underpainting covered by ever smaller oriented, streaky, impasto strokes."""
    u, sc = size / 512, _head_scene(size, zoom=1.2)
    target = _paint_target(sc, rng, u)
    canvas = 0.6 * _blur(target, 10 * u) + 0.4 * np.array([0.58, 0.32, 0.18])  # on a burnt-sienna ground
    relief, field = np.zeros((size, size)), _direction_field(sc.angle)
    detail = np.hypot(*np.gradient(_blur(sc.tone, 2 * u)))
    detail = np.clip(detail / np.percentile(detail, 85), 0, 1)
    for width, length, cover, focus in ((26, 60, 1.6, 0), (16, 42, 1.4, 0.45), (9, 26, 1.2, 0.8), (5, 15, 1.0, 1)):
        ref = _blur(target, width * u / 3)
        weight = (1 - focus) + focus * _blur(detail, width * u)
        count = int(cover * weight.sum() / (width * length * u * u * 0.75))
        for c in _sample(rng, weight, count):
            ix, iy = np.clip(c.astype(int), 0, size - 1)
            ang = np.arctan2(field[iy, ix, 1], field[iy, ix, 0]) + rng.normal(0, 0.3)
            ln = length * u * rng.uniform(0.6, 1.3)
            pts = _arc(c, ang, ln, rng.normal(0, 0.5), n=6) if rng.random() < 0.5 else _trace(c, field, ln, n=6)
            colour = ref[iy, ix] * (1 + rng.normal(0, 0.035, 3)) * (1 + rng.normal(0, 0.07))
            _brush_stroke(canvas, relief, pts, width * u * rng.uniform(0.75, 1.2), np.clip(colour, 0, 1), rng)
    for line in sc.lines["features"][:-1] + sc.lines["irises"]:  # drawing into the wet paint (not the ear)
        for piece in _chunks(line + rng.normal(0, 1.0 * u, 2), rng, 12 * u, 30 * u, 3 * u):
            ix, iy = np.clip(piece[len(piece) // 2].astype(int), 0, size - 1)
            colour = target[iy, ix] * np.array([0.55, 0.42, 0.42]) * rng.uniform(0.8, 1.1)
            _brush_stroke(canvas, relief, piece, rng.uniform(3.0, 4.5) * u, colour, rng)
    gy, gx = np.gradient(_blur(relief, 0.6 * u))
    light = 0.6 * gx + 0.7 * gy  # raking light from the upper left on the paint relief
    shade, gloss = 1 + 0.25 * np.clip(light, -1.5, 1.5), np.clip(light - 0.5, 0, None) ** 2 * 0.15
    return np.clip(canvas * shade[..., None] + gloss[..., None], 0, 1)


# ----------------------------------------------------------------------------- public API


_DRAWERS: dict[str, Callable[[int, np.random.Generator], Array]] = {
    "pencil": _draw_pencil,
    "ink_wash": _draw_ink_wash,
    "paint": _draw_paint,
}


def draw_reference(name: str, size: int = 512) -> Array:
    """The reference image ``name`` as a (size, size, 3) uint8 RGB array."""
    if name not in REFERENCE_NAMES:
        raise ValueError(f"unknown reference {name!r}; expected one of {', '.join(REFERENCE_NAMES)}")
    rgb = _DRAWERS[name](size, np.random.default_rng(_SEEDS[name]))
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def write_references(out_dir: str | Path) -> list[Path]:
    """Draw every reference and write ``<out_dir>/<name>.png``; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png" for name in REFERENCE_NAMES]
    for name, path in zip(REFERENCE_NAMES, paths):
        Image.fromarray(draw_reference(name)).save(path, format="PNG", compress_level=9)
    return paths

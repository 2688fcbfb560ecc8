"""A small bundled face-part tree, drawn procedurally in Pioneer's ``facegen`` layout.

Every part is painted from signed distance fields (anti-aliased analytically), lit from the
upper left, and textured with value noise, so the tree looks like a set of stylised game
avatars rather than test patterns. No external image data is used. Drawing is fully
deterministic: each part has its own fixed ``numpy.random.default_rng`` seed and PNGs are saved
without metadata, so rerunning gives byte-identical files.

All geometry is expressed in *canvas* coordinates (295x285, the composited portrait); a part
smaller than the canvas is drawn through a window placed exactly where the game pastes it.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

Rgb = tuple[float, float, float]
Arr = np.ndarray

W, H = 295, 285
CX = 147.5  # horizontal centre of the canvas (pixel-centre coordinates)
EYE_Y, EYE_DX = 116.0, 30.0  # eye centres: (CX -/+ EYE_DX, EYE_Y)
NOSE_CX = CX + 1.0  # the game pastes noses one pixel right of centre
MOUTH_Y = 187.0
_L = np.array([-0.45, -0.55, 0.70])
LIGHT = _L / np.linalg.norm(_L)  # light from the upper left, towards the viewer

# Part windows: (width, height, x offset, y offset) in canvas coordinates.
PART_BOX = {
    "canvas": (W, H, 0, 0),
    "eyes": (127, 148, (W - 127) // 2, 41),
    "nose": (63, 132, (W - 63) // 2 + 1, 89),
    "mouth": (80, 70, (W - 80) // 2, 155),
    "cloth": (W, 150, 0, 135),
}

SKIN: dict[int, list[Rgb]] = {  # three head tones per race; index 1 is the race's mid tone
    0: [(0.94, 0.79, 0.69), (0.87, 0.69, 0.57), (0.77, 0.58, 0.44)],
    1: [(0.63, 0.43, 0.31), (0.51, 0.34, 0.24), (0.39, 0.26, 0.19)],
}


# ---- Geometry and shading helpers ----


def grid(part: str) -> tuple[Arr, Arr]:
    """Pixel-centre canvas coordinates ``(X, Y)`` of the window of ``part``."""
    w, h, ox, oy = PART_BOX[part]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    return xs + 0.5 + ox, ys + 0.5 + oy


def smoothstep(e0: float, e1: float, x: Arr | float) -> Arr:
    """Hermite step from 0 at ``e0`` to 1 at ``e1`` (``e0 > e1`` gives a falling step)."""
    den = np.asarray(e1, dtype=np.float64) - e0
    den = np.where(np.abs(den) < 1e-9, 1e-9, den)
    t = np.clip((np.asarray(x, dtype=np.float64) - e0) / den, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def cover(d: Arr, soft: float = 1.0) -> Arr:
    """Anti-aliased coverage of the region ``d < 0``; ``soft`` widens the edge (feathering)."""
    return np.clip(0.5 - d / soft, 0.0, 1.0)


def sd_ellipse(X: Arr, Y: Arr, cx: float, cy: float, rx: float, ry: float, angle: float = 0.0) -> Arr:
    """Approximate signed distance (pixels, negative inside) to a rotated ellipse."""
    dx, dy = X - cx, Y - cy
    if angle:
        c, s = np.cos(angle), np.sin(angle)
        dx, dy = c * dx + s * dy, -s * dx + c * dy
    k = np.hypot(dx / rx, dy / ry)
    grad = np.hypot(dx / rx**2, dy / ry**2) / np.maximum(k, 1e-9)
    return (k - 1.0) / np.maximum(grad, 1e-9)


def sd_stroke(X: Arr, Y: Arr, pts: list[tuple[float, float]], radii: list[float] | float) -> Arr:
    """Signed distance to a polyline whose radius is interpolated between its vertices."""
    r = np.broadcast_to(np.asarray(radii, dtype=np.float64), (len(pts),))
    d = np.full(X.shape, np.inf)
    for (ax, ay), (bx, by), ra, rb in zip(pts[:-1], pts[1:], r[:-1], r[1:]):
        ex, ey = bx - ax, by - ay
        t = np.clip(((X - ax) * ex + (Y - ay) * ey) / max(ex * ex + ey * ey, 1e-9), 0.0, 1.0)
        d = np.minimum(d, np.hypot(X - ax - t * ex, Y - ay - t * ey) - (ra + (rb - ra) * t))
    return d


def bezier(
    p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float], n: int = 12
) -> list[tuple[float, float]]:
    """Points along a quadratic Bezier curve (for smooth strokes)."""
    out = []
    for t in np.linspace(0.0, 1.0, n):
        out.append(
            (
                (1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * p1[0] + t * t * p2[0],
                (1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * p1[1] + t * t * p2[1],
            )
        )
    return out


def smin(a: Arr, b: Arr, k: float) -> Arr:
    """Smooth union of two distance fields with blend radius ``k``."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def gauss(X: Arr, Y: Arr, cx: float, cy: float, sx: float, sy: float) -> Arr:
    """An elliptical Gaussian bump of height 1 (soft highlights and shadows)."""
    return np.exp(-(((X - cx) / sx) ** 2 + ((Y - cy) / sy) ** 2))


def dome_normal(X: Arr, Y: Arr, cx: float, cy: float, rx: float, ry: float) -> Arr:
    """Unit normals (H, W, 3) of an ellipsoid bulging towards the viewer."""
    nx, ny = (X - cx) / rx, (Y - cy) / ry
    r2 = np.minimum(nx * nx + ny * ny, 0.985)
    n = np.stack([nx, ny, np.sqrt(1.0 - r2)], axis=-1)
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def lambert(X: Arr, Y: Arr, cx: float, cy: float, rx: float, ry: float) -> Arr:
    """Diffuse lighting of an ellipsoid under ``LIGHT`` in [0, 1]."""
    return np.clip(dome_normal(X, Y, cx, cy, rx, ry) @ LIGHT, 0.0, 1.0)


class Noise:
    """Deterministic smooth value noise drawn from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def sample(self, U: Arr, V: Arr) -> Arr:
        """One octave: a fresh 64x64 lattice sampled with smooth bilinear interpolation."""
        lat = self.rng.random((64, 64))
        iu, iv = np.floor(U), np.floor(V)
        fu, fv = U - iu, V - iv
        fu, fv = fu * fu * (3 - 2 * fu), fv * fv * (3 - 2 * fv)
        i0, j0 = iu.astype(np.int64) % 64, iv.astype(np.int64) % 64
        i1, j1 = (i0 + 1) % 64, (j0 + 1) % 64
        a, b, c, d = lat[j0, i0], lat[j0, i1], lat[j1, i0], lat[j1, i1]
        return a + (b - a) * fu + (c - a) * fv + (a - b - c + d) * fu * fv

    def fbm(self, U: Arr, V: Arr, octaves: int = 3, gain: float = 0.5) -> Arr:
        """Fractal sum of octaves at coordinates ``U, V`` (one lattice cell per unit), ~[0, 1]."""
        total, amp, norm = np.zeros_like(U), 1.0, 0.0
        for o in range(octaves):
            total += amp * self.sample(U * 2.0**o + 17.3 * o, V * 2.0**o + 5.1 * o)
            norm += amp
            amp *= gain
        return total / norm

    def streaks(self, U: Arr, V: Arr) -> Arr:
        """Strand-like texture: fine across ``U``, long along ``V`` (hair, brows)."""
        return (
            0.5 * self.sample(U, V * 0.08) + 0.3 * self.sample(U * 2.3, V * 0.15) + 0.2 * self.sample(U * 5.1, V * 0.3)
        )


class Layer:
    """A straight-alpha RGBA float image that shapes are painted onto with 'over'."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.rgb = np.zeros(shape + (3,))
        self.a = np.zeros(shape)

    def paint(self, alpha: Arr, colour: Rgb | Arr) -> None:
        """Composite ``colour`` (an RGB triple or an (H, W, 3) field) with ``alpha`` over."""
        a = np.clip(alpha, 0.0, 1.0)[..., None]
        col = np.broadcast_to(np.asarray(colour, dtype=np.float64), self.rgb.shape)
        below = self.a[..., None] * (1.0 - a)
        out = a + below
        self.rgb = (col * a + self.rgb * below) / np.maximum(out, 1e-9)
        self.a = out[..., 0]

    def image(self, opacity: Arr | float = 1.0) -> Image.Image:
        """Quantise to an 8-bit RGBA image; fully transparent pixels get black colour."""
        a = np.round(np.clip(self.a * opacity, 0, 1) * 255).astype(np.uint8)
        rgb = np.round(np.clip(self.rgb, 0, 1) * 255).astype(np.uint8)
        rgb[a == 0] = 0
        return Image.fromarray(np.dstack([rgb, a]), "RGBA")


def shaded(colour: Rgb | Arr, k: Arr) -> Arr:
    """``colour`` scaled per pixel by the field ``k`` (an (H, W, 3) colour field)."""
    return np.asarray(colour, dtype=np.float64) * np.asarray(k)[..., None]


def lit(X: Arr, Y: Arr, dome: tuple[float, float, float, float], lo: float, hi: float) -> Arr:
    """``lo + hi * lambert`` over an ellipsoid ``(cx, cy, rx, ry)``: a quick shading ramp."""
    return lo + hi * lambert(X, Y, *dome)


def mix(a: Rgb | Arr, b: Rgb | Arr, t: Arr | float) -> Arr:
    """Linear blend of two colours; ``t`` may be a field (broadcast over the RGB axis)."""
    t = np.asarray(t, dtype=np.float64)
    t = t[..., None] if t.ndim else t
    return np.asarray(a) * (1 - t) + np.asarray(b) * t


def face_light(X: Arr, Y: Arr) -> Arr:
    """Shared lighting of the face surface, so feature parts blend with every head."""
    lit = 0.45 + 0.62 * lambert(X, Y, CX, 128, 96, 128)
    sockets = gauss(X, Y, CX - EYE_DX, EYE_Y - 5, 20, 11) + gauss(X, Y, CX + EYE_DX, EYE_Y - 5, 20, 11)
    return lit * (1 - 0.10 * sockets)


def skin(tone: Rgb, light: Arr, grain: Arr | None = None) -> Arr:
    """Skin colour under ``light``: shadows go warm and saturated, lights slightly pale."""
    t = np.asarray(tone)
    dark = t * np.array([0.56, 0.40, 0.37])
    c = mix(dark, t, np.clip(light, 0, 1)) + 0.35 * np.clip(light - 1.0, 0, None)[..., None] * t
    if grain is not None:
        c = c * (1 + 0.06 * (grain[..., None] - 0.5))
    return c


def edge_fade(part: str, margin: float = 4.0) -> Arr:
    """Alpha multiplier falling to 0 at the window border (feature parts never show a box)."""
    w, h, _, _ = PART_BOX[part]
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    m = np.minimum(np.minimum(xs, w - xs), np.minimum(ys, h - ys)) - 0.5
    return smoothstep(0.0, margin, m)


# ---- Backdrop and head ----


def draw_background() -> Image.Image:
    """A muted studio backdrop: off-centre glow, vignette and faint mottling."""
    X, Y = grid("canvas")
    n = Noise(1)
    glow = gauss(X, Y, 120, 95, 190, 170)
    vign = 1 - 0.45 * smoothstep(0.55, 1.25, np.hypot((X - CX) / W, (Y - 130) / H) * 1.7)
    mottle = n.fbm(X / 60, Y / 60, 3)
    c = mix((0.20, 0.24, 0.28), (0.52, 0.55, 0.56), glow * vign)
    c = c * (0.94 + 0.12 * mottle[..., None]) * vign[..., None]
    layer = Layer((H, W))
    layer.paint(np.ones((H, W)), c)
    return layer.image()


def draw_head(race: int, gender: int, idx: int) -> Image.Image:
    """A bald head with ears, neck and shoulders (covered by clothes), lit from the upper left."""
    X, Y = grid("canvas")
    n = Noise(100 + 10 * race + 3 * gender + idx)
    tone, male = SKIN[race][idx], gender == 0
    skull_rx = (80, 77, 83)[idx] - (0 if male else 3)
    jaw_rx = (56, 52, 60)[idx] - (0 if male else 5)
    chin_y = (238, 234, 241)[idx] - (0 if male else 5)
    face = smin(sd_ellipse(X, Y, CX, 108, skull_rx, 97), sd_ellipse(X, Y, CX, 162, jaw_rx, chin_y - 162), 20)
    shoulders = (203 + 36 * (np.abs(X - CX) / 147) ** 1.5) - Y
    body = smin(sd_stroke(X, Y, [(CX, 180), (CX, 300)], 43 if male else 37), shoulders, 22)
    grain = n.fbm(X / 2.5, Y / 2.5, 2)
    mottle = (n.fbm(X / 16, Y / 16, 3) - 0.5)[..., None] * np.array([0.07, 0.09, 0.08])
    layer = Layer(X.shape)
    # Neck and shoulders: in the chin's shadow near the jaw, lighter towards the chest.
    neck_light = 0.45 + 0.35 * smoothstep(200, 275, Y) - 0.25 * np.exp(-np.maximum(face, 0) / 14)
    layer.paint(cover(body), skin(tone, neck_light + 0.2 * lambert(X, Y, CX, 260, 70, 140), grain))
    # Ears: slightly darker, with an inner fold.
    ears, folds = np.inf, np.inf
    for side in (-1, 1):
        ears = np.minimum(ears, sd_ellipse(X, Y, CX + side * (skull_rx - 1), 136, 11, 22, -side * 0.15))
        folds = np.minimum(folds, sd_ellipse(X, Y, CX + side * (skull_rx - 2), 138, 5, 13, -side * 0.15))
    ear_light = lit(X, Y, (CX, 136, skull_rx + 8, 40), 0.6, 0.3) - 0.18 * cover(folds, 3)
    layer.paint(cover(ears), skin(tone, ear_light, grain))
    # Face: shared face lighting, rim darkening, forehead/cheekbone sheen, chin shadow, blush.
    light = face_light(X, Y) * (0.78 + 0.22 * smoothstep(2, -16, face))
    light += 0.10 * gauss(X, Y, CX - 20, 62, 28, 18) + 0.07 * gauss(X, Y, CX - 42, 148, 14, 10)
    light -= 0.10 * gauss(X, Y, CX, 228, 40, 10) * (1 if male else 0.5)
    c = skin(tone, light, grain)
    cheeks = gauss(X, Y, CX - 45, 158, 18, 13) + gauss(X, Y, CX + 45, 158, 18, 13)
    warm = (0.15 if male else 0.36) * cheeks + 0.1 * (1 - smoothstep(0, -40, face))
    c = mix(c, c * np.array([1.08, 0.86, 0.84]), warm)
    if male and idx == 2:  # faint stubble shadow along the jaw
        stubble = smoothstep(170, 205, Y) * smoothstep(-2, -10, face) * n.fbm(X / 1.3, Y / 1.3, 1)
        c = c * (1 - 0.22 * stubble[..., None])
    jawline = smoothstep(150, 190, Y) * np.exp(-((np.maximum(-face, 0) / 5) ** 2))
    layer.paint(cover(face), c * (1 - 0.12 * jawline)[..., None] * (1 + mottle))
    return layer.image()


# ---- Eyes, nose, mouth (soft-edged feature patches in the race's mid tone) ----

IRIS: list[Rgb] = [
    (0.36, 0.22, 0.12),
    (0.25, 0.45, 0.62),
    (0.33, 0.45, 0.26),
    (0.50, 0.36, 0.17),
    (0.42, 0.48, 0.52),
    (0.18, 0.11, 0.07),
]
BROW: list[Rgb] = [(0.30, 0.20, 0.13), (0.52, 0.38, 0.22), (0.12, 0.09, 0.08)]


def lid_curves(t: Arr, h_up: float, h_lo: float) -> tuple[Arr, Arr]:
    """Upper and lower lid offsets from the eye centre at ``t`` in [-1, 1] (inner to outer corner)."""
    up = -h_up * (1 - t * t) ** 0.75 * np.clip(1 + 0.18 * t - 0.36 * t * t, 0.5, 2)
    return up, h_lo * (1 - t * t) ** 0.9


def paint_eye(layer: Layer, X: Arr, Y: Arr, side: int, p: dict, n: Noise) -> None:
    """One eye (``side`` -1 left, +1 right): socket shading, eyeball, iris, lashes."""
    ex, hw, h_up, h_lo, tilt, tone = CX + side * EYE_DX, p["hw"], p["h_up"], p["h_lo"], p["tilt"], p["tone"]
    light = face_light(X, Y)
    u = (X - ex) * side  # positive towards the outer corner
    v = (Y - EYE_Y) - tilt * u
    t = np.clip(u / hw, -1, 1)
    up, lo = lid_curves(t, h_up, h_lo)
    eye_a = cover(np.maximum(np.maximum(up - v, v - lo) / 1.6, np.abs(u) - hw))
    # Socket: crease above the lid, optional eyeshadow, a soft shadow below.
    crease = sd_stroke(
        X,
        Y,
        [
            (ex - side * (hw - 2), EYE_Y - h_up - 1),
            (ex + side * 2, EYE_Y - h_up - 5 - tilt * 2),
            (ex + side * (hw + 2), EYE_Y - h_up - 1 - tilt * hw * 1.8),
        ],
        0.8,
    )
    layer.paint(0.35 * cover(crease, 3.0), skin(tone, light * 0.72))
    if p["shadow"] is not None:
        layer.paint(0.28 * gauss(X, Y, ex + side * 4, EYE_Y - h_up - 1, hw + 3, 5), p["shadow"])
    layer.paint(0.22 * gauss(X, Y, ex + side * 2, EYE_Y + h_lo + 5, hw, 3.5), skin(tone, light * 0.7))
    # Eyeball: off-white, shadowed by the upper lid and towards the corners, pink inner corner.
    ball = shaded((0.93, 0.91, 0.88), (0.62 + 0.38 * smoothstep(0, 5, v - up)) * (1 - 0.3 * np.abs(t) ** 3))
    layer.paint(eye_a, mix(ball, (0.85, 0.55, 0.52), 0.6 * smoothstep(-0.6, -1.0, t)))
    # Iris with radial fibres and a dark limbal ring, pupil, two catch-lights; clipped by the lids.
    ix, iy, ir = ex + side * 0.5 - 0.8, EYE_Y - 0.6, p["ir"]
    r = np.hypot(X - ix, Y - iy)
    fib = n.sample(np.arctan2(Y - iy, X - ix) * 9 + 40, r / ir * 2)
    ic = mix(np.array(p["iris"]) * 0.55, np.array(p["iris"]) * 1.35, (1 - r / ir) * 0.8 + 0.4 * fib)
    ic = mix(
        ic * (0.55 + 0.45 * smoothstep(0, 4, v - up))[..., None], (0.05, 0.04, 0.04), smoothstep(0.78, 1.0, r / ir)
    )
    layer.paint(eye_a * cover(r - ir), ic)
    layer.paint(eye_a * cover(r - ir * 0.38), (0.03, 0.02, 0.02))
    layer.paint(eye_a * cover(np.hypot(X - ix + 2.3, Y - iy + 2.4) - 1.5, 0.9), (1.0, 1.0, 0.98))
    layer.paint(0.6 * eye_a * cover(np.hypot(X - ix - 2.2, Y - iy - 2.0) - 0.8), (1, 1, 1))
    # Lash line along the upper lid (thicker outwards, winged for women), lighter lower lid line.
    us = np.linspace(-hw - 0.5, hw + 0.5, 14)
    ups, los = lid_curves(np.clip(us / hw, -1, 1), h_up, h_lo)
    pts = [(ex + side * a, EYE_Y + b + tilt * a) for a, b in zip(us, ups)]
    radii = list(np.linspace(0.7, p["lash"], 14))
    if p["wing"]:
        pts, radii = pts + [(ex + side * (hw + 4.5), pts[-1][1] - 3.5)], radii + [0.4]
    layer.paint(0.95 * cover(sd_stroke(X, Y, pts, radii)), (0.10, 0.07, 0.06))
    lower = [(ex + side * a, EYE_Y + b + tilt * a + 0.7) for a, b in zip(us, los)]
    layer.paint(0.45 * cover(sd_stroke(X, Y, lower, 0.6), 1.3), skin(tone, light * 0.55))


def paint_brow(layer: Layer, X: Arr, Y: Arr, side: int, p: dict, n: Noise) -> None:
    """A tapered, arched eyebrow with hair-like streaks."""
    ex, hw, by, arch, thick = CX + side * EYE_DX, p["hw"], p["brow_y"], p["arch"], p["thick"]
    pts = bezier(
        (ex - side * (hw + 3), by + 2),
        (ex + side * 3, by - arch - 2),
        (ex + side * (hw + 7), by + 3 - p["tilt"] * 10),
        14,
    )
    radii = list(np.interp(np.linspace(0, 1, 14), [0, 0.4, 1], [thick, thick * 0.85, 0.6]))
    hairs = n.streaks(Y * 1.2 + X * 0.3 * side, X)
    alpha = 0.9 * cover(sd_stroke(X, Y, pts, radii) + 1.6 * (hairs - 0.5), 1.6)
    layer.paint(alpha, shaded(p["brow"], 0.75 + 0.6 * hairs))


def draw_eyes(race: int, gender: int, idx: int) -> Image.Image:
    """Two eyes with lids, lashes, irises with catch-lights, creases and eyebrows."""
    X, Y = grid("eyes")
    n = Noise(200 + 10 * race + 3 * gender + idx)
    male = gender == 0
    p = {
        "tone": SKIN[race][1],
        "tilt": (0.05, -0.03, 0.12)[idx],
        "ir": (7.3, 7.7, 7.0)[idx],
        "hw": (15.5, 14.5, 16.5)[idx] + (0.5 if male else 0),
        "h_up": (7.6, 8.6, 6.8)[idx] + (0 if male else 0.9),
        "h_lo": (4.2, 4.8, 3.8)[idx],
        "lash": 1.6 if male else 2.1,
        "wing": not male,
        "iris": IRIS[(idx + gender) % 6] if race == 0 else IRIS[(0, 5, 3)[idx]],
        "shadow": None if male else ((0.45, 0.30, 0.35) if idx != 1 else (0.30, 0.32, 0.42)),
        "brow": BROW[idx] if race == 0 else (0.10, 0.07, 0.06),
        "brow_y": EYE_Y - (20, 22, 18)[idx] - 2 * gender,
        "arch": (4, 6, 3)[idx] + 1.5 * gender,
        "thick": (3.4 if male else 2.3) * (1.1, 0.9, 1.25)[idx],
    }
    layer = Layer(X.shape)
    layer.paint(0.5 * cover(sd_ellipse(X, Y, CX, EYE_Y - 4, 58, 27), 16), skin(p["tone"], face_light(X, Y)))
    for side in (-1, 1):
        paint_eye(layer, X, Y, side, p, n)
        paint_brow(layer, X, Y, side, p, n)
    return layer.image(edge_fade("eyes"))


def draw_nose(race: int, gender: int, idx: int) -> Image.Image:
    """A nose drawn as shading: bridge shadow, lit tip, wings, nostrils and a cast shadow."""
    X, Y = grid("nose")
    n = Noise(300 + 10 * race + 3 * gender + idx)
    tone = SKIN[race][1]
    light = face_light(X, Y)
    wing = (13.0, 15.0, 12.0)[idx] + (2.0 if race == 1 else 0) - (0 if gender == 0 else 1.5)
    tip_y = (164, 167, 161)[idx] - (0 if gender == 0 else 2)
    tip_r = (9.5, 10.5, 8.5)[idx] + (1.5 if race == 1 else 0) - (0 if gender == 0 else 1)
    grain = n.fbm(X / 2.5, Y / 2.5, 2)
    layer = Layer(X.shape)
    layer.paint(0.22 * cover(sd_ellipse(X, Y, NOSE_CX, tip_y - 18, 24, 40), 14), skin(tone, light, grain))
    # Bridge: shadow on the right flank, soft highlight on the left ridge.
    right = sd_stroke(X, Y, [(NOSE_CX + 7, 120), (NOSE_CX + 8, 146), (NOSE_CX + wing - 2, tip_y)], [2, 3, 4])
    layer.paint(0.5 * cover(right, 6), skin(tone, light * 0.5))
    left = sd_stroke(X, Y, [(NOSE_CX - 8, 124), (NOSE_CX - 8, 146), (NOSE_CX - wing + 2, tip_y)], [1, 2, 3])
    layer.paint(0.16 * cover(left, 6), skin(tone, light * 0.6))
    ridge = sd_stroke(X, Y, [(NOSE_CX - 2, 126), (NOSE_CX - 2.5, tip_y - 8)], [1.2, 2.2])
    layer.paint(0.28 * cover(ridge, 4), skin(tone, light * 1.3))
    # Wings (alae): a little volume, and a dark crease around their outer edge.
    for side in (-1, 1):
        wx = NOSE_CX + side * wing
        wing_d = sd_ellipse(X, Y, wx, tip_y + 3, 6.5, 7.0)
        wing_l = (0.95 - 0.2 * side) * light - 0.25 * smoothstep(tip_y, tip_y + 9, Y)
        layer.paint(0.35 * cover(wing_d, 2.5), skin(tone, wing_l, grain))
        arc = sd_stroke(
            X,
            Y,
            bezier((wx - side * 2, tip_y - 5), (wx + side * 9, tip_y + 1), (wx - side * 1, tip_y + 10), 10),
            [0.6, 1.0, 1.4, 1.6, 1.6, 1.4, 1.2, 1.0, 0.8, 0.5],
        )
        layer.paint((0.6 if side > 0 else 0.45) * cover(arc, 1.8), skin(tone, light * 0.35))
    # Tip: a small lit dome with a shadowed underside.
    tip = sd_ellipse(X, Y, NOSE_CX, tip_y, tip_r, tip_r * 0.85)
    tl = 0.5 + 0.65 * lambert(X, Y, NOSE_CX, tip_y, tip_r * 1.2, tip_r)
    layer.paint(0.4 * cover(tip, 3.0), skin(tone, tl * light, grain))
    layer.paint(0.45 * gauss(X, Y, NOSE_CX - 3, tip_y - 3.5, 3.2, 2.4), (1.0, 0.96, 0.92))
    layer.paint(0.55 * gauss(X, Y, NOSE_CX + 1, tip_y + 7.5, tip_r + 5, 2.6), skin(tone, light * 0.4))
    # Nostrils, and the shadow cast onto the upper lip.
    for side in (-1, 1):
        nos = sd_ellipse(X, Y, NOSE_CX + side * (wing * 0.48), tip_y + 8.0, 3.9, 1.9, side * 0.4)
        layer.paint(0.8 * cover(nos, 1.2), np.array(tone) * np.array([0.32, 0.2, 0.18]))
    layer.paint(0.25 * gauss(X, Y, NOSE_CX + 7, tip_y + 16, 14, 4), skin(tone, light * 0.5))
    return layer.image(edge_fade("nose"))


LIPS: dict[tuple[int, int], list[Rgb]] = {
    (0, 0): [(0.74, 0.46, 0.42), (0.70, 0.42, 0.40), (0.66, 0.44, 0.40)],
    (0, 1): [(0.78, 0.36, 0.40), (0.70, 0.16, 0.22), (0.80, 0.52, 0.48)],
    (1, 0): [(0.42, 0.25, 0.23), (0.38, 0.22, 0.21), (0.46, 0.28, 0.25)],
    (1, 1): [(0.50, 0.26, 0.28), (0.55, 0.14, 0.20), (0.56, 0.34, 0.30)],
}


def draw_mouth(race: int, gender: int, idx: int) -> Image.Image:
    """Lips with a cupid's bow, shaded upper lip, glossy lower lip and philtrum."""
    X, Y = grid("mouth")
    n = Noise(400 + 10 * race + 3 * gender + idx)
    tone = SKIN[race][1]
    light = face_light(X, Y)
    half_w = (23, 25, 21.5)[idx] + (1.5 if race == 1 else 0) - (0 if gender == 0 else 1.5)
    t_up = (4.6, 4.0, 5.4)[idx] + (1.2 if race == 1 else 0) + (0 if gender == 0 else 1.2)
    t_lo = (6.2, 5.6, 7.2)[idx] + (1.5 if race == 1 else 0) + (0 if gender == 0 else 1.2)
    smile = (0.8, 2.0, -0.4)[idx]
    lip_c = np.array(LIPS[(race, gender)][idx])
    grain = n.fbm(X / 2.5, Y / 2.5, 2)
    layer = Layer(X.shape)
    layer.paint(0.42 * cover(sd_ellipse(X, Y, CX, MOUTH_Y + 1, 34, 27), 12), skin(tone, light, grain))
    # Philtrum groove above the bow and the hollow below the lower lip.
    layer.paint(0.22 * gauss(X, Y, CX, MOUTH_Y - t_up - 7, 2.5, 6), skin(tone, light * 0.7))
    for side in (-1, 1):
        layer.paint(0.16 * gauss(X, Y, CX + side * 4.5, MOUTH_Y - t_up - 7, 1.6, 6), skin(tone, light * 1.2))
    layer.paint(0.30 * gauss(X, Y, CX + 1, MOUTH_Y + t_lo + 6, 11, 3.2), skin(tone, light * 0.65))
    t = (X - CX) / half_w
    tc = np.clip(t, -1, 1)
    line = MOUTH_Y - smile * tc * tc + 0.7 * np.exp(-((tc / 0.2) ** 2))
    bow = 1 - 0.32 * np.exp(-((tc / 0.12) ** 2)) + 0.12 * np.exp(-(((np.abs(tc) - 0.28) / 0.15) ** 2))
    top = line - t_up * (1 - tc * tc) ** 0.7 * bow
    bot = line + t_lo * (1 - tc * tc) ** 0.55
    outside = np.abs(t) - 1
    d_up = np.maximum(np.maximum(top - Y, Y - line), outside * half_w)
    d_lo = np.maximum(np.maximum(line - Y, Y - bot), outside * half_w)
    vert = n.sample(X * 1.1, Y * 0.15)  # fine vertical lip texture
    up_c = shaded(lip_c, (0.72 + 0.22 * smoothstep(line, top, Y) + 0.08 * vert) * light)
    layer.paint(cover(d_up, 1.2), up_c)
    lo_l = 0.62 + 0.5 * smoothstep(line, line + t_lo * 0.6, Y) - 0.15 * smoothstep(line + t_lo * 0.6, bot, Y)
    lo_c = shaded(lip_c, (lo_l + 0.1 * vert) * light)
    layer.paint(cover(d_lo, 1.2), lo_c)
    layer.paint(0.45 * cover(d_lo) * gauss(X, Y, CX - 4, MOUTH_Y + t_lo * 0.45, 6, 1.6), (1, 0.93, 0.9))
    # The dark line between the lips, with little shadows at the corners.
    xs = np.linspace(-half_w - 1.5, half_w + 1.5, 16)
    tcs = np.clip(xs / half_w, -1, 1)
    pts = [(CX + a, MOUTH_Y - smile * b * b + 0.7 * np.exp(-((b / 0.2) ** 2))) for a, b in zip(xs, tcs)]
    radii = list(0.55 + 0.55 * (1 - tcs * tcs))
    layer.paint(0.85 * cover(sd_stroke(X, Y, pts, radii), 1.2), lip_c * 0.3)
    for side in (-1, 1):
        corner = gauss(X, Y, CX + side * (half_w + 2), MOUTH_Y - smile, 2.5, 2.5)
        layer.paint(0.3 * corner, skin(tone, light * 0.5))
    return layer.image(edge_fade("mouth"))


# ---- Hair ----


@dataclass(frozen=True)
class HairSpec:
    """One hairstyle: its silhouette kind, colour and texture."""

    kind: str  # crop | swept | buzz | long | bob | braid | afro
    colour: Rgb
    texture: str = "strands"  # strands | curly | short
    size: float = 1.0


HAIR: dict[tuple[int, int], list[HairSpec]] = {
    (0, 0): [
        HairSpec("crop", (0.36, 0.24, 0.15)),
        HairSpec("swept", (0.78, 0.62, 0.36)),
        HairSpec("buzz", (0.13, 0.10, 0.09), "short"),
    ],
    (0, 1): [
        HairSpec("long", (0.55, 0.24, 0.12)),
        HairSpec("bob", (0.10, 0.08, 0.08)),
        HairSpec("braid", (0.82, 0.68, 0.42)),
    ],
    (1, 0): [
        HairSpec("crop", (0.09, 0.07, 0.06), "curly"),
        HairSpec("buzz", (0.12, 0.09, 0.07), "short"),
        HairSpec("afro", (0.16, 0.11, 0.08), "curly", 0.8),
    ],
    (1, 1): [
        HairSpec("afro", (0.20, 0.13, 0.09), "curly"),
        HairSpec("long", (0.08, 0.06, 0.06)),
        HairSpec("bob", (0.30, 0.10, 0.14)),
    ],
}


BRAID = [(CX + 74, 112), (CX + 84, 160), (CX + 84, 210), (CX + 78, 250)]  # side braid path


def hair_shape(kind: str, X: Arr, Y: Arr, size: float) -> Arr:
    """Signed distance of a hairstyle silhouette (always clear of the eyes and face centre)."""
    dx = X - CX
    adx = np.abs(dx)
    sideburn = 85 * smoothstep(60, 76, adx)
    if kind == "crop":
        line = 64 + 3 * np.exp(-((dx / 14) ** 2)) - 6 * smoothstep(22, 58, adx) + sideburn
        return np.maximum(sd_ellipse(X, Y, CX, 106, 87, 99), Y - line)
    if kind == "swept":
        line = 58 + 22 * np.clip((dx + 40) / 100, 0, 1) + sideburn
        return np.maximum(sd_ellipse(X, Y, CX + 3, 100, 91, 96), Y - line)
    if kind == "buzz":
        line = 64 + 6 * (dx / 50) ** 2 - 4 * np.exp(-((dx / 16) ** 2)) + sideburn
        return np.maximum(sd_ellipse(X, Y, CX, 112, 83, 103), Y - line)
    if kind == "long":
        curtains = np.minimum(
            sd_stroke(X, Y, [(CX - 76, 90), (CX - 84, 170), (CX - 78, 252)], [18, 22, 12]),
            sd_stroke(X, Y, [(CX + 76, 90), (CX + 84, 170), (CX + 78, 252)], [18, 22, 12]),
        )
        outer = smin(sd_ellipse(X, Y, CX, 102, 93, 96), curtains, 14)
        return np.maximum(outer, -sd_ellipse(X, Y, CX + 3, 150, 66, 96))
    if kind == "bob":
        crown = sd_ellipse(X, Y, CX, 104, 90, 96)
        sides = sd_stroke(X, Y, [(CX - 74, 118), (CX - 80, 198)], [24, 19])
        sides = np.minimum(sides, sd_stroke(X, Y, [(CX + 74, 118), (CX + 80, 198)], [24, 19]))
        outer = np.maximum(smin(crown, sides, 20), Y - (214 - 12 * (dx / 90) ** 2))
        fringe = sd_ellipse(X, Y, CX + 3, 168, 72, 82) - 4 * np.sin(dx / 7) ** 2
        return np.maximum(outer, -fringe)
    if kind == "braid":
        line = 62 + 7 * (dx / 50) ** 2 - 6 * smoothstep(25, 60, adx) + sideburn
        cap = np.maximum(sd_ellipse(X, Y, CX, 112, 84, 100), Y - line)
        return smin(cap, sd_stroke(X, Y, BRAID, [15, 13, 11, 7]), 6)
    if kind == "afro":
        outer = sd_ellipse(X, Y, CX, 96, 108 * size + 10, 100 * size + 4)
        outer = np.maximum(outer, Y - 175 + 30 * (1 - size))
        return np.maximum(outer, -sd_ellipse(X, Y, CX, 165, 74, 86))
    raise ValueError(f"unknown hairstyle kind {kind!r}")


def draw_hair(race: int, gender: int, idx: int) -> Image.Image:
    """A hairstyle with strand (or curl) texture, sheen, depth shading and a soft cast shadow."""
    X, Y = grid("canvas")
    spec = HAIR[(race, gender)][idx]
    n = Noise(500 + 10 * race + 3 * gender + idx)
    d = hair_shape(spec.kind, X, Y, spec.size)
    part_x = CX + (18 if spec.kind in ("swept", "crop") else 0)
    ang = np.arctan2(X - part_x, Y + 25)
    rad = np.hypot(X - part_x, Y + 25)
    if spec.texture == "curly":
        curl = n.fbm(X / 5, Y / 5, 2)
        s = 0.5 + 0.5 * np.sin(curl * 26)
        s = 0.6 * s + 0.4 * n.fbm(X / 2, Y / 2, 1)
        d = d + 5 * (n.fbm(X / 9, Y / 9, 2) - 0.5) * 2
    elif spec.texture == "short":
        s = 0.4 + 0.6 * n.fbm(X / 1.2, Y / 1.2, 1)
    else:
        s = n.streaks(ang * 70, rad * 3)
        fray = 2.5 + 5 * smoothstep(200, 250, Y) + 4 * smoothstep(60, 90, Y) * smoothstep(120, 95, Y)
        d = d + fray * (s - 0.5)
    light = 0.35 + 0.75 * lambert(X, Y, CX, 112, 105, 125)
    depth = smoothstep(0, -12, d)
    shade = light * (0.65 + 0.35 * depth) * (0.55 + 0.75 * s)
    if spec.texture != "curly":  # anisotropic sheen band across the crown
        band = np.exp(-(((rad - 95) / 14) ** 2)) * smoothstep(0.3, 0.9, light)
        shade = shade + 0.55 * band * s
    c = shaded(spec.colour, shade)
    layer = Layer((H, W))
    face = cover(sd_ellipse(X, Y, CX, 145, 80, 100), 6)
    d_shadow = hair_shape(spec.kind, X - 3, Y - 4, spec.size)
    layer.paint(0.35 * face * np.exp(-np.maximum(d_shadow, 0) / 5) * smoothstep(-2, 2, d), (0.12, 0.06, 0.04))
    opacity = 0.88 if spec.texture == "short" else 1.0
    if spec.kind == "braid":  # interleaved lobes along the braid
        xc = np.interp(Y, [p[1] for p in BRAID], [p[0] for p in BRAID])
        lobes = np.maximum(np.sin(0.42 * Y + 0.45 * (X - xc)), np.sin(0.42 * Y - 0.45 * (X - xc) + np.pi))
        on = cover(sd_stroke(X, Y, BRAID, [15, 13, 11, 7]), 2) * smoothstep(118, 130, Y)
        c = c * (1 - on * 0.4 * (1 - lobes))[..., None]
    layer.paint(opacity * cover(d, 1.3), c)
    if spec.kind == "braid":  # the tie near the braid's end
        tie = sd_stroke(X, Y, [(CX + 71, 236), (CX + 88, 238)], 2.5)
        layer.paint(cover(tie), shaded((0.55, 0.15, 0.2), lit(X, Y, (CX + 79, 236, 10, 4), 0.6, 0.5)))
    return layer.image()


# ---- Clothes, armour, accessories ----

CLOTHES: dict[int, list[tuple[str, Rgb, Rgb]]] = {  # (cut, main colour, accent colour)
    0: [
        ("flight", (0.34, 0.38, 0.28), (0.75, 0.55, 0.20)),  # olive flight suit, brass patch
        ("jacket", (0.14, 0.18, 0.30), (0.86, 0.86, 0.82)),  # navy jacket over a white shirt
        ("crew", (0.52, 0.16, 0.18), (0.40, 0.12, 0.14)),  # maroon crew-neck sweater
        ("uniform", (0.16, 0.28, 0.50), (0.85, 0.66, 0.22)),
    ],  # blue uniform, gold epaulettes
    1: [
        ("flight", (0.14, 0.42, 0.45), (0.90, 0.90, 0.90)),  # teal flight suit
        ("scoop", (0.45, 0.22, 0.42), (0.85, 0.75, 0.45)),  # plum scoop-neck top, gold chain
        ("jacket", (0.50, 0.34, 0.20), (0.08, 0.08, 0.09)),  # tan leather jacket, black top
        ("uniform", (0.86, 0.86, 0.84), (0.70, 0.12, 0.14)),
    ],  # white uniform, red trim
}


def draw_cloth(gender: int, idx: int) -> Image.Image:
    """Shoulders and chest of a garment: cut-specific neckline, folds, seams and trims."""
    X, Y = grid("cloth")
    cut, main, accent = CLOTHES[gender][idx]
    n = Noise(600 + 10 * gender + idx)
    dx = X - CX
    d_body = 196 + 34 * (np.abs(dx) / 147) ** 1.5 + 4 * gender * smoothstep(60, 140, np.abs(dx)) - Y
    hole = {"scoop": sd_ellipse(X, Y, CX, 198, 54, 60), "jacket": sd_ellipse(X, Y, CX, 203, 44, 46)}.get(
        cut, sd_ellipse(X, Y, CX, 202, 45, 48)
    )
    d = np.maximum(d_body, -hole)
    inside = cover(d)
    light = lit(X, Y, (CX, 300, 200, 130), 0.40, 0.62) * (0.82 + 0.18 * smoothstep(290, 205, Y))
    folds = np.zeros_like(X)  # soft diagonal folds from the neck towards the armpits
    for side in (-1, 1):
        for k, (x0, x1) in enumerate(((40, 80), (58, 110))):
            path = bezier((CX + side * x0, 222 + 6 * k), (CX + side * (x0 + 20), 250), (CX + side * x1, 292), 8)
            folds -= 0.22 * np.exp(-((sd_stroke(X, Y, path, 0.0) / 4) ** 2))
            folds += 0.12 * np.exp(-((sd_stroke(X - side * 5, Y + 2, path, 0.0) / 3) ** 2))
    texture = 1 + 0.07 * (n.fbm(X / 1.5, Y / 1.5, 1) - 0.5) + 0.05 * (n.fbm(X / 12, Y / 12, 2) - 0.5)
    shade = light * (1 + folds) * texture
    layer = Layer(X.shape)
    layer.paint(inside, shaded(main, shade))
    if cut in ("flight", "uniform"):  # a standing collar around the neck and a centre seam
        collar = np.maximum(np.maximum(-hole, hole - 9), d_body + 2)
        cshade = lit(X, Y, (CX, 215, 60, 30), 0.5, 0.55) * (1 - 0.3 * smoothstep(0, -3, hole))
        layer.paint(cover(collar), shaded(accent if cut == "uniform" else main, cshade))
        layer.paint(0.7 * cover(sd_stroke(X, Y, [(CX, 252), (CX, 290)], 0.8)) * inside, np.array(main) * 0.45)
    if cut == "flight":  # zip with light teeth, a chest patch
        teeth = (np.sin(Y * 2.2) > 0) * cover(sd_stroke(X, Y, [(CX + 1.5, 252), (CX + 1.5, 290)], 1.0))
        layer.paint(0.8 * teeth, (0.75, 0.75, 0.72))
        badge = sd_stroke(X, Y, [(CX + 52, 258), (CX + 72, 258)], 6)
        layer.paint(cover(badge), shaded(accent, lit(X, Y, (CX + 62, 255, 20, 10), 0.8, 0.3)))
    elif cut == "uniform":  # epaulettes and piping
        for side in (-1, 1):
            ep = sd_stroke(X, Y, [(CX + side * 75, 214), (CX + side * 128, 226)], 7)
            layer.paint(cover(ep), shaded(accent, lit(X, Y, (CX + side * 100, 216, 40, 12), 0.5, 0.7)))
            pip = sd_stroke(X, Y, [(CX + side * 30, 251), (CX + side * 42, 290)], 1.2)
            layer.paint(0.9 * cover(pip) * inside, accent)
    elif cut == "jacket":  # shirt in the V opening, lapels either side
        vee = np.maximum(np.abs(dx) - (46 - (Y - 205) * 0.52), 205 - Y)
        layer.paint(cover(np.maximum(vee, d)), shaded(accent, lit(X, Y, (CX, 240, 50, 60), 0.75, 0.35)))
        for side in (-1, 1):
            lap = sd_stroke(X, Y, [(CX + side * 40, 208), (CX + side * 26, 248), (CX + side * 6, 292)], [6, 9, 3])
            layer.paint(cover(np.maximum(np.maximum(lap, -vee - 1), d)), shaded(main, 1.15 * shade))
            edge = sd_stroke(X, Y, [(CX + side * 46, 205), (CX + side * 2, 290)], 1.0)
            layer.paint(0.5 * cover(edge, 1.5) * inside, np.array(main) * 0.4)
    else:  # crew / scoop: a ribbed or trimmed neckline band
        band = np.maximum(np.maximum(-hole, hole - 6), d_body + 1)
        rib = 0.85 + 0.15 * np.sin(np.arctan2(Y - 200, dx) * 60)
        layer.paint(cover(band), shaded(accent if cut == "scoop" else main, 0.8 * rib * light))
        if cut == "scoop":  # a thin pendant chain
            chain = sd_stroke(X, Y, bezier((CX - 40, 236), (CX, 282), (CX + 40, 236), 14), 0.7)
            layer.paint(0.9 * cover(chain), (0.9, 0.8, 0.45))
    for side in (-1, 1):  # shoulder seams
        seam = sd_stroke(X, Y, [(CX + side * 62, 206), (CX + side * 120, 228)], 0.7)
        layer.paint(0.25 * cover(seam, 1.5) * inside, np.array(main) * 0.4)
    return layer.image()


def metal(X: Arr, Y: Arr, dome: tuple[float, float, float, float], base: Rgb, n: Noise) -> Arr:
    """Polished-metal colour of an ellipsoidal surface: diffuse, sky/ground reflection, specular."""
    nrm = dome_normal(X, Y, *dome)
    diff = np.clip(nrm @ LIGHT, 0, 1)
    refl = 2 * nrm[..., 2:3] * nrm - np.array([0, 0, 1.0])
    sky = smoothstep(0.05, -0.25, refl[..., 1])  # upward reflections see the bright sky
    horizon = np.exp(-(((refl[..., 1] - 0.08) / 0.06) ** 2))
    spec = np.clip(refl @ LIGHT, 0, 1) ** 30
    scratch = n.streaks(X * 0.7 + Y * 0.2, Y - X)
    k = 0.22 + 0.45 * diff + 0.35 * sky - 0.25 * horizon + 0.05 * (scratch - 0.5)
    return np.array(base) * k[..., None] + 0.8 * spec[..., None]


ARMOUR: list[tuple[Rgb, Rgb, Rgb]] = [  # (metal, trim, visor tint)
    ((0.50, 0.53, 0.57), (0.85, 0.50, 0.12), (0.95, 0.60, 0.15)),
    ((0.88, 0.88, 0.85), (0.20, 0.35, 0.60), (0.10, 0.22, 0.45)),
]


def draw_armour(idx: int) -> Image.Image:
    """A space helmet with a tinted visor over the face, a gorget and shoulder plates."""
    X, Y = grid("canvas")
    base, trim, visor_c = ARMOUR[idx]
    n = Noise(700 + idx)
    layer = Layer((H, W))
    chest = np.minimum(sd_ellipse(X, Y, CX, 335, 150, 110), 226 + 30 * (np.abs(X - CX) / 147) ** 2 - Y)
    layer.paint(cover(chest), metal(X, Y, (CX, 335, 170, 140), base, n) * 0.8)
    for side in (-1, 1):
        sx = CX + side * 112
        pad = sd_ellipse(X, Y, sx, 262, 64, 50, side * 0.25)
        layer.paint(cover(pad), metal(X, Y, (sx, 268, 72, 60), base, n))
        stripe = np.maximum(np.abs(sd_ellipse(X, Y, sx, 268, 48, 36, side * 0.25)) - 2.5, pad)
        layer.paint(cover(stripe), trim)
    gorget = sd_ellipse(X, Y, CX, 238, 74, 26)
    layer.paint(cover(gorget), metal(X, Y, (CX, 236, 90, 40), base, n) * 0.8)
    helmet = np.maximum(sd_ellipse(X, Y, CX, 122, 101, 115), Y - 232)
    visor = np.maximum(sd_ellipse(X, Y, CX, 142, 77, 66), 84 - Y) + 0 * X
    shell = np.maximum(helmet, -visor)
    layer.paint(cover(shell), metal(X, Y, (CX, 122, 108, 124), base, n))
    # Shell details: crest ridge, ear modules with a trim ring, vents on the chin guard.
    ridge = sd_stroke(X, Y, [(CX, 10), (CX, 80)], [5, 3])
    layer.paint(cover(ridge, 1.5), metal(X, Y, (CX - 3, 45, 12, 60), base, n) * 1.05)
    layer.paint(0.6 * cover(np.abs(ridge) - 0.6, 1.2), np.array(base) * 0.25)
    for side in (-1, 1):
        ear = sd_ellipse(X, Y, CX + side * 88, 150, 20, 26)
        layer.paint(cover(ear), metal(X, Y, (CX + side * 88, 150, 24, 30), base, n) * 0.9)
        layer.paint(cover(np.abs(ear + 5) - 1.8), trim)
        for k in range(3):
            vent = sd_stroke(X, Y, [(CX + side * 30, 214 + 6 * k), (CX + side * 48, 208 + 6 * k)], 1.3)
            layer.paint(0.8 * cover(vent), (0.05, 0.05, 0.06))
    frame = np.abs(visor) - 3.5
    layer.paint(cover(frame), metal(X, Y, (CX, 142, 82, 70), trim, n))
    # Visor glass: tinted and translucent so the face reads through, with reflections.
    glass = cover(visor + 3.5)
    gl = mix(np.array(visor_c) * 0.35, np.array(visor_c), smoothstep(210, 90, Y))
    streak = smoothstep(8, 0, np.abs((X - CX + 30) + 0.8 * (Y - 120)) - 10)
    streak2 = smoothstep(4, 0, np.abs((X - CX + 2) + 0.8 * (Y - 120)) - 3)
    edge = smoothstep(-14, -3.5, visor)
    a = glass * (0.46 + 0.25 * edge + 0.25 * streak + 0.2 * streak2)
    layer.paint(a, mix(gl, (1, 1, 1), 0.7 * (streak + streak2)))
    return layer.image()


def draw_glasses() -> Image.Image:
    """Thin-rimmed round glasses with faintly tinted lenses."""
    X, Y = grid("canvas")
    layer = Layer((H, W))
    for side in (-1, 1):
        lens = sd_ellipse(X, Y, CX + side * 30, EYE_Y + 2, 21, 16)
        refl = smoothstep(4, 0, np.abs(X - CX - side * 30 + 0.9 * (Y - EYE_Y) + 6) - 2)
        layer.paint(cover(lens) * (0.12 + 0.28 * refl), mix((0.6, 0.75, 0.8), (1, 1, 1), refl))
        frame_c = shaded((0.18, 0.16, 0.15), 0.8 + 0.8 * gauss(X, Y, CX + side * 30 - 12, EYE_Y - 12, 8, 5))
        layer.paint(cover(np.abs(lens) - 1.6), frame_c)
        temple = sd_stroke(X, Y, [(CX + side * 51, EYE_Y - 2), (CX + side * 80, EYE_Y - 4)], 1.5)
        layer.paint(cover(temple), (0.16, 0.14, 0.13))
    bridge = sd_stroke(X, Y, bezier((CX - 9, EYE_Y - 2), (CX, EYE_Y - 7), (CX + 9, EYE_Y - 2), 8), 1.4)
    layer.paint(cover(bridge), (0.2, 0.18, 0.16))
    return layer.image()


def draw_headset() -> Image.Image:
    """A comms headset: band over the crown, ear cups and a boom microphone."""
    X, Y = grid("canvas")
    n = Noise(801)
    layer = Layer((H, W))
    band = np.maximum(np.abs(sd_ellipse(X, Y, CX, 118, 90, 110)) - 3.5, Y - 130)
    layer.paint(cover(band), metal(X, Y, (CX, 118, 96, 116), (0.22, 0.23, 0.25), n))
    for side in (-1, 1):
        cx = CX + side * 86
        cup = sd_ellipse(X, Y, cx, 140, 14, 21)
        layer.paint(cover(cup), shaded((0.2, 0.2, 0.22), lit(X, Y, (cx, 140, 16, 24), 0.5, 0.9)))
        layer.paint(cover(np.abs(cup + 4) - 1.2), (0.75, 0.35, 0.1))
    boom = sd_stroke(X, Y, bezier((CX - 86, 150), (CX - 78, 196), (CX - 34, 192), 14), 1.8)
    layer.paint(cover(boom), (0.12, 0.12, 0.13))
    mic = sd_ellipse(X, Y, CX - 33, 192, 5, 4)
    layer.paint(cover(mic), shaded((0.15, 0.15, 0.16), lit(X, Y, (CX - 33, 192, 6, 5), 0.6, 0.8)))
    layer.paint(cover(np.hypot(X - CX + 82, Y - 128) - 1.6), (0.2, 0.95, 0.4))  # status light
    return layer.image()


def draw_eyepatch() -> Image.Image:
    """A leather eyepatch over the right eye with its strap across the forehead."""
    X, Y = grid("canvas")
    n = Noise(802)
    layer = Layer((H, W))
    strap = sd_stroke(X, Y, [(CX - 84, 96), (CX - 20, 84), (CX + 22, 98)], 2.6)
    strap = np.minimum(strap, sd_stroke(X, Y, [(CX + 46, 124), (CX + 84, 134)], 2.4))
    layer.paint(cover(strap), shaded((0.14, 0.1, 0.08), lit(X, Y, (CX, 110, 95, 60), 0.8, 0.4)))
    patch = sd_ellipse(X, Y, CX + EYE_DX, EYE_Y + 1, 20, 16, 0.1)
    leather = lit(X, Y, (CX + EYE_DX, EYE_Y, 22, 18), 0.35, 0.9) + 0.1 * (n.fbm(X / 1.5, Y / 1.5, 2) - 0.5)
    layer.paint(0.3 * cover(patch - 3, 5), (0.05, 0.03, 0.02))
    layer.paint(cover(patch), shaded((0.12, 0.09, 0.08), leather))
    layer.paint(0.7 * cover(np.abs(patch + 2.5) - 0.5), (0.3, 0.24, 0.2))
    return layer.image()


# ---- Tree writer ----


def _save(img: Image.Image, path: pathlib.Path, **extra: object) -> pathlib.Path:
    """Write one PNG reproducibly (fixed compression, no metadata) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG", compress_level=9, optimize=False, **extra)
    return path


def draw_sample_tree(out_dir: str | os.PathLike) -> list[pathlib.Path]:
    """Draw the whole sample ``facegen`` tree under ``out_dir``; return the written paths, sorted."""
    root = pathlib.Path(out_dir)
    sp = root / "species_0"
    written = [_save(draw_background(), root / "backgrounds" / "general.png")]
    features = {"head": draw_head, "eyes": draw_eyes, "nose": draw_nose, "mouth": draw_mouth, "hair": draw_hair}
    for race in (0, 1):
        for g in (0, 1):
            for i in range(3):
                for name, draw in features.items():
                    path = sp / f"race_{race}" / name / f"{name}_{g}_{i}.png"
                    written.append(_save(draw(race, g, i), path))
    for g in (0, 1):
        written += [_save(draw_cloth(g, i), sp / "clothes" / f"cloth_{g}_{i}.png") for i in range(4)]
    written += [_save(draw_armour(i), sp / "clothes" / f"armour_{i}.png") for i in range(2)]
    empty = Image.new("P", (2, 2), 0)  # the game's "no accessory": fully transparent palette image
    empty.putpalette([0, 0, 0] * 256)
    written.append(_save(empty, sp / "accessories" / "acc_0.png", transparency=0))
    for i, draw_acc in enumerate((draw_glasses, draw_headset, draw_eyepatch), start=1):
        written.append(_save(draw_acc(), sp / "accessories" / f"acc_{i}.png"))
    return sorted(written)

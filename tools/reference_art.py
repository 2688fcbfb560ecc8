"""Procedurally drawn style references: a pencil study, a pen-and-wash drawing and an oil sketch.

The bundled styles need reference images that the project draws itself. All three sheets show
the same sitter, modelled as a small 3-D scene, and render it with the marks of their medium the
way an artist would make a study sheet:

* the sitter (:func:`build_scene`) is a head-and-shoulders figure made of smoothly blended
  ellipsoids (signed distance fields: cranium, jaw, brows, cheekbones, nose, lips, eyes under
  lids, ears, hair gathered in a bun, neck, collarbones, shoulders), sphere-traced in
  three-quarter view and lit from the upper left. The scene gives per-pixel light, cast shadow and
  occlusion, materials (skin, hair, garment, eyes, lips, brows), directions that follow the forms
  (cross-sections of the surface, the flow of the hair) and the contours an artist would draw;
* ``pencil``: graphite hatching and cross-hatching on toned paper (:func:`draw_pencil`);
* ``ink_wash``: tapered pen lines over flat, pooled washes on white paper (:func:`draw_ink_wash`);
* ``paint``: bristly, directional brush strokes from a six-colour palette (:func:`draw_paint`).

A Gram-matrix style loss sees only texture statistics, so every sheet is covered edge to edge with
marks of its medium. Everything is numpy, OpenCV (blurs, remapping, distance transforms) and
Pillow (PNG output). Output is deterministic: every random number comes from
``numpy.random.default_rng`` with a fixed seed per reference, and the scene itself is not random.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REFERENCE_NAMES: tuple[str, ...] = ("pencil", "ink_wash", "paint")
_SEEDS = {"pencil": 1017, "ink_wash": 2029, "paint": 3041}
Array = np.ndarray
_FAR = -1e9  # depth of the empty background

# ----------------------------------------------------------------------------- helpers


def _blur(a: Array, sigma: float) -> Array:
    """Gaussian blur (per channel for H x W x C), reflecting at the borders."""
    if sigma <= 0:
        return a.astype(np.float64)
    return cv2.GaussianBlur(a.astype(np.float64), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> Array:
    """Smooth Gaussian noise with unit standard deviation and feature size about ``sigma`` px."""
    n = _blur(rng.standard_normal(shape), sigma)
    return (n - n.mean()) / (n.std() + 1e-12)


def _smoothstep(e0: float, e1: float, x: Array) -> Array:
    """Hermite step from 0 at ``e0`` to 1 at ``e1`` (``e1`` < ``e0`` gives a falling step)."""
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _rot(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> Array:
    """Rotation matrix (y down, z towards the viewer): yaw about y, then pitch about x, then roll."""
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx @ ry


def _resample(line: Array, step: float) -> Array:
    """A polyline resampled to points ``step`` px apart along its length."""
    d = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(line, axis=0).T))])
    s = np.linspace(0.0, d[-1], max(2, int(round(d[-1] / step)) + 1))
    return np.stack([np.interp(s, d, line[:, 0]), np.interp(s, d, line[:, 1])], axis=1)


def _smooth_line(line: Array, sigma: float) -> Array:
    """A polyline with its points smoothed along the line (``sigma`` in points)."""
    if len(line) < 3 or sigma <= 0:
        return line
    k = max(1, int(3 * sigma))
    w = np.exp(-0.5 * (np.arange(-k, k + 1) / sigma) ** 2)
    w /= w.sum()
    padded = np.pad(line, ((k, k), (0, 0)), mode="edge")
    return np.stack([np.convolve(padded[:, i], w, "valid") for i in range(2)], axis=1)


def _sample(rng: np.random.Generator, weight: Array, count: int) -> Array:
    """``count`` pixel positions (x, y floats) drawn with probability proportional to ``weight``."""
    p = np.clip(weight, 0, None).ravel()
    if count <= 0 or p.sum() <= 0:
        return np.zeros((0, 2))
    idx = rng.choice(p.size, size=count, p=p / p.sum())
    return np.stack([idx % weight.shape[1], idx // weight.shape[1]], axis=1) + rng.uniform(0, 1, (count, 2))


def _poisson(rng: np.random.Generator, weight: Array, spacing: float) -> Array:
    """Stratified points: one jittered candidate per ``spacing`` cell, kept with probability ``weight``."""
    h, w = weight.shape
    gy, gx = np.mgrid[0:h:spacing, 0:w:spacing]
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1) + rng.uniform(0, spacing, (gx.size, 2))
    pts = pts[(pts[:, 0] < w) & (pts[:, 1] < h)]
    keep = rng.random(len(pts)) < weight[pts[:, 1].astype(int), pts[:, 0].astype(int)]
    pts = pts[keep]
    return pts[rng.permutation(len(pts))]


def _at(a: Array, p: Array) -> Array:
    """``a`` sampled (nearest) at the pixel positions ``p`` (..., 2 as x, y)."""
    h, w = a.shape[:2]
    return a[np.clip(p[..., 1].astype(int), 0, h - 1), np.clip(p[..., 0].astype(int), 0, w - 1)]


# ----------------------------------------------------------------------------- stroke rasters


@dataclass
class Mark:
    """One stroke in its box (y0, y1, x0, x1): coverage, ``t`` 0..1 along it, ``s`` -1..1 across."""

    box: tuple[int, int, int, int]
    cov: Array
    t: Array
    s: Array


def _taper(t: Array, head: float, tail: float) -> Array:
    """Width profile along a stroke: grows over the first ``head``, thins over the last ``tail``."""
    a = np.clip(t / max(head, 1e-3), 0, 1) if head > 0 else np.ones_like(t)
    b = np.clip((1 - t) / max(tail, 1e-3), 0, 1) if tail > 0 else np.ones_like(t)
    return np.sqrt(a * b)


def arc_mark(
    c: Array, angle: float, length: float, width: float, bend: float, size: int, head: float = 0.3, tail: float = 0.4
) -> Mark | None:
    """A gently curved, tapered stroke centred on ``c``; ``bend`` is its curvature (1/px).

    Pixel coordinates are mapped into the stroke's frame analytically (a parabola approximates the
    arc), so a mark costs a handful of array operations over its bounding box.
    """
    half = length / 2
    reach = half + width + abs(bend) * half * half / 2 + 2
    x0, y0 = int(np.floor(c[0] - reach)), int(np.floor(c[1] - reach))
    x1, y1 = int(np.ceil(c[0] + reach)) + 1, int(np.ceil(c[1] + reach)) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)
    if x0 >= x1 or y0 >= y1:
        return None
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    dx, dy = xs + 0.5 - c[0], ys + 0.5 - c[1]
    ca, sa = np.cos(angle), np.sin(angle)
    u, v = dx * ca + dy * sa, -dx * sa + dy * ca
    v = (v - bend * u * u / 2) / np.sqrt(1 + (bend * u) ** 2)
    t = u / length + 0.5
    w = width * _taper(np.clip(t, 0, 1), head, tail)
    along = np.clip(np.minimum(u + half, half - u) + 0.5, 0, 1)
    cov = np.clip(w / 2 - np.abs(v) + 0.5, 0, 1) * np.minimum(1.0, w) * along
    return Mark((y0, y1, x0, x1), cov, t, np.clip(v / np.maximum(w / 2, 0.3), -1, 1))


def path_mark(points: Array, widths: Array, size: int) -> Mark | None:
    """An anti-aliased variable-width polyline, vectorised over the pixels of its bounding box."""
    pad = float(widths.max()) / 2 + 1.5
    x0, y0 = np.floor(points.min(axis=0) - pad).astype(int)
    x1, y1 = np.ceil(points.max(axis=0) + pad).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)
    if x0 >= x1 or y0 >= y1 or len(points) < 2:
        return None
    ys, xs = np.mgrid[y0:y1, x0:x1]
    px, py = xs.reshape(-1, 1) + 0.5 - points[:-1, 0], ys.reshape(-1, 1) + 0.5 - points[:-1, 1]
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
    cov = np.clip(0.5 - sd, 0.0, 1.0) * np.minimum(1.0, 2 * half[rows, k])
    shape = (y1 - y0, x1 - x0)
    return Mark((y0, y1, x0, x1), cov.reshape(shape), t.reshape(shape), s.reshape(shape))


def _deposit(acc: Array, box: tuple[int, int, int, int], alpha: Array) -> None:
    """Layer translucent coverage ``alpha`` into ``acc`` in place (1 - (1 - a)(1 - b))."""
    sub = acc[box[0] : box[1], box[2] : box[3]]
    sub += (1 - sub) * alpha


# ----------------------------------------------------------------------------- the sitter

Vec = tuple[Array, Array, Array]


@dataclass
class Frame:
    """A local coordinate frame: screen position of its origin, pixels per unit, view rotation."""

    origin: Array  # (x, y, 0) on the screen
    scale: float
    rot: Array  # view-from-local 3x3

    def to_view(self, p: Array) -> Array:
        """Local points (..., 3) to view space (pixels, z towards the viewer)."""
        return self.origin + self.scale * (np.asarray(p, dtype=np.float64) @ self.rot.T)

    def to_local(self, v: Array) -> Array:
        """View-space points (..., 3) to local units."""
        return (np.asarray(v, dtype=np.float64) - self.origin) @ self.rot / self.scale


def _frames(size: int) -> dict[str, Frame]:
    """The head (turned to the viewer's left, chin a little down) and the torso (turned less)."""
    s = size / 512
    origin = np.array([268 * s, 186 * s, 0.0])
    return {
        "head": Frame(origin, 104 * s, _rot(yaw=-0.5, pitch=-0.1, roll=0.06)),
        "body": Frame(origin, 104 * s, _rot(yaw=-0.2, pitch=0.0, roll=0.02)),
    }


def _ell(p: Vec, c: tuple[float, float, float], r: tuple[float, float, float], turn: Array | None = None) -> Array:
    """Approximate signed distance to an ellipsoid (centre ``c``, radii ``r``, local rotation ``turn``)."""
    x, y, z = p[0] - c[0], p[1] - c[1], p[2] - c[2]
    if turn is not None:
        x, y, z = (
            turn[0, 0] * x + turn[1, 0] * y + turn[2, 0] * z,
            turn[0, 1] * x + turn[1, 1] * y + turn[2, 1] * z,
            turn[0, 2] * x + turn[1, 2] * y + turn[2, 2] * z,
        )
    k0 = np.sqrt((x / r[0]) ** 2 + (y / r[1]) ** 2 + (z / r[2]) ** 2)
    k1 = np.sqrt((x / r[0] ** 2) ** 2 + (y / r[1] ** 2) ** 2 + (z / r[2] ** 2) ** 2)
    return k0 * (k0 - 1) / (k1 + 1e-9)


def _smin(a: Array, b: Array, k: float) -> Array:
    """Smooth union of two distance fields (blend radius ``k``)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0, 1)
    return b + (a - b) * h - k * h * (1 - h)


def _smax(a: Array, b: Array, k: float) -> Array:
    """Smooth intersection of two distance fields."""
    return -_smin(-a, -b, k)


EYES = ((-0.26, 0.02, 0.5), (0.26, 0.02, 0.5))  # eyeball centres, head frame
EYE_R = 0.12
EYE_SPAN = 0.95  # half the width of the opening between the lids, radians
GAZE = np.array([0.32, 0.02, 0.95]) / np.linalg.norm([0.32, 0.02, 0.95])  # towards the viewer


def _eye_angles(p: Vec) -> tuple[Array, Array, Array, Array]:
    """For head-frame points: angles across and up-down from the nearer eye's axis, gaze angle, radius."""
    left = p[0] < 0
    qx = p[0] - np.where(left, EYES[0][0], EYES[1][0])
    qy, qz = p[1] - EYES[0][1], p[2] - EYES[0][2]
    rad = np.sqrt(qx * qx + qy * qy + qz * qz) + 1e-9
    across = np.arctan2(qx, qz) - np.where(left, -0.08, 0.08)  # the opening sits towards the outer corner
    updown = np.arcsin(np.clip(qy / rad, -1, 1))
    gaze = np.arccos(np.clip((qx * GAZE[0] + qy * GAZE[1] + qz * GAZE[2]) / rad, -1, 1))
    return across, updown, gaze, rad


def _lid(f: Array) -> tuple[Array, Array]:
    """Up-down angles of the upper and lower lid margins for the across profile ``f`` (1 mid, 0 corners)."""
    return -0.5 * f**0.7 + 0.12, 0.3 * f + 0.06


def _eye_opening(p: Vec) -> Array:
    """Signed angular distance (radians, negative inside) to the almond between the lids."""
    across, updown, _, _ = _eye_angles(p)
    f = np.clip(1 - (across / EYE_SPAN) ** 2, 0, 1)
    top, bottom = _lid(f)
    return np.maximum(np.abs(across) - EYE_SPAN, np.maximum(top - updown, updown - bottom))


def _hair_edge(p: Vec) -> Array:
    """Signed distance-like field of the hairline: negative on the scalp side (forehead, temples, nape)."""
    az = np.abs(np.arctan2(p[0], p[2]))
    edge = np.interp(
        az, [0, 0.35, 0.95, 1.3, 1.45, 1.9, 2.2, np.pi], [-0.6, -0.57, -0.36, -0.12, -0.3, -0.2, 0.45, 0.6]
    )
    return 0.6 * (p[1] - edge - 0.025 * np.sin(9 * az))


def _neckline(p: Vec) -> Array:
    """True where a point of the torso (body frame, units) is inside the garment: a wide, low neckline."""
    return p[1] > np.interp(np.abs(p[0]), [0, 0.45, 0.85, 1.2, 3], [2.25, 2.18, 1.95, 1.55, 1.0])


_T = {s: _rot(yaw=0.5 * s, pitch=0.15) for s in (-1, 1)}  # ears
_BROW = {s: _rot(roll=-0.12 * s) for s in (-1, 1)}
_TRAP = {s: _rot(roll=0.26 * s) for s in (-1, 1)}
_CLAV = {s: _rot(roll=-0.15 * s) for s in (-1, 1)}
_BRIDGE, _NECK = _rot(pitch=0.35), _rot(pitch=-0.15)
_UPPER_LIP = ((0.0, 0.565, 0.7), (0.21, 0.055, 0.085))  # centre, radii
_LOWER_LIP = ((0.0, 0.665, 0.67), (0.18, 0.065, 0.085))


def _head_sdf(p: Vec) -> dict[str, Array]:
    """Distance fields (head frame, units: half the head's height) of skin, eyeballs and hair."""
    d = _ell(p, (0, -0.25, -0.15), (0.7, 0.75, 0.88))  # cranium
    d = _smin(d, _ell(p, (0, 0.12, 0.12), (0.6, 0.62, 0.55)), 0.25)  # face
    d = _smin(d, _ell(p, (0, -0.42, 0.2), (0.52, 0.38, 0.52)), 0.25)  # forehead
    d = _smin(d, _ell(p, (0, 0.5, 0.0), (0.52, 0.44, 0.55)), 0.25)  # jaw
    d = _smin(d, _ell(p, (0, 0.82, 0.42), (0.22, 0.18, 0.25)), 0.2)  # chin
    for s in (-1, 1):
        d = _smin(d, _ell(p, (s * 0.42, -0.08, 0.08), (0.28, 0.32, 0.4)), 0.25)  # temple
        d = _smin(d, _ell(p, (s * 0.3, 0.42, 0.32), (0.25, 0.22, 0.28)), 0.25)  # cheek
        d = _smin(d, _ell(p, (s * 0.38, 0.15, 0.38), (0.22, 0.14, 0.24)), 0.2)  # cheekbone
        d = _smin(d, _ell(p, (s * 0.25, -0.16, 0.5), (0.24, 0.08, 0.18), _BROW[s]), 0.15)  # brow
    d = _smin(d, _ell(p, (0, 0.5, 0.44), (0.3, 0.28, 0.32)), 0.2)  # muzzle
    for e in EYES:
        d = _smax(d, -_ell(p, (e[0], e[1] - 0.01, 0.7), (0.16, 0.13, 0.16)), 0.08)  # socket
    nose = _ell(p, (0, 0.1, 0.68), (0.075, 0.27, 0.1), _BRIDGE)
    nose = _smin(nose, _ell(p, (0, 0.35, 0.85), (0.08, 0.07, 0.08)), 0.1)
    for s in (-1, 1):
        nose = _smin(nose, _ell(p, (s * 0.1, 0.38, 0.71), (0.07, 0.06, 0.075)), 0.06)
    d = _smin(d, nose, 0.1)
    lips = _smin(_ell(p, *_UPPER_LIP), _ell(p, *_LOWER_LIP), 0.03)
    d = _smin(d, lips, 0.06)
    d = _smax(d, -_ell(p, (0, 0.615, 0.73), (0.21, 0.008, 0.1)), 0.01)  # parting of the lips
    eye = np.minimum(_ell(p, EYES[0], (EYE_R,) * 3), _ell(p, EYES[1], (EYE_R,) * 3))
    lid = np.minimum(_ell(p, EYES[0], (1.1 * EYE_R,) * 3), _ell(p, EYES[1], (1.1 * EYE_R,) * 3))
    d = _smin(d, _smax(lid, -_eye_opening(p) * 1.1 * EYE_R, 0.01), 0.03)
    for s in (-1, 1):
        d = _smin(d, _ell(p, (s * 0.7, 0.08, -0.12), (0.075, 0.24, 0.15), _T[s]), 0.04)  # ear
    edge = _hair_edge(p)
    hair = _smax(_ell(p, (0, -0.3, -0.16), (0.8, 0.85, 0.98)), edge, 0.03)
    hair = _smin(hair, _smax(_ell(p, (0.03, -0.55, -0.3), (0.8, 0.62, 0.9)), edge, 0.03), 0.15)
    hair = _smin(hair, _ell(p, (0.1, -0.4, -1.3), (0.38, 0.34, 0.32)), 0.12)  # bun
    return {"skin": d, "eye": eye, "hair": hair}


def _body_sdf(p: Vec) -> dict[str, Array]:
    """Distance field (body frame) of the neck, shoulders, collarbones, chest and upper arms."""
    d = _ell(p, (0.0, 1.1, -0.1), (0.46, 0.85, 0.44), _NECK)
    d = _smin(d, _ell(p, (0, 2.6, -0.05), (1.45, 0.78, 0.6)), 0.3)  # torso
    for s in (-1, 1):
        d = _smin(d, _ell(p, (s * 0.6, 1.8, -0.2), (0.62, 0.17, 0.3), _TRAP[s]), 0.3)
        d = _smin(d, _ell(p, (s * 1.2, 2.1, -0.1), (0.44, 0.38, 0.42)), 0.3)  # shoulder
        d = _smin(d, _ell(p, (s * 1.5, 2.9, -0.1), (0.42, 0.8, 0.42)), 0.25)  # arm
        d = _smin(d, _ell(p, (s * 0.45, 1.95, 0.2), (0.4, 0.04, 0.05), _CLAV[s]), 0.1)  # clavicle
    return {"body": d}


@dataclass
class Surface:
    """The ray-cast model: depth (px, towards the viewer), unit normals, material and local points."""

    z: Array
    normal: Array  # (H, W, 3)
    part: Array  # index into PARTS, -1 for the background
    head: Array  # head-frame coordinates of the visible point (H, W, 3)
    body: Array  # body-frame coordinates


PARTS = ("skin", "eye", "hair", "cloth")


_BOUNDS = {  # (centre, radii) of a box around each frame's model, in its units
    "head": ((0.0, -0.15, -0.25), (0.95, 1.3, 1.5)),
    "body": ((0.0, 2.6, -0.05), (2.1, 2.4, 0.75)),
}


def _fields(frames: dict[str, Frame], pts: Array) -> dict[str, Array]:
    """All distance fields, in pixels, at view-space points (N, 3).

    Points well outside a frame's bounding box get the distance to that box instead of evaluating
    its model: a lower bound, so sphere tracing stays safe.
    """
    out: dict[str, Array] = {}
    for name, sdf in (("head", _head_sdf), ("body", _body_sdf)):
        fr = frames[name]
        local = fr.to_local(pts)
        centre, radii = _BOUNDS[name]
        outside = np.maximum(np.abs(local - centre) - radii, 0)
        bound = np.sqrt((outside**2).sum(axis=1))
        near = bound < 0.05
        sub = local[near]
        parts = sdf((sub[:, 0], sub[:, 1], sub[:, 2]))
        for part, d in parts.items():
            full = bound.copy()
            full[near] = d
            out[part] = full * fr.scale
    return out


def _trace(frames: dict[str, Frame], x: Array, y: Array, z: Array, steps: int) -> tuple[Array, Array]:
    """Sphere-trace rays (x, y) towards -z from ``z``; returns the final depths and which rays hit."""
    z, active, hit = z.copy(), np.arange(x.size), np.zeros(x.size, dtype=bool)
    floor = -1.6 * frames["head"].scale
    for _ in range(steps):
        pts = np.stack([x[active], y[active], z[active]], axis=1)
        d = np.min(np.stack(list(_fields(frames, pts).values())), axis=0)
        z[active] -= 0.9 * d
        done = np.abs(d) < 0.1
        hit[active[done]] = True
        active = active[~done & (z[active] > floor)]
        if active.size == 0:
            break
    return z, hit


def _march(frames: dict[str, Frame], size: int) -> Surface:
    """Ray-cast the model (coarse pass at 1/4 resolution first); normals by central differences."""
    c = 4
    cy, cx = np.mgrid[0 : size // c, 0 : size // c] * c + c / 2
    cz, chit = _trace(frames, cx.ravel(), cy.ravel(), np.full(cx.size, 1.3 * frames["head"].scale), 90)
    coarse = np.where(chit, cz, _FAR).reshape(cx.shape).astype(np.float32)
    start = cv2.dilate(coarse, np.ones((3, 3), np.uint8))  # the nearest surface around each block
    start = np.repeat(np.repeat(start, c, axis=0), c, axis=1).astype(np.float64).ravel()
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    x, y = xs.ravel(), ys.ravel()
    z = np.full(x.size, _FAR)
    hit = np.zeros(x.size, dtype=bool)
    near = np.flatnonzero(start > _FAR / 2)
    z[near], hit[near] = _trace(frames, x[near], y[near], start[near] + 2 * c, 40)
    idx = np.flatnonzero(hit)
    pts = np.stack([x[idx], y[idx], z[idx]], axis=1)
    fields = _fields(frames, pts)
    names = list(fields)
    part_of_hit = np.argmin(np.stack([fields[n] for n in names]), axis=0)
    eps, grad = 0.5, np.zeros((idx.size, 3))
    for axis in range(3):
        off = np.zeros(3)
        off[axis] = eps
        hi = np.min(np.stack(list(_fields(frames, pts + off).values())), axis=0)
        lo = np.min(np.stack(list(_fields(frames, pts - off).values())), axis=0)
        grad[:, axis] = hi - lo
    grad /= np.linalg.norm(grad, axis=1, keepdims=True) + 1e-12
    depth = np.full(x.size, _FAR)
    depth[idx] = z[idx]
    normal = np.zeros((x.size, 3))
    normal[:, 2] = 1
    normal[idx] = grad
    part = np.full(x.size, -1)
    part[idx] = np.array([PARTS.index(n) if n in PARTS else -2 for n in names])[part_of_hit]
    view = np.stack([x, y, depth], axis=1)
    shape = (size, size)
    head, body = frames["head"].to_local(view), frames["body"].to_local(view)
    garment = _neckline((body[:, 0], body[:, 1], body[:, 2]))
    part[part == -2] = np.where(garment[part == -2], PARTS.index("cloth"), PARTS.index("skin"))
    return Surface(
        depth.reshape(shape),
        normal.reshape(shape + (3,)),
        part.reshape(shape),
        head.reshape(shape + (3,)),
        body.reshape(shape + (3,)),
    )


# ----------------------------------------------------------------------------- the study: light, materials, lines

LIGHT = np.array([-0.8, -0.45, 0.4]) / np.linalg.norm([-0.8, -0.45, 0.4])  # towards the key light (upper left)
BOUNCE = np.array([0.6, 0.45, 0.35]) / np.linalg.norm([0.6, 0.45, 0.35])  # reflected light from the lower right


@dataclass
class Line:
    """A contour to draw: points (N, 2), a weight per point (about 0.5 light .. 1.5 dark), its kind."""

    pts: Array
    weight: Array
    kind: str


@dataclass
class Scene:
    """Everything the media need to know about the sitter, per pixel of the sheet."""

    size: int
    surf: Surface
    masks: dict[str, Array]  # figure, skin, hair, cloth, eye, iris, pupil, lips, brows
    lambert: Array  # n . light, -1..1
    cast: Array  # 1 where a cast shadow falls (soft)
    light: Array  # direct light 0..1: form light x no cast shadow
    occlusion: Array  # ambient occlusion 0..1 (1 = open)
    value: Array  # the value study 0 (black) .. 1 (white), local colours included, background 1
    across: Array  # (H, W, 2) screen direction of horizontal sections over the forms
    down: Array  # (H, W, 2) screen direction of vertical sections
    rising: Array  # (H, W, 2) sections by planes tilted one way ("/" on a frontal form)
    falling: Array  # (H, W, 2) and the other way ("\\")
    flow: Array  # (H, W, 2) direction of the hair
    lines: list[Line] = field(default_factory=list)


def _cast_shadow(z: Array, light: Array) -> Array:
    """Shadows cast over the depth map, marching each pixel towards the light."""
    size = z.shape[0]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    flat = np.hypot(light[0], light[1])
    ux, uy, rise = light[0] / flat, light[1] / flat, light[2] / flat
    shadow = np.zeros_like(z)
    for t in np.arange(1.5, 90, 1.5):
        xi = np.clip((xs + ux * t).astype(int), 0, size - 1)
        yi = np.clip((ys + uy * t).astype(int), 0, size - 1)
        shadow = np.maximum(shadow, np.clip((z[yi, xi] - (z + rise * t) - 1.5) / 4, 0, 1))
    return shadow * (z > _FAR / 2)


def _occlusion(z: Array, figure: Array, scale: float) -> Array:
    """Ambient occlusion from the depth map: pixels below their surroundings are darker."""
    zf = np.where(figure > 0, z, 0.0)
    out = np.ones_like(z)
    for sigma, amount in ((0.04, 0.5), (0.15, 0.35)):
        s = sigma * scale
        mean = _blur(zf, s) / np.maximum(_blur(figure, s), 1e-3)
        out -= amount * np.clip((mean - z) / (2.5 * s), 0, 1)
    return np.clip(out, 0, 1)


def _tangent_dir(normal: Array, axis: Array) -> Array:
    """Screen direction (H, W, 2) of ``axis`` projected onto the surface's tangent plane."""
    t = axis - (normal @ axis)[..., None] * normal
    xy = t[..., :2]
    return xy / (np.linalg.norm(xy, axis=-1, keepdims=True) + 1e-9)


def _hair_flow(head: Array, normal: Array, rot: Array) -> Array:
    """Screen direction of hair combed back from the hairline towards the bun."""
    bun = np.array([0.1, -0.4, -1.3])
    pull = (bun - head) @ rot.T
    pull = pull / (np.linalg.norm(pull, axis=-1, keepdims=True) + 1e-9)
    t = pull - (normal * pull).sum(axis=-1, keepdims=True) * normal
    xy = t[..., :2]
    return xy / (np.linalg.norm(xy, axis=-1, keepdims=True) + 1e-9)


def _thin(mask: Array) -> Array:
    """Zhang-Suen thinning of a boolean mask to one-pixel-wide curves."""
    img = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            c = img[1:-1, 1:-1]
            p2, p3, p4, p5 = img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:], img[2:, 2:]
            p6, p7, p8, p9 = img[2:, 1:-1], img[2:, :-2], img[1:-1, :-2], img[:-2, :-2]
            ring = (p2, p3, p4, p5, p6, p7, p8, p9, p2)
            count = sum(p.astype(np.int32) for p in ring[:-1])
            trans = sum(((a == 0) & (b == 1)).astype(np.int32) for a, b in zip(ring[:-1], ring[1:]))
            if step == 0:
                side = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                side = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            kill = (c == 1) & (count >= 2) & (count <= 6) & (trans == 1) & side
            if kill.any():
                c[kill] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


_STEPS = ((0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1))


def _paths(thin: Array, min_len: int = 6) -> list[Array]:
    """Walk a one-pixel-wide mask into polylines (x, y), starting from the line ends."""
    h, w = thin.shape
    todo = thin.copy()
    nbrs = cv2.filter2D(thin.astype(np.uint8), -1, np.ones((3, 3), np.float32), borderType=cv2.BORDER_CONSTANT)
    ys, xs = np.nonzero(thin)
    ends = nbrs[ys, xs] <= 2
    order = list(zip(ys[ends], xs[ends])) + list(zip(ys[~ends], xs[~ends]))
    out = []
    for y, x in order:
        if not todo[y, x]:
            continue
        path, todo[y, x] = [(x, y)], False
        while True:
            for dy, dx in _STEPS:
                ny, nx = y + dy, x + dx
                if 0 <= ny < h and 0 <= nx < w and todo[ny, nx]:
                    y, x = ny, nx
                    todo[y, x] = False
                    path.append((x, y))
                    break
            else:
                break
        if len(path) >= min_len:
            out.append(np.asarray(path, dtype=np.float64) + 0.5)
    return out


def _on_skin(local_xy: Array) -> Array:
    """Head-frame points (N, 3) on the skin, found by marching along the head's z axis."""
    x, y = local_xy[:, 0], local_xy[:, 1]
    z = np.full(x.shape, 1.3)
    for _ in range(60):
        z -= 0.9 * _head_sdf((x, y, z))["skin"]
    return np.stack([x, y, z], axis=1)


def _on_body(local_xy: Array) -> Array:
    """Body-frame points (N, 3) on the torso, found by marching along the body's z axis."""
    x, y = local_xy[:, 0], local_xy[:, 1]
    z = np.full(x.shape, 1.2)
    for _ in range(60):
        z -= 0.9 * _body_sdf((x, y, z))["body"]
    return np.stack([x, y, z], axis=1)


_FOLDS = (  # drapery folds of the garment, body frame: Bezier control points
    ((-0.95, 2.02), (-0.6, 2.45), (-0.5, 2.8), (-0.55, 3.3)),
    ((-0.4, 2.3), (-0.22, 2.6), (-0.12, 2.9), (-0.22, 3.3)),
    ((0.48, 2.28), (0.36, 2.6), (0.4, 2.9), (0.52, 3.3)),
    ((1.02, 2.1), (0.9, 2.45), (0.86, 2.75), (0.98, 3.1)),
    ((-1.35, 2.45), (-1.22, 2.75), (-1.2, 3.0), (-1.28, 3.3)),
    ((1.4, 2.5), (1.3, 2.8), (1.3, 3.0), (1.36, 3.3)),
)


def _bezier(ctrl: tuple[tuple[float, float], ...], n: int = 30) -> Array:
    """Points (n, 2) on the Bezier curve with the given control points."""
    p = np.asarray(ctrl, dtype=np.float64)[:, None, :]
    t = np.linspace(0, 1, n)[:, None]
    while len(p) > 1:
        p = p[:-1] * (1 - t) + p[1:] * t
    return p[0]


def _fold_curves(frames: dict[str, Frame], surf: Surface) -> list[Array]:
    """The visible parts of the garment's folds, as screen polylines."""
    out = []
    for ctrl in _FOLDS:
        local = _on_body(_bezier(ctrl))
        keep = _neckline((local[:, 0], local[:, 1], local[:, 2]))
        out += _visible_runs(frames["body"], surf, local[keep], 4)
    return out


def _visible_runs(frame: Frame, surf: Surface, local: Array, tol: float = 3.0) -> list[Array]:
    """Project head-frame points to the screen; split them into the runs that the model doesn't hide."""
    view = frame.to_view(local)
    z_here = _at(surf.z, view[:, :2])
    seen = np.abs(view[:, 2] - z_here) < tol
    runs, start = [], None
    for i, ok in enumerate(np.append(seen, False)):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            if i - start >= 3:
                runs.append(view[start:i, :2])
            start = None
    return runs


def _eye_curve(e: tuple[float, float, float], radius: float, across: Array, updown: Array) -> Array:
    """Points (N, 3) on a sphere around eye ``e`` at the given angles (as :func:`_eye_angles` measures)."""
    a = across + (-0.08 if e[0] < 0 else 0.08)
    q = np.stack([np.sin(a) * np.cos(updown), np.sin(updown), np.cos(a) * np.cos(updown)], axis=1)
    return np.asarray(e) + radius * q


def _feature_curves(frames: dict[str, Frame], surf: Surface) -> list[tuple[Array, str]]:
    """The drawn features, as visible screen polylines with their kind."""
    head = frames["head"]
    out: list[tuple[Array, str]] = []
    a = np.linspace(-EYE_SPAN, EYE_SPAN, 40)
    top, bottom = _lid(np.clip(1 - (a / EYE_SPAN) ** 2, 0, 1))
    for e in EYES:
        upper = _eye_curve(e, 1.1 * EYE_R, a, top)
        lower = _eye_curve(e, 1.1 * EYE_R, a[4:-2], bottom[4:-2])
        crease = _eye_curve(e, 1.2 * EYE_R, a[6:-3] * 1.05, top[6:-3] - 0.25)
        out += [(r, "lid") for r in _visible_runs(head, surf, upper)]
        out += [(r, "lower_lid") for r in _visible_runs(head, surf, lower)]
        out += [(r, "crease") for r in _visible_runs(head, surf, crease, 6)]
        # the iris: a circle on the eyeball around the gaze, where the lids don't cover it
        ang = np.linspace(0, 2 * np.pi, 48)
        ortho1 = np.cross(GAZE, [0.0, 1.0, 0.0])
        ortho1 /= np.linalg.norm(ortho1)
        ortho2 = np.cross(GAZE, ortho1)
        circle = np.asarray(e) + EYE_R * (
            np.cos(0.5) * GAZE + np.sin(0.5) * (np.outer(np.cos(ang), ortho1) + np.outer(np.sin(ang), ortho2))
        )
        inside = _eye_opening((circle[:, 0], circle[:, 1], circle[:, 2])) < -0.02
        circle = circle[inside]
        if len(circle) > 3:
            out += [(r, "iris") for r in _visible_runs(head, surf, circle, 2)]
    x = np.linspace(-0.205, 0.205, 34)
    mouth = np.stack([x, 0.6 + 0.016 * (x / 0.205) ** 2 - 0.008 * np.exp(-((x / 0.05) ** 2))], axis=1)
    out += [(r, "mouth") for r in _visible_runs(head, surf, _on_skin(mouth), 9)]
    for s in (-1, 1):
        t = np.linspace(0.3, np.pi - 0.3, 10)
        nostril = np.stack([s * 0.05 + 0.028 * np.cos(t), 0.43 + 0.01 * np.sin(t)], axis=1)
        out += [(r, "nostril") for r in _visible_runs(head, surf, _on_skin(nostril), 6)]
    t = np.linspace(-0.5, 1.5, 12)
    wing = np.stack([0.1 + 0.08 * np.cos(t), 0.39 - 0.065 * np.sin(t)], axis=1)
    out += [(r, "nostril") for r in _visible_runs(head, surf, _on_skin(wing), 6)]
    return out


def _materials(surf: Surface) -> dict[str, Array]:
    """Soft masks of the sitter's materials, from the part map and head-frame positions."""
    p = (surf.head[..., 0], surf.head[..., 1], surf.head[..., 2])
    part = surf.part
    skin, eye = part == PARTS.index("skin"), part == PARTS.index("eye")
    _, _, gaze, _ = _eye_angles(p)
    iris, pupil = eye & (gaze < 0.5), eye & (gaze < 0.2)
    ax = np.abs(p[0])
    brow_y = -0.21 - 0.05 * np.sin(np.pi * np.clip((ax - 0.07) / 0.42, 0, 1)) + 0.05 * np.clip((ax - 0.32) / 0.16, 0, 1)
    brow_w = 0.028 * np.clip(1.25 - (ax - 0.07) / 0.42, 0.35, 1)
    brows = skin & (ax > 0.07) & (ax < 0.48) & (np.abs(p[1] - brow_y) < brow_w) & (p[2] > 0.2)
    lip_d = np.minimum(_ell(p, *_UPPER_LIP), _ell(p, *_LOWER_LIP))
    lips = skin & (lip_d < 0.012) & (p[2] > 0.5)
    return {
        "figure": (part >= 0).astype(np.float64),
        "skin": skin.astype(np.float64),
        "hair": (part == PARTS.index("hair")).astype(np.float64),
        "cloth": (part == PARTS.index("cloth")).astype(np.float64),
        "eye": eye.astype(np.float64),
        "iris": iris.astype(np.float64),
        "pupil": pupil.astype(np.float64),
        "brows": brows.astype(np.float64),
        "lips": lips.astype(np.float64),
    }


def _edge_lines(surf: Surface, value: Array) -> list[Line]:
    """Contours where the surface folds away or overlaps itself, and where materials meet."""
    z = surf.z.astype(np.float32)
    jump = surf.z - cv2.erode(z, np.ones((3, 3), np.uint8)).astype(np.float64)
    occl = (jump > 4.0) & (surf.part >= 0)
    part = surf.part
    hair, cloth = part == PARTS.index("hair"), part == PARTS.index("cloth")
    skin = part == PARTS.index("skin")
    grow = np.ones((3, 3), np.uint8)
    meet = (hair & cv2.dilate(skin.astype(np.uint8), grow).astype(bool)) | (
        skin & cv2.dilate(cloth.astype(np.uint8), grow).astype(bool)
    )
    dark = 1 - _blur(value, 3)
    lines = []
    for path in _paths(_thin(occl | meet), 8):
        pts = _smooth_line(path, 1.5)
        pts = _resample(pts, 2.0)
        if len(pts) < 4:
            continue
        occluding = _at(jump, pts) > 4.0
        kind = "contour" if occluding.mean() > 0.5 else "boundary"
        weight = 0.6 + 1.0 * _at(dark, pts)
        lines.append(Line(pts, weight, kind))
    return lines


def _value_study(surf: Surface, masks: dict[str, Array], lam: Array, light: Array, occ: Array) -> Array:
    """Values 0 (black) .. 1 (white) of the lit sitter with its local colours; the background is 1."""
    bounce = np.clip(surf.normal @ BOUNCE, 0, 1) * (1 - light)
    albedo = (
        0.86 * masks["skin"]
        + 0.4 * masks["hair"]
        + 0.7 * masks["cloth"]
        + 0.9 * masks["eye"]
        - 0.5 * masks["iris"]
        - 0.3 * masks["pupil"]
        - 0.45 * masks["brows"]
        - 0.3 * masks["lips"]
    )
    shade = 0.4 * occ + 0.6 * light * (0.3 + 0.7 * np.clip(lam, 0, 1) ** 0.8) + 0.15 * bounce
    return np.where(masks["figure"] > 0, np.clip(albedo, 0.03, 1) * np.clip(shade, 0, 1), 1.0)


def _fold_shadow(folds: list[Array], size: int) -> Array:
    """A soft shadow (0..1) along one side of each fold of the garment."""
    shadow = np.zeros((size, size))
    for pts in folds:
        pts = _resample(pts[:, :2], 3.0)
        m = path_mark(pts, np.linspace(3, 10, len(pts)), size)
        if m is not None:
            y0, y1, x0, x1 = m.box
            shadow[y0:y1, x0:x1] = np.maximum(shadow[y0:y1, x0:x1], m.cov * np.clip(0.3 + m.s, 0, 1))
    return _blur(shadow, 3.0 * size / 512)


_SCENES: dict[int, Scene] = {}


def build_scene(size: int = 512) -> Scene:
    """The lit, analysed sitter for a ``size`` x ``size`` sheet (computed once per size)."""
    if size in _SCENES:
        return _SCENES[size]
    frames = _frames(size)
    surf = _march(frames, size)
    masks = _materials(surf)
    fig = masks["figure"]
    lam = surf.normal @ LIGHT
    cast = _blur(_cast_shadow(surf.z, LIGHT), 1.0) * fig
    light = _smoothstep(-0.08, 0.22, lam) * (1 - cast)
    occ = _occlusion(surf.z, fig, frames["head"].scale)
    folds = _fold_curves(frames, surf)
    value = _value_study(surf, masks, lam, light, occ)
    value *= 1 - 0.3 * _fold_shadow(folds, size) * masks["cloth"]
    head_rot, body_rot = frames["head"].rot, frames["body"].rot
    on_head = (surf.body[..., 1] < 1.2)[..., None] | (masks["hair"] > 0)[..., None]

    def section(axis: Array) -> Array:
        """Screen directions of the sections of the forms by planes normal to ``axis`` (local)."""
        d = np.where(on_head, _tangent_dir(surf.normal, head_rot @ axis), _tangent_dir(surf.normal, body_rot @ axis))
        d = _blur(d, 3.0 * size / 512)
        return d / (np.linalg.norm(d, axis=-1, keepdims=True) + 1e-9)

    across, down = section(np.array([1.0, 0, 0])), section(np.array([0, 1.0, 0]))
    rising, falling = section(np.array([0.8, -0.6, 0])), section(np.array([0.6, 0.8, 0]))
    flow = _hair_flow(surf.head, surf.normal, head_rot)
    lines = _edge_lines(surf, value)
    dark = 1 - _blur(value, 3)
    for pts in folds:
        pts = _resample(_smooth_line(pts[:, :2], 1.0), 2.0)
        if len(pts) >= 4:
            lines.append(Line(pts, 0.4 + 0.8 * _at(dark, pts), "fold"))
    for pts, kind in _feature_curves(frames, surf):
        pts = _resample(_smooth_line(pts[:, :2], 1.0), 1.5)
        if len(pts) >= 3:
            lines.append(Line(pts, 0.6 + 1.0 * _at(dark, pts), kind))
    scene = Scene(size, surf, masks, lam, cast, light, occ, value, across, down, rising, falling, flow, lines)
    _SCENES[size] = scene
    return scene


# ----------------------------------------------------------------------------- shared media


def _bend(direction: Array) -> Array:
    """Signed curvature (1/px) of the streamlines of a unit direction field (H, W, 2)."""
    dx, dy = direction[..., 0], direction[..., 1]
    dxy, dxx = np.gradient(dx)
    dyy, dyx = np.gradient(dy)
    turn_x = dx * dxx + dy * dxy  # (d . grad) d
    turn_y = dx * dyx + dy * dyy
    return np.clip(_blur(dx * turn_y - dy * turn_x, 6.0), -0.03, 0.03)


def _paper(rng: np.random.Generator, size: int, grain: float) -> tuple[Array, Array]:
    """Paper tooth (0..1, high = raised fibre) and a brightness map with that grain and a faint mottle."""
    tooth = 0.6 * _noise(rng, (size, size), 0.6) + 0.35 * _noise(rng, (size, size), 1.1)
    tooth = np.clip(0.5 + 0.2 * tooth, 0, 1)
    shade = 1 + grain * (tooth - 0.5) + 0.008 * _noise(rng, (size, size), 50 * size / 512)
    return tooth, shade


def _field_angle(direction: Array, p: Array) -> float:
    """Angle (radians) of a direction field at the pixel position ``p``."""
    d = _at(direction, p)
    return float(np.arctan2(d[1], d[0]))


def _hatch(
    rng: np.random.Generator,
    mark: Callable[[Mark, float], None],
    strength: Array,
    direction: Array | float,
    *,
    spacing: float,
    length: Array | float,
    width: float,
    pressure: float,
    region: Array,
    bend: Array | None = None,
    group: tuple[int, int] = (5, 10),
    wobble: float = 0.04,
    cover: float = 1.0,
) -> None:
    """Patches of evenly spaced, near-parallel strokes, like a hand hatching a tone where ``strength`` > 0.

    Each patch is a group of strokes stacked across ``direction`` (a field of unit vectors, or one
    angle) with their ends roughly in line; every stroke takes the field's direction and curvature
    (``bend``) where it sits, so the hatching wraps around the forms. Strokes fade out with
    ``strength`` (and stop at ``region``), so a patch ends along the edge of its tone shape.
    """
    size = strength.shape[0]
    fixed = not isinstance(direction, np.ndarray)
    mean_len = float(np.mean(length)) if isinstance(length, np.ndarray) else float(length)
    cell = max(4.0, 0.8 * np.sqrt(mean_len * spacing * np.mean(group)) / np.sqrt(cover))
    for c in _poisson(rng, np.clip(strength * 3.0, 0, 1), cell):
        ln0 = float(_at(length, c)) if isinstance(length, np.ndarray) else float(length)
        ln0 *= rng.uniform(0.85, 1.15)
        theta0 = float(direction) if fixed else _field_angle(direction, c)  # type: ignore[arg-type]
        theta0 += rng.normal(0, wobble)
        n, sp = int(rng.integers(*group)), spacing * rng.uniform(0.9, 1.12)
        perp, along = np.array([-np.sin(theta0), np.cos(theta0)]), np.array([np.cos(theta0), np.sin(theta0)])
        press0, slant = pressure * rng.uniform(0.85, 1.1), rng.normal(0, 0.25) * sp
        for i in range(n):
            k = i - (n - 1) / 2
            p = c + perp * k * sp + along * (slant * k + rng.normal(0, 0.05 * ln0))
            theta = theta0 if fixed else _field_angle(direction, p) + rng.normal(0, 0.02)  # type: ignore[arg-type]
            b = float(_at(bend, p)) if bend is not None else 0.0
            m = arc_mark(p, theta, ln0 * rng.uniform(0.9, 1.08), width * rng.uniform(0.85, 1.2), b, size, 0.12, 0.45)
            if m is None:
                continue
            y0, y1, x0, x1 = m.box
            m.cov *= region[y0:y1, x0:x1] * np.clip(strength[y0:y1, x0:x1] * 1.3, 0, 1)
            mark(m, press0 * rng.uniform(0.9, 1.05))


def _chunks(line: Array, rng: np.random.Generator, lo: float, hi: float, gap: float) -> list[tuple[int, int]]:
    """Index ranges splitting a polyline (points ~2 px apart) into overlapping (gap < 0) or broken pieces."""
    n, pieces, start = len(line), [], 0
    while start < n - 2:
        end = min(n, start + int(rng.uniform(lo, hi) / 2))
        pieces.append((start, end))
        if end >= n:
            break
        start = max(start + 2, end + int(gap / 2 * rng.uniform(0.3, 1.5)))
    return pieces


# ----------------------------------------------------------------------------- pencil

_TONED = np.array([212, 201, 180]) / 255  # warm grey-cream drawing paper
_GRAPHITE = np.array([50, 50, 55]) / 255
_CHALK = np.array([248, 245, 236]) / 255


def _graphite_mark(acc: Array, tooth: Array, m: Mark, pressure: float) -> None:
    """Graphite from one stroke: heavier at the start, lifting off at the end, catching on the tooth."""
    y0, y1, x0, x1 = m.box
    t = np.clip(m.t, 0, 1)
    p = pressure * (0.8 + 0.2 * np.sin(np.pi * t)) * (1 - 0.5 * _smoothstep(0.55, 1.0, t))
    grain = np.clip((tooth[y0:y1, x0:x1] - 0.78 + 0.6 * p) / 0.25, 0, 1)  # light strokes mark only the peaks
    alpha = m.cov * np.clip(p, 0, 1) * (0.15 + 0.85 * grain) * (1 - 0.3 * m.s**2)
    _deposit(acc, m.box, np.clip(alpha, 0, 0.85))


def _pencil_line(
    rng: np.random.Generator, mark: Callable[[Mark, float], None], line: Line, width: float, pressure: float, size: int
) -> None:
    """A contour drawn in overlapping pieces, pressing harder where the line weight is heavy."""
    for a, b in _chunks(line.pts, rng, 25, 70, -6):
        pts = line.pts[a:b] + rng.normal(0, 0.4, 2)
        if len(pts) < 2:
            continue
        w = line.weight[a:b]
        t = np.linspace(0, 1, len(pts))
        widths = width * (0.55 + 0.45 * w) * np.minimum(1, np.minimum(t / 0.15 + 0.3, (1 - t) / 0.3 + 0.2))
        for k in range(0, len(pts) - 1, 24):  # long paths are rasterised in short runs
            seg = slice(k, min(len(pts), k + 25))
            m = path_mark(pts[seg], np.maximum(widths[seg], 0.4), size)
            if m is not None:
                mark(m, pressure * float(np.mean(w[seg])) * rng.uniform(0.8, 1.1))


def _angle_field(angle: Array) -> Array:
    """Unit vectors (H, W, 2) for an angle map."""
    return np.stack([np.cos(angle), np.sin(angle)], axis=-1)


def draw_pencil(size: int, rng: np.random.Generator) -> Array:
    """Graphite study on toned paper: form-following hatching, cross-hatching, contours, white chalk."""
    sc, u = build_scene(size), size / 512
    tooth, shade = _paper(rng, size, 0.14)
    graphite, chalk = np.zeros((size, size)), np.zeros((size, size))

    def pencil(m: Mark, pressure: float) -> None:
        _graphite_mark(graphite, tooth, m, pressure)

    def white(m: Mark, pressure: float) -> None:
        _graphite_mark(chalk, tooth, m, pressure)

    mk = sc.masks
    fig = mk["figure"]
    dist = cv2.distanceTransform((fig == 0).astype(np.uint8), cv2.DIST_L2, 5)
    ys, xs = np.mgrid[0:size, 0:size] / size
    # --- background: loose hatching over the whole sheet, built up darkest behind the lit side of the head
    halo = np.exp(-dist / (55 * u)) * _smoothstep(0.7, 0.3, xs) * _smoothstep(0.85, 0.45, ys)
    bg = 0.08 + 0.3 * _smoothstep(0.8, 0.0, xs) * _smoothstep(1.1, 0.1, ys) + 0.55 * halo
    bg += 0.12 * _noise(rng, (size, size), 35 * u) - 0.1 * _smoothstep(0.65, 1.0, ys) * _smoothstep(0.5, 0.95, xs)
    bg_region = _smoothstep(1.5 * u, 6 * u, dist)
    bg_dir = _angle_field(-0.95 + 0.2 * _noise(rng, (size, size), 80 * u))
    for thr, direction, spacing, stroke_len, press in (
        (0.02, bg_dir, 5.5, 60, 0.45),
        (0.3, bg_dir, 3.6, 50, 0.55),
        (0.45, _angle_field(np.full((size, size), -0.2)), 3.8, 44, 0.6),
        (0.62, bg_dir, 3.0, 38, 0.75),
    ):
        _hatch(
            rng,
            pencil,
            _smoothstep(thr, thr + 0.15, bg),
            direction,
            spacing=spacing * u,
            length=stroke_len * u,
            width=1.5 * u,
            pressure=press,
            region=bg_region,
            group=(4, 10),
            wobble=0.12,
        )
    # --- the figure: tone by layered hatching that wraps around the forms
    dark = np.clip((0.86 - _blur(sc.value, 1.0 * u)) / 0.66, 0, 1) * fig
    graphite += 0.38 * _blur(dark, 2 * u) ** 1.2 * (0.3 + 1.1 * tooth) * (1 - 0.5 * mk["hair"])  # stumped tone
    on_head = (sc.surf.body[..., 1] < 1.2) | (mk["hair"] > 0)
    length = np.where(on_head, 30 * u, 50 * u)
    region = np.clip(_blur(fig, 0.7 * u) * 1.4, 0, 1)
    not_hair = region * (1 - _blur(mk["hair"], 1.0 * u))
    for thr, sections, spacing, press, width in (
        (0.08, sc.rising, 3.2, 0.6, 1.5),
        (0.4, sc.falling, 3.2, 0.7, 1.6),
        (0.68, sc.across, 2.6, 0.9, 1.8),
    ):
        _hatch(
            rng,
            pencil,
            _smoothstep(thr, thr + 0.08, dark) * (1 - mk["hair"]),
            sections,
            bend=2.0 * _bend(sections),
            spacing=spacing * u,
            length=length,
            width=width * u,
            pressure=press,
            region=not_hair,
        )
    hair_dark = mk["hair"] * (0.3 + 0.7 * _smoothstep(0.2, 0.9, dark))
    hair_region = np.clip(_blur(mk["hair"], 1.5 * u) * 1.6, 0, 1)
    flow_bend = _bend(sc.flow)
    for thr, spacing, press in ((0.0, 2.8, 0.6), (0.4, 2.5, 0.75), (0.6, 2.3, 0.9), (0.8, 2.3, 1.0)):
        _hatch(
            rng,
            pencil,
            _smoothstep(thr, thr + 0.2, hair_dark),
            sc.flow,
            bend=flow_bend,
            spacing=spacing * u,
            length=50 * u,
            width=1.7 * u,
            pressure=press,
            region=hair_region,
            group=(3, 7),
            wobble=0.1,
        )
    for m_name, press in (("brows", 0.75), ("iris", 0.9), ("pupil", 1.0)):
        spot = _blur(mk[m_name], 0.6 * u)
        _hatch(
            rng,
            pencil,
            spot,
            -0.3 if m_name == "brows" else 0.7,
            spacing=1.6 * u,
            length=7 * u,
            width=1.4 * u,
            pressure=press,
            region=np.clip(spot * 1.5, 0, 1),
            group=(3, 6),
            cover=3,
        )
    # --- contours: heavier in shadow, lost in the light; the lids and the mouth darkest
    line_style = {
        "contour": (2.4, 0.85),
        "boundary": (2.0, 0.65),
        "lid": (2.6, 1.0),
        "lower_lid": (1.6, 0.6),
        "crease": (1.6, 0.6),
        "iris": (1.8, 0.85),
        "mouth": (2.4, 0.95),
        "nostril": (2.0, 0.85),
        "fold": (1.8, 0.5),
    }
    for line in sc.lines:
        width, press = line_style[line.kind]
        _pencil_line(rng, pencil, line, width * u, press, size)
        if line.kind in ("contour", "boundary"):  # a lighter searching line beside the firm one
            ghost = Line(line.pts + rng.normal(0, 1.2 * u, 2), line.weight, line.kind)
            _pencil_line(rng, pencil, ghost, 0.7 * width * u, 0.5 * press, size)
    # --- white chalk on the lights of the face, neck and shoulders
    lights = fig * _smoothstep(0.68, 0.82, sc.value) * _smoothstep(0.55, 0.8, sc.lambert) * (1 - mk["hair"])
    _hatch(
        rng,
        white,
        lights,
        sc.rising,
        bend=_bend(sc.rising),
        spacing=3.0 * u,
        length=0.7 * length,
        width=1.8 * u,
        pressure=0.85,
        region=region,
        group=(3, 7),
        cover=0.8,
    )
    paper = _TONED * shade[..., None]
    g = np.clip(graphite, 0, 0.95)[..., None]
    out = paper * (1 - g) + _GRAPHITE * g
    w = np.clip(chalk, 0, 0.9)[..., None]
    return out * (1 - w) + _CHALK * w


# ----------------------------------------------------------------------------- ink and wash

_WHITE = np.array([248, 244, 234]) / 255  # warm white hot-pressed paper
_SEPIA = np.array([0.62, 0.5, 0.38])  # transmittance of a sepia wash
_GREY = np.array([0.55, 0.55, 0.56])  # of a diluted grey ink wash
_INK = np.array([30, 24, 20]) / 255


def _warp(mask: Array, rng: np.random.Generator, amount: float, sigma: float) -> Array:
    """``mask`` pushed around by a smooth random displacement field (``amount`` px)."""
    size = mask.shape[0]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    dx = (amount * _noise(rng, mask.shape, sigma)).astype(np.float32)
    dy = (amount * _noise(rng, mask.shape, sigma)).astype(np.float32)
    return cv2.remap(mask.astype(np.float32), xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _wash_shape(rng: np.random.Generator, mask: Array, u: float, rough: float = 3.0, simplify: float = 2.0) -> Array:
    """A simplified, loosely brushed version of ``mask``: soft-edged at 1 px, with wandering edges."""
    m = _warp(_blur(mask, simplify * u), rng, rough * u, 9 * u)
    return _smoothstep(0.4, 0.6, _blur(m.astype(np.float64), 0.7 * u))


def _wash(
    rng: np.random.Generator,
    canvas: Array,
    tooth: Array,
    shape: Array,
    pigment: Array,
    density: float,
    u: float,
    blooms: int = 0,
) -> None:
    """Glaze a flat transparent wash over ``canvas`` in place: pooled dark rim, granulation, blooms."""
    size = shape.shape[0]
    inside = (shape > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    rim = np.exp(-dist / (1.6 * u)) * shape  # pigment carried to the edge as the wash dries
    uneven = 1 + 0.1 * _noise(rng, (size, size), 22 * u) + 0.05 * _noise(rng, (size, size), 3 * u)
    granulation = 1 + 0.5 * (0.5 - tooth)
    flower = np.zeros((size, size))
    for c in _sample(rng, _blur(shape, 6 * u) ** 4, blooms):  # back-runs: a paler patch with a dark frilly edge
        r = rng.uniform(10, 22) * u
        ys, xs = np.mgrid[0:size, 0:size]
        disc = (np.hypot(xs - c[0], ys - c[1]) < r).astype(np.float64)
        flower = np.maximum(flower, _smoothstep(0.3, 0.6, _warp(disc, rng, 3 * u, 2 * u)))
    flower *= shape
    flower_edge = np.clip(flower - _blur(flower, 1.2 * u), 0, 1)
    a = density * (shape * uneven * granulation * (1 - 0.25 * flower) + 0.9 * rim + 1.2 * flower_edge)
    canvas *= 1 - np.clip(a, 0, 1)[..., None] * (1 - pigment)


def _ink_mark(acc: Array, tooth: Array, m: Mark, pressure: float) -> None:
    """Ink from one pen or brush stroke: solid, running dry over the paper's tooth near its end."""
    y0, y1, x0, x1 = m.box
    dry = _smoothstep(0.8, 1.0, np.clip(m.t, 0, 1)) * np.clip(1.4 - 2 * tooth[y0:y1, x0:x1], 0, 1)
    _deposit(acc, m.box, np.clip(m.cov * pressure * (1 - 0.8 * dry), 0, 0.97))


def _ink_line(
    rng: np.random.Generator, mark: Callable[[Mark, float], None], line: Line, width: float, size: int, lost: float
) -> None:
    """A contour in a few confident tapered strokes, swelling where the weight is heavy, lost in the light."""
    for a, b in _chunks(line.pts, rng, 40, 130, 5):
        pts = line.pts[a:b]
        w = line.weight[a:b]
        if len(pts) < 3 or float(np.mean(w)) < lost * rng.uniform(0.8, 1.3):
            continue
        t = np.linspace(0, 1, len(pts))
        swell = np.sin(np.pi * np.clip(t, 0.04, 0.96)) ** 0.6
        widths = width * (0.25 + 0.75 * w**1.5) * swell
        for k in range(0, len(pts) - 1, 24):
            seg = slice(k, min(len(pts), k + 25))
            m = path_mark(pts[seg], np.maximum(widths[seg], 0.35), size)
            if m is not None:
                mark(m, 1.0)


def draw_ink_wash(size: int, rng: np.random.Generator) -> Array:
    """Pen and wash: tapered ink contours and hair over flat, pooled sepia and grey washes."""
    sc, u = build_scene(size), size / 512
    tooth, shade = _paper(rng, size, 0.06)
    canvas = _WHITE * shade[..., None]
    mk = sc.masks
    fig = mk["figure"]
    value = _blur(sc.value, 1.5 * u)

    # --- background: broad brushed washes behind the lit side of the head, a pale one at the lower right
    def band(points: list[tuple[float, float]], width: float) -> Array:
        pts = _resample(np.asarray(points, dtype=np.float64) * size, 6 * u)
        m = path_mark(pts, np.full(len(pts), width * u), size)
        out = np.zeros((size, size))
        if m is not None:
            y0, y1, x0, x1 = m.box
            dry = _smoothstep(0.75, 1.0, m.t) * (tooth[y0:y1, x0:x1] < 0.35 + 0.5 * (1 - m.t) / 0.25)
            out[y0:y1, x0:x1] = m.cov * (1 - dry)
        return out

    back = np.maximum.reduce(
        [
            band([(-0.02, 0.1), (0.2, 0.05), (0.46, 0.0)], 130),
            band([(-0.02, 0.3), (0.2, 0.26), (0.46, 0.22)], 130),
            band([(-0.02, 0.5), (0.2, 0.44), (0.34, 0.4), (0.46, 0.42)], 120),
            band([(0.0, 0.68), (0.16, 0.64), (0.3, 0.6)], 90),
        ]
    ) * (1 - fig)
    _wash(rng, canvas, tooth, _wash_shape(rng, back, u, 4, 1.5), _SEPIA, 0.4, u, blooms=2)
    pale = np.maximum(
        band([(0.56, 0.72), (0.72, 0.52), (0.86, 0.36), (1.04, 0.26)], 110),
        band([(0.8, 0.02), (0.92, 0.06), (1.04, 0.04)], 60),
    )
    _wash(rng, canvas, tooth, _wash_shape(rng, pale * (1 - fig), u, 4, 1.5), _GREY, 0.25, u, blooms=1)
    # --- the figure: three flat values, each a simplified shape, slightly off the drawing
    half = fig * (value < 0.74)
    _wash(rng, canvas, tooth, _wash_shape(rng, half, u, 3, 1.5), _SEPIA, 0.32, u, blooms=1)
    shadow = fig * ((sc.light < 0.5) | (value < 0.42)) * (value < 0.62)
    _wash(rng, canvas, tooth, _wash_shape(rng, shadow, u, 3, 1.5), _SEPIA, 0.45, u)
    hair = mk["hair"] * (value < 0.3) + mk["cloth"] * (value < 0.36)
    _wash(rng, canvas, tooth, _wash_shape(rng, hair, u, 2.5, 1.5), _GREY, 0.45, u)
    accents = fig * (value < 0.22) + mk["iris"] + mk["brows"] * 0.8 + mk["lips"] * (value < 0.5) * 0.7
    _wash(rng, canvas, tooth, _wash_shape(rng, np.clip(accents, 0, 1), u, 1.5, 1.0), _GREY, 0.5, u)
    # --- pen work
    ink = np.zeros((size, size))

    def pen(m: Mark, pressure: float) -> None:
        _ink_mark(ink, tooth, m, pressure)

    style = {
        "contour": (3.0, 0.75),
        "boundary": (2.2, 0.9),
        "lid": (2.8, 0.0),
        "lower_lid": (1.4, 0.7),
        "crease": (1.5, 0.7),
        "iris": (1.8, 0.0),
        "mouth": (2.0, 0.0),
        "nostril": (2.0, 0.0),
        "fold": (2.2, 0.5),
    }
    for line in sc.lines:
        width, lost = style[line.kind]
        _ink_line(rng, pen, line, width * u, size, lost)
    hair_region = np.clip(_blur(mk["hair"], 2 * u) * 1.5, 0, 1)
    flow_bend = _bend(sc.flow)
    for c in _poisson(rng, mk["hair"] * (0.35 + 0.65 * _smoothstep(0.45, 0.1, value)), 9 * u):
        ang, ln = _field_angle(sc.flow, c), rng.uniform(30, 75) * u
        m = arc_mark(c, ang, ln, rng.uniform(0.8, 2.2) * u, float(_at(flow_bend, c)) * 1.5, size, 0.3, 0.6)
        if m is not None:
            y0, y1, x0, x1 = m.box
            m.cov *= hair_region[y0:y1, x0:x1]
            pen(m, 1.0)
    dark = fig * _smoothstep(0.32, 0.2, value) * (1 - mk["hair"]) * (1 - mk["cloth"])
    _hatch(
        rng,
        pen,
        dark,
        sc.rising,
        bend=_bend(sc.rising),
        spacing=4.0 * u,
        length=18 * u,
        width=0.9 * u,
        pressure=0.9,
        region=fig,
        group=(3, 7),
        cover=0.7,
    )
    drape = mk["cloth"] * _smoothstep(0.5, 0.36, value)
    _hatch(
        rng,
        pen,
        drape,
        sc.down,
        bend=_bend(sc.down),
        spacing=4.5 * u,
        length=30 * u,
        width=1.0 * u,
        pressure=0.9,
        region=mk["cloth"],
        group=(3, 8),
        cover=0.8,
    )
    spots = _sample(rng, np.ones((size, size)), 14)
    for c in spots:  # a few spatters from the loaded pen
        r = rng.uniform(1.2, 3.0) * u
        m = arc_mark(c, 0.0, r, 2 * r, 0.0, size, 0.5, 0.5)
        if m is not None:
            pen(m, 0.9)
    return canvas * (1 - ink[..., None]) + _INK * ink[..., None]


# ----------------------------------------------------------------------------- paint

# The palette: every colour on the canvas is a mixture of these six.
_PALETTE = {
    "light": np.array([242, 224, 190]) / 255,  # warm light: flake white with Naples yellow
    "earth": np.array([182, 118, 66]) / 255,  # yellow ochre and raw sienna
    "cool": np.array([88, 96, 132]) / 255,  # the shadow colour: ultramarine greyed with umber
    "dark": np.array([48, 34, 32]) / 255,  # burnt umber and ultramarine
    "accent": np.array([192, 66, 46]) / 255,  # cadmium red light
    "green": np.array([112, 126, 104]) / 255,  # terre verte, for the background
}


def _mix(*parts: tuple[str, Array | float]) -> Array:
    """A per-pixel mixture of palette colours; weights are maps or numbers and are normalised."""
    total = sum(np.asarray(w, dtype=np.float64) for _, w in parts)
    out = sum(np.asarray(w, dtype=np.float64)[..., None] * _PALETTE[name] for name, w in parts)
    return out / np.maximum(total, 1e-6)[..., None]


def _colour_study(sc: Scene, rng: np.random.Generator, u: float) -> Array:
    """What the painter is looking at, in the palette's mixtures: warm lights, cool shadows, red zones."""
    mk, size = sc.masks, sc.size
    lit = _blur(sc.light * (0.35 + 0.65 * np.clip(sc.lambert, 0, 1)), 1.0 * u)
    occ = _blur(sc.occlusion, 1.0 * u)
    bounce = np.clip(sc.surf.normal @ BOUNCE, 0, 1) * (1 - lit)
    p = sc.surf.head
    red = np.exp(-(((np.abs(p[..., 0]) - 0.32) / 0.16) ** 2 + ((p[..., 1] - 0.3) / 0.16) ** 2))  # cheeks
    red += np.exp(-((p[..., 0] / 0.1) ** 2 + ((p[..., 1] - 0.3) / 0.14) ** 2)) + mk["lips"]  # nose, lips
    red += np.exp(-(((np.abs(p[..., 0]) - 0.7) / 0.1) ** 2 + ((p[..., 1] - 0.1) / 0.25) ** 2))  # ears
    red = np.clip(_blur(red, 3 * u), 0, 1)
    jaw = _smoothstep(0.55, 0.85, p[..., 1]) * (1 - mk["lips"])  # cooler, greener round the mouth and jaw
    skin_lit = _mix(
        ("light", 0.2 + 1.3 * lit), ("earth", 0.65 - 0.3 * lit), ("accent", 0.35 * red), ("green", 0.12 * jaw)
    )
    skin_dark = _mix(
        ("earth", 0.35 + 0.5 * bounce),
        ("cool", 0.75),
        ("dark", 0.6 * (1 - occ) + 0.12),
        ("accent", 0.2 * red + 0.15 * bounce),
    )
    skin = skin_lit * _smoothstep(0.05, 0.35, lit)[..., None] + skin_dark * _smoothstep(0.35, 0.05, lit)[..., None]
    eye = (
        _mix(("light", 0.7 * (0.3 + lit)), ("cool", 0.4)) * (1 - mk["iris"])[..., None]
        + _mix(("dark", 1.0), ("earth", 0.4)) * mk["iris"][..., None]
    )
    skin = skin * (1 - mk["eye"])[..., None] + eye * mk["eye"][..., None]
    brows = _mix(("dark", 1.0), ("earth", 0.5))
    skin = skin * (1 - 0.8 * mk["brows"])[..., None] + brows * 0.8 * mk["brows"][..., None]
    sheen = _smoothstep(0.4, 0.8, sc.lambert) * (1 - sc.cast)
    hair = _mix(("dark", 1.0), ("earth", 0.15 + 0.7 * lit), ("cool", 0.35 * sheen), ("light", 0.12 * sheen))
    cloth = _mix(
        ("accent", 1.0), ("light", 0.45 * lit), ("dark", 0.8 * (1 - lit) * (1.3 - occ)), ("cool", 0.35 * (1 - lit))
    )
    ys, xs = np.mgrid[0:size, 0:size] / size
    behind_light = _smoothstep(0.75, 0.2, xs + 0.1 * _noise(rng, (size, size), 50 * u))
    bg = _mix(
        ("green", 1.0),
        ("cool", 0.4 + 0.5 * behind_light),
        ("dark", 0.55 * behind_light),
        ("light", 0.5 * (1 - behind_light)),
        ("earth", 0.3 * _smoothstep(0.6, 1.0, ys)),
    )
    out = bg * (1 - mk["figure"])[..., None]
    for colour, m in ((skin, mk["skin"] + mk["eye"]), (hair, mk["hair"]), (cloth, mk["cloth"])):
        out += colour * m[..., None]
    return np.clip(out, 0, 1)


def _brush_mark(
    canvas: Array,
    relief: Array,
    grain: Array,
    m: Mark,
    colour: Array,
    streak: Array,
    rng: np.random.Generator,
    load: float,
) -> None:
    """One stroke of a loaded flat bristle brush, in place: streaky, carrying a second colour, running dry.

    Every bristle (a position across the stroke) holds its own amount of paint, and a few carry the
    second, unmixed ``streak`` colour; bristles run out of paint at different points along the
    stroke, so its tail breaks up into dry-brush streaks over the canvas ``grain``. The stroke also
    leaves ridged paint in ``relief``.
    """
    y0, y1, x0, x1 = m.box
    n = int(np.clip(np.abs(m.s).size and (x1 - x0 + y1 - y0) / 6, 4, 24))  # about a bristle per 1.5 px
    bristle = np.convolve(rng.standard_normal(n + 2), np.ones(3) / 3, "valid")
    bristle = (bristle - bristle.mean()) / (bristle.std() + 1e-9)
    carries = (rng.random(n) < 0.2) * rng.uniform(0.15, 0.35, n) * (rng.random() < 0.6)
    runs_out = load * rng.uniform(0.8, 1.2, n)
    j = np.clip(((m.s + 1) / 2 * (n - 1)).round().astype(int), 0, n - 1)
    t = np.clip(m.t, 0, 1)
    dry = np.clip((runs_out[j] - t) / 0.15 + (grain[y0:y1, x0:x1] - 0.5), 0, 1)
    alpha = m.cov * dry * np.clip(0.9 + 0.08 * bristle[j], 0, 1) * (1 - 0.3 * np.abs(m.s) ** 6)
    k = carries[j][..., None]
    col = (colour * (1 - k) + streak * k) * (1 + 0.035 * bristle[j])[..., None]
    under = canvas[y0:y1, x0:x1]
    col = col * (1 - 0.25 * t[..., None]) + under * 0.25 * t[..., None]  # the brush drags the wet paint under it
    under += (col - under) * alpha[..., None]
    ridge = (0.85 + 0.15 * bristle[j]) * (0.6 + 0.6 * np.abs(m.s) ** 4) * (1.1 - 0.6 * t)
    sub = relief[y0:y1, x0:x1]
    sub += (ridge - sub) * alpha


def _neighbour(rng: np.random.Generator, colour: Array) -> Array:
    """The palette colour (other than the nearest) closest to ``colour``: the streak a brush carries."""
    names = list(_PALETTE)
    dists = [float(np.linalg.norm(_PALETTE[n] - colour)) for n in names]
    order = np.argsort(dists)
    pick = order[1] if rng.random() < 0.7 else order[min(2, len(order) - 1)]
    return _PALETTE[names[int(pick)]]


def draw_paint(size: int, rng: np.random.Generator) -> Array:
    """Oil sketch from a six-colour palette: an underpainting covered by ever smaller directional strokes."""
    sc, u = build_scene(size), size / 512
    target = _colour_study(sc, rng, u)
    mk = sc.masks
    ys, xs = np.mgrid[0:size, 0:size]
    weave = 0.5 + 0.25 * np.sin(xs * 2.1) * np.sin(ys * 2.1) + 0.25 * np.sin((xs + ys) * 0.7)  # canvas grain
    grain = np.clip(0.5 * weave + 0.5 * (0.5 + 0.2 * _noise(rng, (size, size), 0.8)), 0, 1)
    ground = _mix(("earth", 1.0), ("accent", 0.25), ("dark", 0.2))  # a warm imprimatura
    canvas = np.broadcast_to(ground, (size, size, 3)) * (0.94 + 0.08 * weave)[..., None]
    canvas = 0.4 * canvas + 0.6 * _blur(target, 10 * u)  # thin, rubbed-in underpainting
    relief = np.zeros((size, size))
    fig = mk["figure"]
    # which region a stroke belongs to: background, hair, garment, and the skin's light and shadow families
    lit_side = _blur(sc.light, 1.5 * u) > 0.45
    material = (mk["skin"] + mk["eye"]) * (1 + lit_side) + 3 * mk["hair"] + 4 * mk["cloth"]
    on_head = ((sc.surf.body[..., 1] < 1.2) & (fig > 0)) | (mk["hair"] > 0)
    bg_angle = -0.7 + 0.6 * _noise(rng, (size, size), 60 * u)
    detail = np.hypot(*np.gradient(_blur(sc.value, 1.5 * u)))
    detail = np.clip(detail / np.percentile(detail[fig > 0], 90), 0, 1)
    # the brush follows the planes: across the face and the chest, down the neck, along the hair, with
    # slow drifts so neighbouring strokes agree
    neck = (sc.surf.body[..., 1] > 0.95) & (sc.surf.body[..., 1] < 1.75) & (mk["skin"] > 0)
    base = np.where(neck[..., None], sc.down, np.where((mk["hair"] > 0)[..., None], sc.flow, sc.across))
    drift = 0.45 * _noise(rng, (size, size), 14 * u)
    ca, sa = np.cos(drift), np.sin(drift)
    paint_dir = np.stack([ca * base[..., 0] - sa * base[..., 1], sa * base[..., 0] + ca * base[..., 1]], axis=-1)
    paint_bend = _bend(base)
    passes = (  # brush width, length / width, coverage, figure weight, background weight, detail focus, cut in
        (28, 3.0, 2.2, 1.0, 1.0, 0.0, 0.4),
        (17, 2.8, 1.5, 1.0, 0.6, 0.2, 0.8),
        (10, 2.6, 1.2, 1.0, 0.1, 0.4, 0.85),
        (6, 2.4, 0.9, 0.7, 0.0, 1.0, 0.9),
    )
    for width, aspect, cover, w_fig, w_bg, focus, cut in passes:
        ref = _blur(target, width * u / 4)
        head_focus = np.where(on_head, 1.0, 0.55)
        weight = (fig * w_fig * head_focus + (1 - fig) * w_bg) * ((1 - focus) + focus * _blur(detail, 2 * u) ** 1.5)
        area = width * width * aspect * u * u * 0.7
        for c in _sample(rng, weight, int(cover * weight.sum() / area)):
            here = float(_at(material, c))
            if float(_at(fig, c)) > 0.5:
                ang = _field_angle(paint_dir, c) + rng.normal(0, 0.12)
                b = float(_at(paint_bend, c)) * 1.5
            else:
                ang = float(_at(bg_angle, c)) + (np.pi / 2 if rng.random() < 0.15 else 0.0) + rng.normal(0, 0.2)
                b = rng.normal(0, 0.01)
            w = width * u * rng.uniform(0.75, 1.2)
            m = arc_mark(c, ang, w * aspect * rng.uniform(0.7, 1.4), w, b, size, 0.03, 0.06)
            if m is None:
                continue
            if cut > 0:  # cut in: the stroke stays inside its own region, keeping the edges crisp
                y0, y1, x0, x1 = m.box
                same = (np.abs(material[y0:y1, x0:x1] - here) < 0.5).astype(np.float64)
                m.cov *= 1 - cut * (1 - same)
            jitter = 0.025 if float(_at(fig, c)) < 0.5 else 0.015
            colour = _at(ref, c) * (1 + rng.normal(0, jitter, 3)) * rng.uniform(1 - 2 * jitter, 1 + 2 * jitter)
            colour = np.clip(colour, 0, 1)
            _brush_mark(canvas, relief, grain, m, colour, _neighbour(rng, colour), rng, rng.uniform(0.85, 1.25))
    accents = np.clip(mk["iris"] + mk["brows"] + mk["lips"] * 0.6, 0, 1) * (1 - mk["hair"])
    sharp = _blur(target, 0.8 * u)
    for c in _sample(rng, _blur(accents, 1.0 * u), int(accents.sum() / (8 * u * u))):  # the darks of the features
        ang = _field_angle(sc.across, c) + rng.normal(0, 0.2)
        m = arc_mark(c, ang, rng.uniform(5, 9) * u, rng.uniform(2.5, 4.0) * u, 0.0, size, 0.1, 0.2)
        if m is not None:
            colour = np.clip(_at(sharp, c) * 0.85, 0, 1)
            _brush_mark(canvas, relief, grain, m, colour, _neighbour(rng, colour), rng, 1.2)
    highlights = mk["skin"] * _smoothstep(0.72, 0.9, sc.lambert) * (1 - sc.cast) * _smoothstep(0.6, 0.75, sc.value)
    light_paint = _mix(("light", 1.0), ("earth", 0.08))
    for c in _poisson(rng, 0.6 * highlights, 7 * u):  # thick, light strokes on the forms turned to the light
        ang = _field_angle(paint_dir, c) + rng.normal(0, 0.15)
        m = arc_mark(c, ang, rng.uniform(9, 16) * u, rng.uniform(3.5, 6) * u, 0.0, size, 0.05, 0.2)
        if m is not None:
            y0, y1, x0, x1 = m.box
            m.cov *= mk["skin"][y0:y1, x0:x1]
            colour = np.clip(light_paint * rng.uniform(0.96, 1.02) + 0.15 * (_at(target, c) - light_paint), 0, 1)
            _brush_mark(canvas, relief, grain, m, colour, _PALETTE["light"], rng, rng.uniform(0.7, 1.0))
    for line in sc.lines:  # drawing into the wet paint with a rigger: eyes, nose, mouth
        if line.kind in ("contour", "boundary", "lower_lid", "crease", "fold"):
            continue
        for a, b in _chunks(line.pts, rng, 10, 24, 2):
            pts = line.pts[a:b]
            if len(pts) < 3:
                continue
            col = np.clip(_at(target, pts[len(pts) // 2]) * 0.45 + 0.55 * _PALETTE["dark"], 0, 1)
            m = path_mark(pts, np.full(len(pts), rng.uniform(2.0, 3.0) * u), size)
            if m is not None:
                _brush_mark(canvas, relief, grain, m, col, _PALETTE["accent"] * 0.6, rng, 1.2)
    gy, gx = np.gradient(_blur(relief, 0.7 * u))
    light = -0.6 * gx - 0.7 * gy  # raking light from the upper left on the paint ridges
    shade = 1 + 0.13 * np.clip(light, -1.2, 1.2)
    gloss = np.clip(light - 0.5, 0, None) ** 2 * 0.08
    return np.clip(canvas * shade[..., None] + gloss[..., None], 0, 1)


# ----------------------------------------------------------------------------- public API


_DRAWERS: dict[str, Callable[[int, np.random.Generator], Array]] = {
    "pencil": draw_pencil,
    "ink_wash": draw_ink_wash,
    "paint": draw_paint,
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

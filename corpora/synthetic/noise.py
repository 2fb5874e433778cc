"""Procedural textures: hashed value noise, fractal noise with footprint filtering, soft box patterns.

All functions are vectorised over arrays of surface coordinates and deterministic in their integer seed, so a
texture sticks to the surface point that carries it (which is what makes ground-truth flow photometrically exact).
`footprint` is the world size of one pixel at that point; detail finer than about two pixels fades to its mean
(a cheap mip-map) so that distant textures do not alias.
"""

from __future__ import annotations

import numpy as np

_M1 = np.uint32(0x8DA6B343)
_M2 = np.uint32(0xD8163841)
_M3 = np.uint32(0x5BD1E995)


def hash01(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Integer lattice coordinates -> pseudo-random float32 in [0, 1), same shape."""
    h = ix.astype(np.int64).astype(np.uint32) * _M1  # wraps mod 2^32
    h ^= iy.astype(np.int64).astype(np.uint32) * _M2
    h ^= np.uint32((seed * 0x9E3779B1) & 0xFFFFFFFF)
    h ^= h >> np.uint32(13)
    h *= _M3
    h ^= h >> np.uint32(15)
    return (h & np.uint32(0xFFFFFF)).astype(np.float32) / np.float32(1 << 24)


def value_noise(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Smooth value noise in [0, 1) with unit lattice spacing."""
    fx = np.floor(x)
    fy = np.floor(y)
    tx = (x - fx).astype(np.float32)
    ty = (y - fy).astype(np.float32)
    tx = tx * tx * (3 - 2 * tx)
    ty = ty * ty * (3 - 2 * ty)
    ix = fx.astype(np.int64)
    iy = fy.astype(np.int64)
    a = hash01(ix, iy, seed)
    b = hash01(ix + 1, iy, seed)
    c = hash01(ix, iy + 1, seed)
    d = hash01(ix + 1, iy + 1, seed)
    return (a + (b - a) * tx) + ((c + (d - c) * tx) - (a + (b - a) * tx)) * ty


def fbm(
    x: np.ndarray, y: np.ndarray, seed: int, scale: float, footprint: np.ndarray | float, octaves: int = 4
) -> np.ndarray:
    """Fractal value noise in about [0, 1]; `scale` is the coarsest wavelength in world units.

    Octave k (wavelength scale / 2^k) fades to 0.5 where it is shorter than ~2 pixel footprints.
    """
    total = np.zeros(np.broadcast(x, y).shape, dtype=np.float32)
    norm = 0.0
    fp = np.asarray(footprint, dtype=np.float32)
    for k in range(octaves):
        wavelength = scale / (2**k)
        amp = 0.5**k
        keep = np.clip(wavelength / (2.0 * fp + 1e-6) - 1.0, 0.0, 1.0)  # 1 = fully resolved
        n = value_noise(x / wavelength, y / wavelength, seed + 101 * k)
        total += amp * (0.5 + (n - 0.5) * keep)
        norm += amp
    return total / np.float32(norm)


def smoothstep(edge0: np.ndarray | float, edge1: np.ndarray | float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (np.asarray(edge1) - edge0 + 1e-9), 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def soft_band(x: np.ndarray, lo: float, hi: float, footprint: np.ndarray | float) -> np.ndarray:
    """1 inside [lo, hi], 0 outside, with edges blurred over one footprint (anti-aliased box)."""
    half = 0.5 * np.asarray(footprint, dtype=np.float32)
    return smoothstep(lo - half, lo + half, x) * (1.0 - smoothstep(hi - half, hi + half, x))


def periodic_band(
    x: np.ndarray, period: float, lo: float, hi: float, footprint: np.ndarray | float
) -> np.ndarray:
    """`soft_band` repeated with `period`: 1 where (x mod period) lies in [lo, hi]; fades to its duty cycle."""
    frac = np.mod(x, period)
    band = soft_band(frac, lo, hi, footprint)
    duty = (hi - lo) / period
    fade = np.clip(period / (3.0 * np.asarray(footprint, dtype=np.float32) + 1e-6) - 1.0, 0.0, 1.0)
    return band * fade + duty * (1.0 - fade)

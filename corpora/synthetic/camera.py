"""Pinhole camera for the ray-cast street world: rays through pixel centres and analytic projection.

World axes: x right (looking down the road), y up, z along the road. Camera axes: x right, y up, z forward;
pixel (u, v) has u to the right and v downwards, pixel centres at integer coordinates (the convention of
`grid_sample(align_corners=True)`, so flow = projected position - pixel position, in pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def rotation(yaw: float, pitch: float) -> np.ndarray:
    """Camera-to-world rotation (3, 3): yaw about world y (positive turns right), then pitch (positive up)."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cp, sp], [0.0, -sp, cp]])
    return ry @ rx  # columns: right, up, forward


@dataclass(frozen=True, eq=False)
class Camera:
    """A posed pinhole camera. `rotation` maps camera to world coordinates; `position` is its centre (3,)."""

    position: np.ndarray
    rotation: np.ndarray
    focal: float
    cx: float
    cy: float
    height: int
    width: int
    _pixels: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        v, u = np.mgrid[0 : self.height, 0 : self.width]  # (H, W) each
        object.__setattr__(self, "_pixels", (u.ravel().astype(np.float64), v.ravel().astype(np.float64)))

    @property
    def pixels(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates (u, v), each (H*W,) float64, row-major."""
        return self._pixels

    def rays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World directions (dx, dy, dz) of the rays through every pixel centre, each (H*W,), unit length."""
        u, v = self._pixels
        xc = (u - self.cx) / self.focal  # (P,)
        yc = -(v - self.cy) / self.focal  # (P,)
        r = self.rotation
        dx = r[0, 0] * xc + r[0, 1] * yc + r[0, 2]
        dy = r[1, 0] * xc + r[1, 1] * yc + r[1, 2]
        dz = r[2, 0] * xc + r[2, 1] * yc + r[2, 2]
        norm = np.sqrt(dx * dx + dy * dy + dz * dz)
        return dx / norm, dy / norm, dz / norm

    def to_camera(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, ...]:
        """World points -> camera coordinates (xc, yc, zc)."""
        px, py, pz = x - self.position[0], y - self.position[1], z - self.position[2]
        r = self.rotation
        xc = r[0, 0] * px + r[1, 0] * py + r[2, 0] * pz
        yc = r[0, 1] * px + r[1, 1] * py + r[2, 1] * pz
        zc = r[0, 2] * px + r[1, 2] * py + r[2, 2] * pz
        return xc, yc, zc

    def project(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World points -> pixel coordinates (u, v) and depth along the optical axis."""
        xc, yc, zc = self.to_camera(x, y, z)
        safe = np.where(np.abs(zc) < 1e-6, 1e-6, zc)
        return self.cx + self.focal * xc / safe, self.cy - self.focal * yc / safe, zc

    def project_direction(
        self, dx: np.ndarray, dy: np.ndarray, dz: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Points at infinity (world directions) -> pixel coordinates (u, v); only rotation matters."""
        r = self.rotation
        xc = r[0, 0] * dx + r[1, 0] * dy + r[2, 0] * dz
        yc = r[0, 1] * dx + r[1, 1] * dy + r[2, 1] * dz
        zc = r[0, 2] * dx + r[1, 2] * dy + r[2, 2] * dz
        safe = np.where(np.abs(zc) < 1e-6, 1e-6, zc)
        return self.cx + self.focal * xc / safe, self.cy - self.focal * yc / safe

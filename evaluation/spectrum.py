"""Periodic-grid (checkerboard) measure: how far a video's power spectrum peaks at the frequencies a stride-s
up-sampling decoder would imprint, above the spectrum's local level there.

A transposed convolution of stride 2 whose kernel does not divide evenly by its stride paints every output pixel
with an uneven number of kernel taps, so the image carries a pattern repeating every 2 pixels of that layer; three
such layers leave periods 2, 4 and 8 in the final frame. A pattern of period p puts energy exactly on the frequency
lattice (i·H/p, j·W/p). For each period p we average, over the lattice points other than DC, the ratio of the power
at the point to the median power of the ring around it (a 5x5 window without its 3x3 centre), and report it in dB.
Natural images also have some energy there (edges aligned with the pixel grid), so a model's figure is read against
the ground truth's (`grid_excess_db`: generated minus ground truth, the eval report's column).
"""

from __future__ import annotations

import numpy as np

DECODER_PERIODS = (2, 4, 8)
"""Periods (pixels) of the small presets' three stride-2 up-sampling stages."""


def mean_power_spectrum(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 or float -> (H, W) mean power of the Hann-windowed, mean-removed grey frames' 2D FFT."""
    grey = np.asarray(frames, np.float64).mean(axis=-1)  # (T, H, W)
    grey = grey - grey.mean(axis=(1, 2), keepdims=True)
    h, w = grey.shape[1:]
    window = np.outer(np.hanning(h), np.hanning(w))  # (H, W)
    spectrum = np.fft.fft2(grey * window)  # (T, H, W) complex
    return (np.abs(spectrum) ** 2).mean(axis=0)  # (H, W)


def _lattice(h: int, w: int, period: int) -> list[tuple[int, int]]:
    """The frequency lattice points (fy, fx) of a pattern repeating every `period` pixels, DC excluded."""
    ys = sorted({round(i * h / period) % h for i in range(period)})
    xs = sorted({round(j * w / period) % w for j in range(period)})
    return [(y, x) for y in ys for x in xs if (y, x) != (0, 0)]


def grid_peak_db(power: np.ndarray, period: int) -> float:
    """Mean over the period's lattice points of 10·log10(peak / ring median); ~0 dB when nothing repeats."""
    h, w = power.shape
    ratios = []
    for y, x in _lattice(h, w, period):
        rows = [(y + dy) % h for dy in range(-2, 3)]
        cols = [(x + dx) % w for dx in range(-2, 3)]
        patch = power[np.ix_(rows, cols)]  # (5, 5), wrapping around the spectrum's edges
        centre = patch[1:4, 1:4].max()
        ring = np.concatenate([patch[0], patch[4], patch[1:4, 0], patch[1:4, 4]])  # the 16 outer values
        ratios.append(centre / max(float(np.median(ring)), 1e-12))
    return float(10.0 * np.log10(np.mean(ratios)))


def grid_scores(frames: np.ndarray, periods: tuple[int, ...] = DECODER_PERIODS) -> dict[int, float]:
    """{period: grid_peak_db} of a clip (T, H, W, 3); periods that do not fit the frame are skipped."""
    power = mean_power_spectrum(frames)
    h, w = power.shape
    return {p: grid_peak_db(power, p) for p in periods if p <= min(h, w) // 2}


def grid_excess_db(generated: np.ndarray, ground_truth: np.ndarray,
                   periods: tuple[int, ...] = DECODER_PERIODS) -> float:
    """The largest, over the periods, of generated minus ground-truth grid peak (dB); ≤ ~1 means no visible grid."""
    gen, real = grid_scores(generated, periods), grid_scores(ground_truth, periods)
    return max(gen[p] - real[p] for p in gen)

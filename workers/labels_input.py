"""Label frame -> generator input, per a served model's `LabelSpec`, at the size the job runs at.

- segmentation: colour frames decode to class ids by nearest palette colour (`models.core.labels.decode_palette`);
  single-channel frames (lossless class-id PNGs) are ids already. Frames are resized with nearest-neighbour
  *before* decoding (equivalent to resizing the ids, and cheaper), then one-hot encoded. Extra channels beyond
  `num_classes` (the instance-boundary channel of `use_instance` presets) are zero: uploads carry no instances.
- pose: the OpenPose-coloured rendering, RGB in [-1, 1] (`rgb_to_tensor`).
- edges: one channel in [-1, 1] (`edges_to_tensor`).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from app.contracts import LabelSpec, LabelType
from models.core.labels import decode_palette, edges_to_tensor, one_hot, rgb_to_tensor


def _resize(frame: np.ndarray, height: int, width: int, nearest: bool) -> np.ndarray:
    if frame.shape[:2] == (height, width):
        return frame
    if nearest:
        interpolation = cv2.INTER_NEAREST
    elif frame.shape[0] > height or frame.shape[1] > width:
        interpolation = cv2.INTER_AREA
    else:
        interpolation = cv2.INTER_LINEAR
    return cv2.resize(frame, (width, height), interpolation=interpolation)


class LabelEncoder:
    """Turns one label frame ((H, W, 3) RGB or (H, W) uint8) into a (1, C, height, width) float tensor."""

    def __init__(self, spec: LabelSpec, height: int, width: int) -> None:
        self.spec = spec
        self.height, self.width = height, width
        if spec.type == LabelType.SEGMENTATION:
            if not spec.palette or spec.num_classes <= 0:
                raise ValueError("a segmentation LabelSpec needs num_classes and a palette")
            self.palette = np.asarray(spec.palette, dtype=np.uint8)  # (N, 3)
        self.channels = spec.channels or self._natural_channels()

    def _natural_channels(self) -> int:
        return {LabelType.SEGMENTATION: self.spec.num_classes, LabelType.POSE: 3, LabelType.EDGES: 1}[self.spec.type]

    def __call__(self, frame: np.ndarray) -> torch.Tensor:
        if self.spec.type == LabelType.SEGMENTATION:
            labels = self._segmentation(frame)
        elif self.spec.type == LabelType.POSE:
            rgb = frame if frame.ndim == 3 else np.repeat(frame[:, :, None], 3, axis=2)
            labels = rgb_to_tensor(_resize(rgb, self.height, self.width, nearest=False))  # (3, H, W)
        else:
            labels = edges_to_tensor(_resize(frame, self.height, self.width, nearest=False))  # (1, H, W)
        if labels.shape[0] < self.channels:
            pad = torch.zeros(self.channels - labels.shape[0], self.height, self.width)
            labels = torch.cat([labels, pad], dim=0)  # (C, H, W)
        return labels.unsqueeze(0)  # (1, C, H, W)

    def _segmentation(self, frame: np.ndarray) -> torch.Tensor:
        small = _resize(frame, self.height, self.width, nearest=True)
        if small.ndim == 2:
            ids = small.astype(np.int64)  # (H, W) class ids
        else:
            ids = decode_palette(small, self.palette)  # (H, W)
        return one_hot(torch.from_numpy(ids).unsqueeze(0), self.spec.num_classes)[0]  # (num_classes, H, W)

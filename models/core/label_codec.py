"""The one label codec: a stored or uploaded label image -> the generator's (C, H, W) input, and back to a picture.

Serving (`workers.labels_input`), training (`corpora.clips`) and evaluation (`evaluation.translate`) all encode
through `LabelCodec`, so the same PNG gives the same tensor on the three paths (tested). Rules:
- segmentation: class ids (a single-channel PNG) or colours decoded to the nearest palette colour; resized with
  nearest neighbour; one-hot over `num_classes`; when `channels == num_classes + 1` a last channel of instance
  boundaries, from the instance map when there is one, else from the class ids (the training rule). A 16-bit
  single-channel frame in Cityscapes' `*_instanceIds.png` format (the class id, or 1000 * class + instance on
  countable objects) carries both: classes are id // 1000 where id >= 1000, boundaries come from the full ids.
- pose: the OpenPose-coloured rendering, RGB in [-1, 1]; with 6 channels (the few-shot vid2vid pose setting:
  DensePose IUV + OpenPose) a frame is the two RGB pictures side by side, DensePose left, each of the run width.
  edges: one channel in [-1, 1]. Resized with area averaging when shrinking and bilinear when growing.
numpy + torch (+ OpenCV for resizing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from models.core.labels import (
    CITYSCAPES_PALETTE,
    colorize,
    decode_palette,
    edges_to_tensor,
    instance_edges,
    one_hot,
    rgb_to_tensor,
    tensor_to_rgb,
)

DENSEPOSE_OPENPOSE = 6
"""Channels of the few-shot pose setting's label: DensePose IUV (3) then OpenPose rendering (3)."""
INSTANCE_ID_BASE = 1000
"""Cityscapes instance-id encoding: id = class for stuff, 1000 * class + k for instance k of a countable class."""


def _instance_ids(image: np.ndarray) -> bool:
    """Whether a label frame is a Cityscapes instance-id map (single channel, some id >= 1000)."""
    return image.ndim == 2 and image.dtype != np.uint8 and int(image.max(initial=0)) >= INSTANCE_ID_BASE


def resize_image(image: np.ndarray, height: int, width: int, nearest: bool) -> np.ndarray:
    """(h, w[, c]) -> (height, width[, c]): nearest neighbour, or area when shrinking and bilinear when growing."""
    import cv2

    if image.shape[:2] == (height, width):
        return image
    if nearest:
        interpolation = cv2.INTER_NEAREST
    elif image.shape[0] > height or image.shape[1] > width:
        interpolation = cv2.INTER_AREA
    else:
        interpolation = cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)


@dataclass(frozen=True)
class LabelCodec:
    label_type: str
    """"segmentation", "pose" or "edges"."""
    channels: int
    num_classes: int = 0
    palette: tuple[tuple[int, int, int], ...] = ()
    """Segmentation: RGB colour per class id (colour-coded frames decode to the nearest)."""

    def __post_init__(self) -> None:
        if self.label_type == "segmentation" and self.num_classes <= 0:
            raise ValueError("a segmentation codec needs num_classes")
        if self.label_type not in ("segmentation", "pose", "edges"):
            raise ValueError(f"unknown label type {self.label_type!r}")

    @property
    def nearest(self) -> bool:
        """Whether label images are resized with nearest neighbour (class ids must not be blended)."""
        return self.label_type == "segmentation"

    def fit(self, image: np.ndarray, height: int, width: int) -> np.ndarray:
        return resize_image(image, height, width, self.nearest)

    def class_ids(self, image: np.ndarray) -> np.ndarray:
        """Segmentation: (H, W) int64 class ids from an id image or a colour-coded one."""
        if image.ndim == 2:
            ids = image.astype(np.int64)
            return np.where(ids >= INSTANCE_ID_BASE, ids // INSTANCE_ID_BASE, ids)
        palette = np.asarray(self.palette or CITYSCAPES_PALETTE[: self.num_classes], dtype=np.uint8)
        return decode_palette(image[:, :, :3], palette)

    def encode(self, image: np.ndarray, instance: np.ndarray | None = None) -> torch.Tensor:
        """A label image already at the run size -> (channels, H, W) float32."""
        if self.label_type == "pose":
            rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
            if self.channels == DENSEPOSE_OPENPOSE:
                if rgb.shape[1] % 2:
                    raise ValueError("6-channel pose frames are DensePose and OpenPose side by side (even width)")
                half = rgb.shape[1] // 2
                x = torch.cat([rgb_to_tensor(rgb[:, :half, :3]), rgb_to_tensor(rgb[:, half:, :3])])  # (6, H, W)
            else:
                x = rgb_to_tensor(rgb[:, :, :3])  # (3, H, W)
        elif self.label_type == "edges":
            x = edges_to_tensor(image if image.ndim == 2 else image[:, :, :3])  # (1, H, W)
        else:
            ids = self.class_ids(image)
            x = one_hot(torch.from_numpy(ids)[None], self.num_classes)[0]  # (num_classes, H, W)
            if self.channels == self.num_classes + 1:
                source = instance if instance is not None else image if _instance_ids(image) else ids
                edges = instance_edges(torch.from_numpy(source.astype(np.int64))[None])[0]  # (1, H, W)
                x = torch.cat([x, edges], dim=0)
        if x.shape[0] < self.channels:
            pad = torch.zeros(self.channels - x.shape[0], *x.shape[1:])
            x = torch.cat([x, pad], dim=0)  # (channels, H, W)
        return x

    def encode_at(self, image: np.ndarray, height: int, width: int, instance: np.ndarray | None = None
                  ) -> torch.Tensor:
        """Resize (the codec's rule), then encode: (channels, height, width)."""
        fitted = None if instance is None else resize_image(instance, height, width, nearest=True)
        side_by_side = self.label_type == "pose" and self.channels == DENSEPOSE_OPENPOSE
        return self.encode(self.fit(image, height, 2 * width if side_by_side else width), fitted)

    def draw(self, labels: torch.Tensor) -> np.ndarray:
        """(C, H, W) encoded labels -> (H, W, 3) uint8 picture (previews, sample strips)."""
        if self.label_type == "segmentation":
            palette = np.asarray(self.palette or CITYSCAPES_PALETTE[: self.num_classes], dtype=np.uint8)
            ids = labels[: self.num_classes].argmax(0).cpu().numpy()
            return colorize(ids, palette)
        if self.label_type == "pose":
            return tensor_to_rgb(labels[3:6] if self.channels == DENSEPOSE_OPENPOSE else labels[:3])
        return tensor_to_rgb(labels[:1].expand(3, -1, -1))

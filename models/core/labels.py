"""Label conventions shared by data generation, training and serving.

Cityscapes label ids and colours, nearest-palette decoding of colour-coded segmentation frames, one-hot and
instance-boundary encoding, and the channel layout of pose and edge inputs. numpy + torch only (no cv2).
"""

from __future__ import annotations

import numpy as np
import torch

CITYSCAPES_CLASSES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("unlabeled", (0, 0, 0)),
    ("ego vehicle", (0, 0, 0)),
    ("rectification border", (0, 0, 0)),
    ("out of roi", (0, 0, 0)),
    ("static", (0, 0, 0)),
    ("dynamic", (111, 74, 0)),
    ("ground", (81, 0, 81)),
    ("road", (128, 64, 128)),
    ("sidewalk", (244, 35, 232)),
    ("parking", (250, 170, 160)),
    ("rail track", (230, 150, 140)),
    ("building", (70, 70, 70)),
    ("wall", (102, 102, 156)),
    ("fence", (190, 153, 153)),
    ("guard rail", (180, 165, 180)),
    ("bridge", (150, 100, 100)),
    ("tunnel", (150, 120, 90)),
    ("pole", (153, 153, 153)),
    ("polegroup", (153, 153, 153)),
    ("traffic light", (250, 170, 30)),
    ("traffic sign", (220, 220, 0)),
    ("vegetation", (107, 142, 35)),
    ("terrain", (152, 251, 152)),
    ("sky", (70, 130, 180)),
    ("person", (220, 20, 60)),
    ("rider", (255, 0, 0)),
    ("car", (0, 0, 142)),
    ("truck", (0, 0, 70)),
    ("bus", (0, 60, 100)),
    ("caravan", (0, 0, 90)),
    ("trailer", (0, 0, 110)),
    ("train", (0, 80, 100)),
    ("motorcycle", (0, 0, 230)),
    ("bicycle", (119, 11, 32)),
    ("license plate", (0, 0, 142)),
)
"""Cityscapes labelIds 0..34 (name, RGB colour). Several ids share a colour; decoding picks the first id."""

CITYSCAPES_NUM_CLASSES = len(CITYSCAPES_CLASSES)
CITYSCAPES_NAMES = [name for name, _ in CITYSCAPES_CLASSES]
CITYSCAPES_PALETTE = np.array([rgb for _, rgb in CITYSCAPES_CLASSES], dtype=np.uint8)  # (35, 3)


def decode_palette(frame_rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Map each pixel to the id of its nearest palette colour (robust to lossy video compression).

    Args:
        frame_rgb: (H, W, 3) uint8 RGB.
        palette: (N, 3) uint8; ids that share a colour with a lower id are never produced.
    Returns:
        (H, W) int64 class ids and, via `palette_distance`, how far the frame is from the palette.
    """
    ids, _ = decode_palette_with_distance(frame_rgb, palette)
    return ids


def decode_palette_with_distance(frame_rgb: np.ndarray, palette: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As `decode_palette`, also returning the per-pixel Euclidean RGB distance to the chosen colour (H, W).

    The nearest colour is found once per distinct pixel colour (a frame has far fewer colours than pixels, even
    after lossy compression), then spread back to the pixels: the same answer as per pixel, at a fraction of the cost.
    """
    colours, first_ids = np.unique(palette.astype(np.int32), axis=0, return_index=True)  # (U, 3), (U,)
    pixels = frame_rgb.reshape(-1, 3).astype(np.int32)  # (P, 3)
    packed = (pixels[:, 0] << 16) | (pixels[:, 1] << 8) | pixels[:, 2]  # (P,) one int per colour
    distinct, inverse = np.unique(packed, return_inverse=True)  # (D,), (P,)
    candidates = np.stack([distinct >> 16, (distinct >> 8) & 255, distinct & 255], axis=1)  # (D, 3)
    # Squared distances in chunks to bound memory: (chunk, U).
    ids = np.empty(len(candidates), dtype=np.int64)
    dist = np.empty(len(candidates), dtype=np.float32)
    for start in range(0, len(candidates), 1 << 18):
        chunk = candidates[start : start + (1 << 18)]
        d2 = ((chunk[:, None, :] - colours[None, :, :]) ** 2).sum(-1)  # (chunk, U)
        best = d2.argmin(1)
        ids[start : start + len(chunk)] = first_ids[best]
        dist[start : start + len(chunk)] = np.sqrt(d2[np.arange(len(chunk)), best])
    h, w = frame_rgb.shape[:2]
    return ids[inverse].reshape(h, w), dist[inverse].reshape(h, w)


def colorize(ids: np.ndarray, palette: np.ndarray = CITYSCAPES_PALETTE) -> np.ndarray:
    """(H, W) class ids -> (H, W, 3) uint8 RGB with the palette's colours."""
    return palette[np.clip(ids, 0, len(palette) - 1)]


def one_hot(ids: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B, H, W) int64 ids -> (B, num_classes, H, W) float one-hot."""
    out = torch.zeros(ids.shape[0], num_classes, *ids.shape[1:], device=ids.device)  # (B, num_classes, H, W)
    return out.scatter_(1, ids.clamp(0, num_classes - 1).unsqueeze(1), 1.0)  # one pass, float from the start


def instance_edges(instance_ids: torch.Tensor) -> torch.Tensor:
    """(B, H, W) instance ids -> (B, 1, H, W) float map, 1 where a 4-neighbour has another id (both sides)."""
    inst = instance_ids
    edge = torch.zeros_like(inst, dtype=torch.bool)
    horizontal = inst[:, :, 1:] != inst[:, :, :-1]  # (B, H, W-1)
    vertical = inst[:, 1:, :] != inst[:, :-1, :]  # (B, H-1, W)
    edge[:, :, 1:] |= horizontal
    edge[:, :, :-1] |= horizontal
    edge[:, 1:, :] |= vertical
    edge[:, :-1, :] |= vertical
    return edge.unsqueeze(1).float()


def rgb_to_tensor(frame_rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float in [-1, 1] (the image convention of both model families)."""
    return torch.from_numpy(np.ascontiguousarray(frame_rgb)).permute(2, 0, 1).float().div(127.5).sub(1.0)


def tensor_to_rgb(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [-1, 1] -> (H, W, 3) uint8 RGB."""
    scaled = image.detach().float().clamp(-1, 1).add(1).mul(127.5).round()
    return scaled.to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def edges_to_tensor(edge_map: np.ndarray) -> torch.Tensor:
    """(H, W) or (H, W, 3) uint8 edge map (white edges on black) -> (1, H, W) float in [-1, 1]."""
    gray = edge_map if edge_map.ndim == 2 else edge_map.mean(axis=2)
    return torch.from_numpy(np.ascontiguousarray(gray, dtype=np.float32)).unsqueeze(0).div(127.5).sub(1.0)

"""vid2vid (Wang et al., NeurIPS 2018): the multi-scale sequential generator and its state (config and presets:
`config.py`, re-exported here).

Frame t comes from the last `n_frames_G` label maps and the last L = n_frames_G - 1 generated frames, at
`n_scales_spatial` resolutions (coarsest first: `gen.scales[0]` is the `CompositeGenerator`, the others are
local enhancers). Each scale composes `x = m * h + (1 - m) * warp(x_prev, w)`, then mixes a foreground
hallucination in with the foreground-class mask when `use_fg`. Streaming: `state = gen.start(...)`, then
`out, state = gen.step(labels_t, state)` per frame; the state holds per-scale label and frame histories
(docs/conventions.md). torch only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from models.core.family import InputError
from models.core.warp import image_pyramid, warp
from models.families.vid2vid.blocks import CompositeGenerator, CompositeLocalGenerator, ScaleHeads
from models.families.vid2vid.config import PRESETS as PRESETS
from models.families.vid2vid.config import Vid2VidConfig
from models.families.vid2vid.label_gather import fast_path_applies, one_hot_codes
from models.families.vid2vid.layers import count_parameters, init_weights, use_per_frame_statistics
from models.families.vid2vid.still_check import trusted_previous


@dataclass
class ScaleOutput:
    """One scale's result, at that scale's resolution."""

    frame: torch.Tensor  # (B, 3, H, W) composed frame x̃_t in [-1, 1]
    raw: torch.Tensor  # (B, 3, H, W) hallucinated h (mixed with h_F under the fg mask)
    flow: torch.Tensor | None  # (B, 2, H, W) pixels, t -> t-1; None when no_flow
    mask: torch.Tensor | None  # (B, 1, H, W) 1 = trust h; None when no_flow
    warped: torch.Tensor | None  # (B, 3, H, W) warp(x̃_{t-1}, flow); None when no_flow
    fg_mask: torch.Tensor | None  # (B, 1, H, W) foreground mask M_F; None without fg


@dataclass
class Vid2VidOutput:
    """The finest scale's result (same fields as `ScaleOutput`) plus every scale, coarsest first."""

    frame: torch.Tensor  # (B, 3, H, W)
    raw: torch.Tensor  # (B, 3, H, W)
    flow: torch.Tensor | None  # (B, 2, H, W)
    mask: torch.Tensor | None  # (B, 1, H, W)
    warped: torch.Tensor | None  # (B, 3, H, W)
    fg_mask: torch.Tensor | None  # (B, 1, H, W)
    scales: list[ScaleOutput] = field(default_factory=list)
    raw_only: bool = False
    """True when the frame is the raw hallucination (no previous frame existed yet)."""


@dataclass
class Vid2VidState:
    """Streaming state: per-scale histories (coarsest first), oldest entry first along dim 1."""

    labels: list[torch.Tensor]  # per scale (B, L, C, H_s, W_s)
    frames: list[torch.Tensor]  # per scale (B, L, 3, H_s, W_s)
    frame_index: int = 0
    """Index of the next frame in the stream (frames generated or observed since `start`)."""
    history: int = 0
    """Valid history entries (0..L); with 0 the next step replicates its labels and outputs the raw frame."""

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """Flat name → tensor dict (safetensors-ready; contiguous). Only the finest label history is kept: the
        coarser ones are its image pyramid, recomputed by `from_tensors` (the same op on the same values)."""
        finest = len(self.labels) - 1
        out = {f"labels.{finest}": self.labels[finest].contiguous()}
        out.update({f"frames.{s}": t.contiguous() for s, t in enumerate(self.frames)})
        out["frame_index"] = torch.tensor(self.frame_index, dtype=torch.int64)
        out["history"] = torch.tensor(self.history, dtype=torch.int64)
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> Vid2VidState:
        n = sum(1 for k in tensors if k.startswith("frames."))
        finest = tensors[f"labels.{n - 1}"]  # (B, L, C, H, W)
        b, history = finest.shape[:2]
        levels = image_pyramid(finest.flatten(0, 1), n)[::-1]  # coarsest first, each (B·L, C, H_s, W_s)
        return cls(
            labels=[level.unflatten(0, (b, history)) for level in levels],
            frames=[tensors[f"frames.{s}"] for s in range(n)],
            frame_index=int(tensors["frame_index"]),
            history=int(tensors["history"]),
        )

    def detach(self) -> Vid2VidState:
        """The same state cut from the autograd graph (the paper trains without backprop through time)."""
        return Vid2VidState(
            [t.detach() for t in self.labels],
            [t.detach() for t in self.frames],
            self.frame_index,
            self.history,
        )

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> Vid2VidState:
        return Vid2VidState(
            [t.to(device, dtype) for t in self.labels],
            [t.to(device, dtype) for t in self.frames],
            self.frame_index,
            self.history,
        )


class Vid2VidGenerator(nn.Module):
    """All spatial scales of the vid2vid generator; see the module docstring for the streaming API."""

    def __init__(self, config: Vid2VidConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        label_ch, prev_ch = c.n_frames_G * c.label_channels, c.n_prev * 3
        fg_ratio = 2 if c.n_downsample > 2 else 1  # the fg branch uses ngf/2 when n_downsample > 2
        scales: list[nn.Module] = [
            CompositeGenerator(
                label_ch,
                prev_ch,
                c.ngf,
                c.n_downsample,
                c.n_blocks,
                c.norm,
                c.ngf // fg_ratio if c.use_fg else None,
                not c.no_flow,
                c.flow_multiplier,
                c.upsample,
                c.label_channels if c.label_skip else None,
            )
        ]
        for s in range(1, c.n_scales_spatial):
            ngf = c.ngf // 2**s
            scales.append(
                CompositeLocalGenerator(
                    label_ch,
                    prev_ch,
                    ngf,
                    c.n_blocks_local,
                    c.norm,
                    ngf // fg_ratio if c.use_fg else None,
                    not c.no_flow,
                    c.flow_multiplier * 2**s,
                    c.upsample,
                    c.label_channels if c.label_skip else None,
                )
            )
        self.scales = nn.ModuleList(scales)
        init_weights(self)
        if c.norm_statistics == "per_frame":
            use_per_frame_statistics(self)

    def parameter_counts(self) -> list[int]:
        """Parameters per scale, coarsest first."""
        return [count_parameters(m) for m in self.scales]

    # ----------------------------------------------------------------------------------------------------
    # streaming

    def start(
        self,
        batch_size: int,
        height: int,
        width: int,
        first_frames: torch.Tensor | None = None,
        first_labels: torch.Tensor | None = None,
    ) -> Vid2VidState:
        """A fresh stream. With `first_frames` (B, L, 3, H, W) and `first_labels` (B, L, C, H, W) (real
        frames or `first_frames_from_single_image`) the history is full; without them it is empty (zeros
        mode)."""
        c = self.config
        self._check_size(height, width)
        param = next(self.parameters())
        empty = Vid2VidState(labels=[], frames=[])
        for h, w in self._scale_sizes(height, width):
            empty.labels.append(param.new_zeros(batch_size, c.n_prev, c.label_channels, h, w))
            empty.frames.append(param.new_zeros(batch_size, c.n_prev, 3, h, w))
        if first_frames is None and first_labels is None:
            return empty
        if first_frames is None or first_labels is None:
            raise ValueError("first_frames and first_labels must be given together")
        expected = (batch_size, c.n_prev)
        if tuple(first_frames.shape[:2]) != expected or tuple(first_labels.shape[:2]) != expected:
            raise ValueError(f"first frames/labels must start with (B, L) = {expected}")
        state = empty
        for i in range(c.n_prev):
            state = self.observe(first_labels[:, i], first_frames[:, i], state)
        return state

    def observe(self, labels_t: torch.Tensor, frame_t: torch.Tensor, state: Vid2VidState) -> Vid2VidState:
        """Push an externally produced frame (real, or from a single-image generator) and its labels into the
        history without generating: labels_t (B, C, H, W), frame_t (B, 3, H, W) in [-1, 1]."""
        param = next(self.parameters())
        labels = self._coarse_to_fine(labels_t.to(param.dtype))
        frames = self._coarse_to_fine(frame_t.to(param.dtype))
        return self._advance(state, labels, frames)

    def step(self, labels_t: torch.Tensor, state: Vid2VidState) -> tuple[Vid2VidOutput, Vid2VidState]:
        """Generate frame t from labels_t (B, C, H, W) and the state; returns (output, next state)."""
        c = self.config
        if labels_t.shape[1] != c.label_channels:
            raise ValueError(f"expected {c.label_channels} label channels, got {labels_t.shape[1]}")
        self._check_size(labels_t.shape[2], labels_t.shape[3])
        if state.history == 0:
            # An empty history is an all-zero previous frame: the previous-frame encoder's norms then normalise
            # constant maps, where any other rounding than eager fp32's (exact zeros) is amplified layer after layer
            # (bf16 edges: 21 dB from fp32 over the first frames). So a stream's first frame runs eager in fp32.
            device = labels_t.device.type
            if device not in ("cpu", "cuda"):  # e.g. the meta device (MAC counts): no autocast there
                return self._step(labels_t, state, exact=True)
            with torch.autocast(device, enabled=False):
                return self._step(labels_t, state, exact=True)
        return self._step(labels_t, state, exact=False)

    def _step(self, labels_t: torch.Tensor, state: Vid2VidState, exact: bool
              ) -> tuple[Vid2VidOutput, Vid2VidState]:
        """`step` (exact: every network's eager forward, bypassing `compile_networks`)."""
        c = self.config
        param = next(self.parameters())
        levels = self._coarse_to_fine(labels_t.to(param.dtype))  # per scale (B, C, H_s, W_s)
        raw_only = state.history == 0
        outputs: list[ScaleOutput] = []
        heads: ScaleHeads | None = None
        for s, (module, labels) in enumerate(zip(self.scales, levels, strict=True)):
            net = module.forward if exact else module
            prev_labels = self._label_history(state, s, labels)  # (B, L, C, H_s, W_s)
            label_in = torch.cat([prev_labels.flatten(1, 2), labels], dim=1)  # (B, n_frames_G·C, H_s, W_s)
            prev_in = state.frames[s].flatten(1, 2)  # (B, L·3, H_s, W_s)
            codes = one_hot_codes(label_in, c.n_frames_G) if fast_path_applies(label_in) else None
            heads = net(label_in, prev_in, codes=codes) if heads is None else net(label_in, prev_in, heads, codes)
            history = None if raw_only else state.labels[s]  # (B, L, C, H_s, W_s)
            outputs.append(self._compose(heads, state.frames[s][:, -1], labels, history))
        finest = outputs[-1]
        out = Vid2VidOutput(
            finest.frame,
            finest.raw,
            finest.flow,
            finest.mask,
            finest.warped,
            finest.fg_mask,
            scales=outputs,
            raw_only=raw_only,
        )
        return out, self._advance(state, levels, [o.frame for o in outputs])

    def forward(self, labels_t: torch.Tensor, state: Vid2VidState) -> tuple[Vid2VidOutput, Vid2VidState]:
        return self.step(labels_t, state)

    def compile_networks(self) -> list[str]:
        """`torch.compile` each scale's network in place (its inputs are tensors whose shapes depend only on the frame
        size, so it compiles once per size, not again as the history fills); the names compiled. The weights go
        channels_last first: the compiled graphs then keep oneDNN's preferred layout between convolutions instead of
        reordering around each (1.25x per 2048-structure frame in bf16 on an AMX CPU)."""
        for net in self.scales:
            net.to(memory_format=torch.channels_last)
            net.compile(dynamic=False)
        return [f"scales.{s}" for s in range(len(self.scales))]

    # ----------------------------------------------------------------------------------------------------
    # helpers

    def _compose(
        self, heads: ScaleHeads, prev_frame: torch.Tensor, labels: torch.Tensor, history: torch.Tensor | None
    ) -> ScaleOutput:
        """x = m·h + (1-m)·warp(x_prev, w); then x = M_F·h_F + (1-M_F)·x (and the same mixing for raw h). `history`
        (B, L, C, H, W): the previous label maps, the last one x_prev's; without them (an empty history) x is h."""
        raw = frame = heads.image  # (B, 3, H, W)
        warped = mask = None
        if heads.flow is not None and heads.mask is not None:
            original = self.config.warp_rounding == "original"
            warped = warp(prev_frame, heads.flow, original)  # (B, 3, H, W)
            mask = heads.mask
            if history is not None:
                c = self.config
                if c.still_check or c.label_gate:
                    warped_labels = warp(history[:, -1], heads.flow, original)  # (B, C, H, W)
                    warped, trust = trusted_previous(prev_frame, warped, history, warped_labels, labels,
                                                     c.still_check, c.label_gate)  # (B, 3, H, W), (B, 1, H, W)
                    mask = 1 - (1 - mask) * trust  # (B, 1, H, W)
                frame = mask * heads.image + (1 - mask) * warped  # (B, 3, H, W)
        fg_mask = None
        if heads.fg_image is not None:
            fg_mask = labels[:, list(self.config.fg_labels)].sum(1, keepdim=True).clamp(0, 1)  # (B, 1, H, W)
            frame = fg_mask * heads.fg_image + (1 - fg_mask) * frame  # (B, 3, H, W)
            raw = fg_mask * heads.fg_image + (1 - fg_mask) * raw  # (B, 3, H, W)
        return ScaleOutput(frame, raw, heads.flow, mask, warped, fg_mask)

    def _label_history(self, state: Vid2VidState, s: int, labels: torch.Tensor) -> torch.Tensor:
        """The previous L label maps at scale s; an empty history repeats the current labels."""
        if state.history == 0:
            return labels.unsqueeze(1).expand(-1, self.config.n_prev, -1, -1, -1)  # (B, L, C, H_s, W_s)
        return state.labels[s]

    def _advance(
        self, state: Vid2VidState, labels: list[torch.Tensor], frames: list[torch.Tensor]
    ) -> Vid2VidState:
        """Drop the oldest history entry at every scale and append (labels, frame)."""
        new_labels, new_frames = [], []
        for s, (lab, frame) in enumerate(zip(labels, frames, strict=True)):
            old_labels = self._label_history(state, s, lab)
            new_labels.append(torch.cat([old_labels[:, 1:], lab.unsqueeze(1)], dim=1))  # (B, L, C, H_s, W_s)
            new_frames.append(
                torch.cat([state.frames[s][:, 1:], frame.unsqueeze(1)], dim=1)
            )  # (B, L, 3, ...)
        return Vid2VidState(
            new_labels, new_frames, state.frame_index + 1, min(self.config.n_prev, state.history + 1)
        )

    def _coarse_to_fine(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, C, H, W) -> one level per scale, coarsest first."""
        return image_pyramid(x, self.config.n_scales_spatial)[::-1]

    def _scale_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        n = self.config.n_scales_spatial
        return [(height // 2 ** (n - 1 - s), width // 2 ** (n - 1 - s)) for s in range(n)]

    def _check_size(self, height: int, width: int) -> None:
        m = self.config.size_multiple
        if height % m or width % m:
            raise InputError(f"height and width must be multiples of {m}, got {height}x{width}")

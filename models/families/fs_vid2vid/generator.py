"""few-shot vid2vid (Wang et al., NeurIPS 2019): the generator and its streaming state (reference §3).

A SPADE image network H starts from the encoding of K reference (image, label) pairs; the SPADE modulation of its
`n_adaptive_layers` finest layers and the decoder of its label embedding are *generated per sample* from the
references (`models.families.fs_vid2vid.weights`). A flow network warps the chosen reference and the previous
generated frame onto the current label map; the warped images are blended by soft masks or, with `spade_combine`,
embedded and fed to the finest layers as extra SPADE maps. Streaming (docs/conventions.md):

    state = gen.start(references, reference_labels)   # (B, K, 3, H, W), (B, K, C, H, W): encodes once
    out, state = gen.step(labels_t, state)            # (B, C, H, W) -> FewShotOutput, new state

With K = 1 the start caches the reference bottleneck and all generated weights. With K > 1 the attention query comes
from each target frame, so the start caches the reference features up to the attention point and the attention keys,
and each step fuses them and regenerates the weights. torch only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.core.family import InputError
from models.core.warp import warp
from models.families.fs_vid2vid.background_gate import gate_background
from models.families.fs_vid2vid.blend import BlendHead
from models.families.fs_vid2vid.blocks import (
    LRELU_SLOPE,
    LabelEmbedder,
    SPADEResBlock,
    conv,
    upsample_2x,
)
from models.families.fs_vid2vid.config import PRESETS as PRESETS
from models.families.fs_vid2vid.config import FewShotConfig as FewShotConfig
from models.families.fs_vid2vid.flow_net import FlowNetwork
from models.families.fs_vid2vid.weights import GeneratedWeights, ReferenceEncoder, ReferenceHead, WeightGenerator


@dataclass
class FewShotOutput:
    """One generated frame and the intermediate results the losses need (None where a path did not run)."""

    frame: torch.Tensor  # (B, 3, H, W) in [-1, 1], the final frame
    raw: torch.Tensor | None  # (B, 3, H, W) H's image without warped images (None if step(with_raw=False))
    flow_ref: torch.Tensor | None  # (B, 2, H, W) pixels, current -> chosen reference; None without warp_reference
    mask_ref: torch.Tensor | None  # (B, 1, H, W)
    warped_ref: torch.Tensor | None  # (B, 3, H, W) the chosen reference warped onto the current frame
    flow_prev: torch.Tensor | None  # (B, 2, H, W) pixels, t -> t-1; None on a first or single frame
    mask_prev: torch.Tensor | None  # (B, 1, H, W)
    warped_prev: torch.Tensor | None  # (B, 3, H, W)
    ref_index: torch.Tensor  # (B,) long, the reference used for warping (argmax of attention mass; 0 when K = 1)
    attention: torch.Tensor | None  # (B, K*h*w, h*w), sums to 1 over dim 1; None when K = 1


@dataclass(frozen=True)
class FewShotState:
    """Everything `step` needs besides the current labels: references, their cached encoding, the previous frame."""

    references: torch.Tensor  # (B, K, 3, H, W)
    reference_labels: torch.Tensor  # (B, K, C, H, W)
    cache: dict[str, torch.Tensor]  # K = 1: "bottleneck" + "weights.*"; K > 1: "head.image", "head.label", "head.keys"
    prev_frame: torch.Tensor | None = None  # (B, 3, H, W), detached
    prev_label: torch.Tensor | None = None  # (B, C, H, W)

    @property
    def num_references(self) -> int:
        return self.references.shape[1]

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """Flat, contiguous, unshared copies (safetensors-able); `from_tensors` restores an identical state."""
        return {k: v.detach().clone(memory_format=torch.contiguous_format) for k, v in self._flat().items()}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> FewShotState:
        cache = {k.removeprefix("cache."): v for k, v in tensors.items() if k.startswith("cache.")}
        return cls(references=tensors["references"], reference_labels=tensors["reference_labels"], cache=cache,
                   prev_frame=tensors.get("prev_frame"), prev_label=tensors.get("prev_label"))

    def detach(self) -> FewShotState:
        return FewShotState.from_tensors({k: v.detach() for k, v in self._flat().items()})

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> FewShotState:
        return FewShotState.from_tensors({k: v.to(device=device, dtype=dtype) for k, v in self._flat().items()})

    def _flat(self) -> dict[str, torch.Tensor]:
        """references, reference_labels and cache.* are fixed per reference set; prev_* change every frame."""
        out = {"references": self.references, "reference_labels": self.reference_labels}
        out.update({f"cache.{k}": v for k, v in self.cache.items()})
        if self.prev_frame is not None and self.prev_label is not None:
            out["prev_frame"], out["prev_label"] = self.prev_frame, self.prev_label
        return out


class FewShotGenerator(nn.Module):
    """The few-shot vid2vid generator: weight generation E, image network H, flow networks (reference §3.3-3.6)."""

    def __init__(self, config: FewShotConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        ch, n = c.channels, c.n_downsample
        self.reference_encoder = ReferenceEncoder(c.label_channels, ch, c.n_adaptive_layers, c.n_downsample_attention,
                                                  with_attention=c.max_references > 1, norm=c.norm)
        self.weight_generator = WeightGenerator(ch, c.n_adaptive_layers, c.n_fc_layers, c.weight_layout)
        sn_all = c.spectral_norm == "everywhere"
        self.label_embedding = LabelEmbedder(c.label_channels, ch, "encoderdecoder", n_generated=c.n_adaptive_layers,
                                             spectral=sn_all, upsample=c.upsample)
        n_extra = int(c.warp_reference) + 1 if c.spade_combine else 0
        self.up = nn.ModuleList([
            SPADEResBlock(ch[min(i + 1, n)], ch[i], ch[i], generated=i < c.n_adaptive_layers,
                          n_extra=n_extra if i < c.n_sc_layers else 0, norm=c.norm, spectral_modulation=sn_all)
            for i in range(n + 1)
        ])  # up[i] runs at H/2^i
        self.conv_img = conv(ch[0], 3, spectral=sn_all)
        flow_in = 2 * c.label_channels + 3

        def flow_network() -> FlowNetwork:
            return FlowNetwork(flow_in, c.flow_ngf, c.flow_n_downsample, c.flow_n_blocks,
                               multiplier=c.flow_multiplier, norm=c.norm, layout=c.flow_layout, upsample=c.upsample)

        self.flow_network_ref = flow_network() if c.warp_reference else None
        self.flow_network_temp = flow_network() if c.separate_temporal_flow or not c.warp_reference else None
        combine_ref = c.spade_combine and c.warp_reference
        self.img_ref_embedding = (LabelEmbedder(4, ch, "unet", spectral=sn_all, upsample=c.upsample)
                                  if combine_ref else None)
        self.img_prev_embedding = (LabelEmbedder(4, ch, "unet", spectral=sn_all, upsample=c.upsample)
                                   if c.spade_combine else None)
        self.blend_ref = BlendHead(c.label_channels) if c.blend_reference and c.warp_reference else None
        self.blend_prev = BlendHead(c.label_channels) if c.blend_previous else None

    # ---------------------------------------------------------------- streaming API
    def start(self, references: torch.Tensor, reference_labels: torch.Tensor) -> FewShotState:
        """Encode K references once per sequence.

        Args:
            references: (B, K, 3, H, W) images in [-1, 1].
            reference_labels: (B, K, C, H, W) their label maps.
        Returns:
            a state without previous frame; the first `step` uses the reference path only.
        """
        self._check_references(references, reference_labels)
        if self.config.remove_face_labels:
            reference_labels = remove_face_labels(reference_labels)
        return FewShotState(references=references, reference_labels=reference_labels,
                            cache=self._encode(references, reference_labels))

    def refresh(self, state: FewShotState) -> FewShotState:
        """Recompute the cached encoding with the current parameters (after an optimizer step); keep the history."""
        return dataclasses.replace(state, cache=self._encode(state.references, state.reference_labels))

    def compile_networks(self) -> list[str]:
        """`torch.compile` the per-frame `step` in place: its state holds tensors only, so a stream compiles once per
        frame size, K and first/later frame, and never again as it advances (checked: no new graph per frame)."""
        self.step = torch.compile(self.step, dynamic=False)  # type: ignore[method-assign]
        return ["step"]

    def step(self, labels_t: torch.Tensor, state: FewShotState, *, single_frame: bool = False,
             with_raw: bool = True) -> tuple[FewShotOutput, FewShotState]:
        """Generate the frame for `labels_t` (B, C, H, W).

        Args:
            single_frame: ignore the previous frame (single-frame training epochs: no temporal path).
            with_raw: with spade_combine, also run the finest layers without the warped-image maps (`raw`, for
                the raw-output GAN loss). Serving can skip it.
        Returns:
            the output and the next state (previous frame = this frame, detached).
        """
        c = self.config
        if labels_t.shape[1:] != state.reference_labels.shape[2:] or labels_t.shape[0] != state.references.shape[0]:
            raise ValueError(f"labels {tuple(labels_t.shape)} do not match the references "
                             f"{tuple(state.reference_labels.shape)}")
        b = labels_t.shape[0]
        if c.remove_face_labels:
            labels_t = remove_face_labels(labels_t)
        bottleneck, weights, attention, ref_index = self._reference_encoding(labels_t, state)
        if c.reference_choice == "nearest_label" and state.num_references > 1:
            ref_index = nearest_label_reference(state.reference_labels, labels_t)

        # 1. flow from the current frame to the chosen reference, and to the previous frame
        flow_ref = mask_ref = warped_ref = flow_prev = mask_prev = warped_prev = None
        batch = torch.arange(b, device=labels_t.device)
        if self.flow_network_ref is not None:
            ref_image = state.references[batch, ref_index]  # (B, 3, H, W)
            ref_label = state.reference_labels[batch, ref_index]  # (B, C, H, W)
            pred = self.flow_network_ref(torch.cat([labels_t, ref_label, ref_image], dim=1))
            flow_ref, mask_ref = pred.flow, pred.mask
            warped_ref = warp(ref_image, flow_ref, self._divided)  # (B, 3, H, W)
        if state.prev_frame is not None and state.prev_label is not None and not single_frame:
            pred = self._temporal_flow()(torch.cat([labels_t, state.prev_label, state.prev_frame], dim=1))
            flow_prev, mask_prev = pred.flow, pred.mask
            warped_prev = warp(state.prev_frame, flow_prev, self._divided)  # (B, 3, H, W)

        # 2. label embedding (generated decoder convs), warped-image embeddings (SPADE combine)
        label_maps = self.label_embedding(labels_t, weights.embed)  # [(B, ch[i], H/2^i, W/2^i)]
        extra: list[list[torch.Tensor] | None] = []
        if c.spade_combine:
            if self.img_ref_embedding is not None:
                assert warped_ref is not None and mask_ref is not None
                extra.append(self.img_ref_embedding(torch.cat([warped_ref, mask_ref], dim=1)))
            if self.img_prev_embedding is not None:
                extra.append(self.img_prev_embedding(torch.cat([warped_prev, mask_prev], dim=1))
                             if warped_prev is not None and mask_prev is not None else None)

        # 3. main branch; with SPADE combine the finest n_sc layers see the warped images
        n = c.n_downsample
        n_sc = c.n_sc_layers if c.spade_combine else 0
        x = self._decode(bottleneck, range(n, n_sc - 1, -1), label_maps, weights, [])  # (B, ch[n_sc], ...)
        fine = range(n_sc - 1, -1, -1)
        h = self._to_image(self._decode(x, fine, label_maps, weights, extra))  # (B, 3, H, W)
        frame: torch.Tensor = h
        raw: torch.Tensor | None = h
        if c.spade_combine:
            raw = self._to_image(self._decode(x, fine, label_maps, weights, [])) if with_raw else None
        else:
            if warped_ref is not None and mask_ref is not None:
                frame = h * mask_ref + warped_ref * (1 - mask_ref)  # (B, 3, H, W)
            if warped_prev is not None and mask_prev is not None:
                frame = frame * mask_prev + warped_prev * (1 - mask_prev)
        if self.blend_ref is not None and warped_ref is not None:
            frame = self.blend_ref(frame, warped_ref, labels_t)  # (B, 3, H, W)
        if c.background_gate and warped_ref is not None:
            frame = gate_background(frame, warped_ref, labels_t, ref_label, c.background_gate)  # (B, 3, H, W)
        if self.blend_prev is not None and warped_prev is not None:
            frame = self.blend_prev(frame, warped_prev, labels_t)  # (B, 3, H, W)

        out = FewShotOutput(frame=frame, raw=raw, flow_ref=flow_ref, mask_ref=mask_ref, warped_ref=warped_ref,
                            flow_prev=flow_prev, mask_prev=mask_prev, warped_prev=warped_prev, ref_index=ref_index,
                            attention=attention)
        return out, dataclasses.replace(state, prev_frame=frame.detach(), prev_label=labels_t.detach())

    def forward(self, labels_t: torch.Tensor, state: FewShotState) -> tuple[FewShotOutput, FewShotState]:
        return self.step(labels_t, state)

    def finetune_parameters(self) -> list[nn.Parameter]:
        """What the paper fine-tunes on the references at inference: the weight-generation MLPs (fc*), up*, conv_img."""
        return [*self.weight_generator.parameters(), *self.up.parameters(), *self.conv_img.parameters()]

    # ---------------------------------------------------------------- internals
    def _encode(self, references: torch.Tensor, reference_labels: torch.Tensor) -> dict[str, torch.Tensor]:
        head = self.reference_encoder.head(references, reference_labels)
        if head.keys is not None:
            return {"head.image": head.image, "head.label": head.label, "head.keys": head.keys}
        encoding = self.reference_encoder.tail(head, None)
        weights = self.weight_generator(encoding.appearance)
        return {"bottleneck": encoding.bottleneck, **{f"weights.{k}": v for k, v in weights.to_dict().items()}}

    def _reference_encoding(self, labels_t: torch.Tensor, state: FewShotState
                            ) -> tuple[torch.Tensor, GeneratedWeights, torch.Tensor | None, torch.Tensor]:
        """(bottleneck, generated weights, attention, ref_index): from the cache (K = 1) or fused for this frame."""
        cache = state.cache
        if "bottleneck" in cache:
            weights = GeneratedWeights.from_dict({k.removeprefix("weights."): v for k, v in cache.items()
                                                  if k.startswith("weights.")}, self.config.n_adaptive_layers)
            ref_index = torch.zeros(labels_t.shape[0], dtype=torch.long, device=labels_t.device)
            return cache["bottleneck"], weights, None, ref_index
        head = ReferenceHead(image=cache["head.image"], label=cache["head.label"], keys=cache["head.keys"])
        encoding = self.reference_encoder.tail(head, labels_t)
        weights = self.weight_generator(encoding.appearance)
        return encoding.bottleneck, weights, encoding.attention, encoding.ref_index

    def _decode(self, x: torch.Tensor, layers: range, label_maps: list[torch.Tensor], weights: GeneratedWeights,
                extra: list[list[torch.Tensor] | None]) -> torch.Tensor:
        """Run main-branch blocks `layers` (coarse to fine), 2x up-sampling after every block but up[0]."""
        for i in layers:
            block_weights = weights.blocks[i] if i < self.config.n_adaptive_layers else None
            maps = [e[i] if e is not None else None for e in extra]
            x = self.up[i](x, label_maps[i], maps, block_weights)  # (B, ch[i], H/2^i, W/2^i)
            if i > 0:
                x = upsample_2x(x, self.config.upsample)  # (B, ch[i], H/2^(i-1), W/2^(i-1))
        return x

    def _to_image(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv_img(F.leaky_relu(x, LRELU_SLOPE)))  # (B, 3, H, W)

    @property
    def _divided(self) -> bool:
        return self.config.warp_rounding == "original"

    def _temporal_flow(self) -> FlowNetwork:
        net = self.flow_network_temp if self.flow_network_temp is not None else self.flow_network_ref
        assert net is not None
        return net

    def _check_references(self, references: torch.Tensor, reference_labels: torch.Tensor) -> None:
        c = self.config
        if references.dim() != 5 or references.shape[2] != 3:
            raise ValueError(f"references must be (B, K, 3, H, W), got {tuple(references.shape)}")
        b, k, _, h, w = references.shape
        if reference_labels.shape != (b, k, c.label_channels, h, w):
            raise ValueError(f"reference_labels must be {(b, k, c.label_channels, h, w)}, "
                             f"got {tuple(reference_labels.shape)}")
        if not 1 <= k <= c.max_references:
            raise InputError(f"this generator takes 1..{c.max_references} references, got {k}")
        m = c.size_multiple
        if h % m or w % m:
            raise InputError(f"height and width must be multiples of {m}, got {h}x{w}")


def nearest_label_reference(reference_labels: torch.Tensor, labels_t: torch.Tensor) -> torch.Tensor:
    """(B, K, C, H, W), (B, C, H, W) -> (B,) index of the reference whose label map is nearest (mean |diff|)."""
    distance = (reference_labels - labels_t[:, None]).abs().flatten(2).mean(dim=2)  # (B, K)
    return distance.argmin(dim=1)


def remove_face_labels(labels: torch.Tensor) -> torch.Tensor:
    """(..., C >= 3, H, W) DensePose-first label maps in [-1, 1] -> the same with channels 0..2 set to -1 where
    channel 2's body part ((v / 2 + 0.5) * 24) is within 0.1 of 23 or 24 (the face)."""
    part = (labels[..., 2:3, :, :] / 2 + 0.5) * 24  # (..., 1, H, W)
    face = ((part - 23).abs() < 0.1) | ((part - 24).abs() < 0.1)
    masked = labels.clone()
    masked[..., 0:3, :, :] = torch.where(face, torch.full_like(labels[..., 0:3, :, :], -1.0), labels[..., 0:3, :, :])
    return masked

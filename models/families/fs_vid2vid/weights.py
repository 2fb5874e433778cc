"""Weight generation of few-shot vid2vid (reference §3.3-3.4): reference encoder, attention over K references and
the per-layer MLPs that turn reference appearance into per-sample SPADE and label-embedding weights.

Reference encoder (images and labels as a batch of B*K): SN-Conv3x3 + BN + LReLU stem, `n` stride-2 blocks
(ch[i] -> ch[i+1]), then stride-1 "up" blocks (ch[j+1] -> ch[j]) without upsampling, giving F_j (ch[j] @ H/2^n).
With K > 1 the features are fused by attention after `n_downsample_attention` downsamplings (query from the target
label), so everything after that point depends on the current frame. "mul" fusion per scale j:
E_j = A_j softmax_c(S_j)^T, a (C x C) label-class-pooled appearance (A: image features, S: label features, summed
over pixels). The MLP of main-branch layer i reads the C = ch[i+1] rows of E_{i+1}. torch only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from models.families.fs_vid2vid.blocks import LRELU_SLOPE, BlockWeights, GeneratedConv, SpadeNorm, conv_bn_act, sn

WeightLayout = Literal["rows", "original"]
"""How the weight-generation MLP outputs become conv weights: "rows" (ours: one output channel per row, bias last)
or "original" (the reference's flat cut, see `LayerWeightMLPs._original`)."""


class AttentionModule(nn.Module):
    """Key from the reference labels, query from the target label (stem + stride-2 blocks to ch[a] @ H/2^a)."""

    def __init__(self, label_channels: int, ch: Sequence[int], n_downsample: int, norm: SpadeNorm = "batch") -> None:
        super().__init__()
        self.key_first = conv_bn_act(label_channels, ch[0], norm=norm)
        self.key_down = nn.ModuleList([conv_bn_act(ch[i], ch[i + 1], 2, norm=norm) for i in range(n_downsample)])
        self.query_first = conv_bn_act(label_channels, ch[0], norm=norm)
        self.query_down = nn.ModuleList([conv_bn_act(ch[i], ch[i + 1], 2, norm=norm) for i in range(n_downsample)])

    def keys(self, reference_labels: torch.Tensor) -> torch.Tensor:
        """(B, K, C, H, W) -> keys (B, Ca, K*h*w)."""
        b, k = reference_labels.shape[:2]
        x = self.key_first(reference_labels.flatten(0, 1))  # (B*K, ch[0], H, W)
        for down in self.key_down:
            x = down(x)  # (B*K, Ca, h, w) at the end
        return x.view(b, k, x.shape[1], -1).permute(0, 2, 1, 3).reshape(b, x.shape[1], -1)  # (B, Ca, K*h*w)

    def attend(self, keys: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """keys (B, Ca, K*h*w), target labels (B, C, H, W) -> attention (B, K*h*w, h*w), softmax over K*h*w."""
        q = self.query_first(labels)  # (B, ch[0], H, W)
        for down in self.query_down:
            q = down(q)  # (B, Ca, h, w) at the end
        energy = torch.bmm(keys.transpose(1, 2), q.flatten(2))  # (B, K*h*w, h*w)
        return torch.softmax(energy, dim=1)

    @staticmethod
    def fuse(features: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """features (B, K, C, h, w), attention (B, K*h*w, h*w) -> (B, C, h, w)."""
        b, k, c, h, w = features.shape
        flat = features.permute(0, 2, 1, 3, 4).reshape(b, c, k * h * w)  # (B, C, K*h*w)
        return torch.bmm(flat, attention).view(b, c, h, w)


@dataclass
class ReferenceHead:
    """Reference features up to the attention point (all of the encoder when K = 1): cacheable per reference set."""

    image: torch.Tensor  # (B, K, c, h, w)
    label: torch.Tensor  # (B, K, c, h, w)
    keys: torch.Tensor | None  # (B, Ca, K*h*w) attention keys; None when K = 1


@dataclass
class ReferenceEncoding:
    """Fused reference encoding for one target frame."""

    bottleneck: torch.Tensor  # (B, ch[n], H/2^n, W/2^n): the main branch starts here
    appearance: list[torch.Tensor]  # E_j for j = 1..n_adaptive, (B, ch[j], ch[j])
    attention: torch.Tensor | None  # (B, K*h*w, h*w); None when K = 1
    ref_index: torch.Tensor  # (B,) long, the reference with the most attention mass (0 when K = 1)


class ReferenceEncoder(nn.Module):
    """Reference image/label encoders and the optional attention module (built when `with_attention`)."""

    def __init__(self, label_channels: int, ch: Sequence[int], n_adaptive: int, n_downsample_attention: int,
                 with_attention: bool, norm: SpadeNorm = "batch") -> None:
        super().__init__()
        n = len(ch) - 1
        self.n_adaptive = n_adaptive
        self.n_downsample_attention = n_downsample_attention
        self.img_first = conv_bn_act(3, ch[0], norm=norm)
        self.label_first = conv_bn_act(label_channels, ch[0], norm=norm)
        self.img_down = nn.ModuleList([conv_bn_act(ch[i], ch[i + 1], 2, norm=norm) for i in range(n)])
        self.label_down = nn.ModuleList([conv_bn_act(ch[i], ch[i + 1], 2, norm=norm) for i in range(n)])
        # up_j (ch[j+1] -> ch[j]) for j = n-1..1: F_0 would feed no weight generator, so there is no up_0.
        self.img_up = nn.ModuleDict({str(j): conv_bn_act(ch[j + 1], ch[j], norm=norm) for j in range(1, n)})
        self.label_up = nn.ModuleDict({str(j): conv_bn_act(ch[j + 1], ch[j], norm=norm) for j in range(1, n)})
        self.attention = AttentionModule(label_channels, ch, n_downsample_attention, norm) if with_attention else None

    def head(self, images: torch.Tensor, labels: torch.Tensor) -> ReferenceHead:
        """images (B, K, 3, H, W), labels (B, K, C, H, W) -> features before attention (or all of them, K = 1)."""
        b, k = images.shape[:2]
        stop = len(self.img_down) if k == 1 else self.n_downsample_attention
        x = self.img_first(images.flatten(0, 1))  # (B*K, ch[0], H, W)
        s = self.label_first(labels.flatten(0, 1))  # (B*K, ch[0], H, W)
        for i in range(stop):
            x = self.img_down[i](x)  # (B*K, ch[i+1], H/2^(i+1), W/2^(i+1))
            s = self.label_down[i](s)
        keys = None if k == 1 else self._attention().keys(labels)  # (B, Ca, K*h*w)
        return ReferenceHead(image=x.unflatten(0, (b, k)), label=s.unflatten(0, (b, k)), keys=keys)

    def tail(self, head: ReferenceHead, target_labels: torch.Tensor | None) -> ReferenceEncoding:
        """Attention (K > 1, needs the target labels (B, C, H, W)), remaining downsamplings, up blocks, E_j."""
        b, k = head.image.shape[:2]
        if head.keys is None:
            x, s = head.image[:, 0], head.label[:, 0]  # (B, ch[n], h, w)
            attention = None
            ref_index = torch.zeros(b, dtype=torch.long, device=x.device)
        else:
            if target_labels is None:
                raise ValueError("with K > 1 references the encoding depends on the target labels")
            attention = self._attention().attend(head.keys, target_labels)  # (B, K*h*w, h*w)
            x = AttentionModule.fuse(head.image, attention)  # (B, c, h, w)
            s = AttentionModule.fuse(head.label, attention)
            ref_index = attention.view(b, k, -1).sum(dim=2).argmax(dim=1)  # (B,)
            for i in range(self.n_downsample_attention, len(self.img_down)):
                x = self.img_down[i](x)  # (B, ch[i+1], ...)
                s = self.label_down[i](s)
        bottleneck = x  # (B, ch[n], H/2^n, W/2^n)
        appearance: list[torch.Tensor] = []  # E_j, coarsest first while building
        for j in reversed(range(1, len(self.img_down) + 1)):
            if j < len(self.img_down):
                x = self.img_up[str(j)](x)  # (B, ch[j], H/2^n, W/2^n)
                s = self.label_up[str(j)](s)
            if j <= self.n_adaptive:
                a = x.flatten(2)  # (B, ch[j], P)
                p = torch.softmax(s.flatten(2), dim=1)  # (B, ch[j], P), softmax over channels
                appearance.append(torch.bmm(a, p.transpose(1, 2)))  # (B, ch[j], ch[j])
        return ReferenceEncoding(bottleneck=bottleneck, appearance=appearance[::-1], attention=attention,
                                 ref_index=ref_index)

    def _attention(self) -> AttentionModule:
        if self.attention is None:
            raise ValueError("this generator was built for K = 1 (max_references = 1); it has no attention module")
        return self.attention


def _mlp(c: int, n_out: int, n_fc_layers: int) -> nn.Sequential:
    """Per-row MLP: n_fc_layers x (SN-Linear(C, C) + LReLU), then SN-Linear(C, n_out)."""
    layers: list[nn.Module] = []
    for _ in range(n_fc_layers):
        layers += [sn(nn.Linear(c, c)), nn.LeakyReLU(LRELU_SLOPE)]
    layers.append(sn(nn.Linear(c, n_out)))
    return nn.Sequential(*layers)


@dataclass
class GeneratedWeights:
    """Everything the weight generator makes for one reference set (and, for K > 1, one target frame)."""

    blocks: list[BlockWeights]  # main-branch blocks i = 0..n_adaptive-1
    embed: list[GeneratedConv]  # label-embedding decoder convs i = 0..n_adaptive-1, (B, ch[i], ch[i+1])

    def to_dict(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for i, (block, embed) in enumerate(zip(self.blocks, self.embed, strict=True)):
            for name, conv in (("norm_0", block.norm_0), ("norm_1", block.norm_1), ("norm_s", block.norm_s),
                               ("embed", embed)):
                if conv is not None:
                    out[f"{i}.{name}.weight"] = conv.weight
                    out[f"{i}.{name}.bias"] = conv.bias
        return out

    @classmethod
    def from_dict(cls, tensors: dict[str, torch.Tensor], n_layers: int) -> GeneratedWeights:
        def conv(key: str) -> GeneratedConv:
            return GeneratedConv(weight=tensors[f"{key}.weight"], bias=tensors[f"{key}.bias"])

        blocks = [BlockWeights(norm_0=conv(f"{i}.norm_0"), norm_1=conv(f"{i}.norm_1"),
                               norm_s=conv(f"{i}.norm_s") if f"{i}.norm_s.weight" in tensors else None)
                  for i in range(n_layers)]
        return cls(blocks=blocks, embed=[conv(f"{i}.embed") for i in range(n_layers)])


class LayerWeightMLPs(nn.Module):
    """The MLPs of one adaptive layer i: SPADE γ/β for norm_0, norm_1, norm_s, and the embedding decoder conv.

    Rows: C = ch[i+1]. Row c of norm_0/norm_s gives (γ_c, β_c) as 1x1 conv weights + bias over the ch[i] label
    embedding channels. norm_1 normalises fmid = ch[i] channels, so each row carries C_out/C of its entries. The
    embed MLP gives row r = decoder input channel r: its weights to the ch[i] outputs, plus a shift b_r of that
    input channel (the conv is applied to x + b, i.e. bias = W b).
    """

    def __init__(self, c: int, map_channels: int, fmid: int, shortcut: bool, n_fc_layers: int,
                 layout: WeightLayout = "rows") -> None:
        super().__init__()
        self.map_channels = map_channels
        self.fmid = fmid
        self.layout = layout
        row = map_channels + 1
        self.spade_0 = _mlp(c, 2 * row, n_fc_layers)
        self.spade_1 = _mlp(c, 2 * fmid * row // c, n_fc_layers)
        self.spade_s = _mlp(c, 2 * row, n_fc_layers) if shortcut else None
        self.spade_e = _mlp(c, map_channels + 1, n_fc_layers)

    def forward(self, appearance: torch.Tensor) -> tuple[BlockWeights, GeneratedConv]:
        """appearance E_{i+1} (B, C, C) -> block weights and embedding-decoder conv for this layer."""
        if self.layout == "original":
            return self._original(appearance)
        norm_0 = self._spade(self.spade_0(appearance))
        norm_1 = self._spade(self.spade_1(appearance))
        norm_s = self._spade(self.spade_s(appearance)) if self.spade_s is not None else None
        e = self.spade_e(appearance)  # (B, C, ch[i] + 1)
        weight = e[..., :-1].transpose(1, 2)  # (B, ch[i], C)
        bias = torch.bmm(weight, e[..., -1:]).squeeze(-1)  # (B, ch[i])
        return BlockWeights(norm_0=norm_0, norm_1=norm_1, norm_s=norm_s), GeneratedConv(weight, bias)

    def _original(self, appearance: torch.Tensor) -> tuple[BlockWeights, GeneratedConv]:
        """The reference's layout: each MLP's outputs (B, C rows, n) are flattened row-major and cut, not per row:
        SPADE: first half γ, second half β, each [Cout·m weights (Cout, m), Cout biases] (the biases are not used by
        the reference's generated SPADE convs); embedding: [m·C weights (m, C) of the 1x1 conv C -> m, then m
        biases, then C - m entries the reference does not use]."""
        b, c, _ = appearance.shape
        m = self.map_channels

        def spade(out: torch.Tensor, channels: int) -> GeneratedConv:
            flat = out.reshape(b, -1)  # (B, 2·channels·(m+1))
            half = flat.shape[1] // 2
            weights = [part[:, : channels * m].view(b, channels, m) for part in (flat[:, :half], flat[:, half:])]
            return GeneratedConv(weight=torch.cat(weights, dim=1), bias=flat.new_zeros(b, 2 * channels))

        norm_0 = spade(self.spade_0(appearance), c)
        norm_1 = spade(self.spade_1(appearance), self.fmid)
        norm_s = spade(self.spade_s(appearance), c) if self.spade_s is not None else None
        flat = self.spade_e(appearance).reshape(b, -1)  # (B, C·(m+1))
        weight = flat[:, : c * m].view(b, m, c)  # (B, m, C): conv C -> m
        bias = flat[:, c * m: c * m + m]  # (B, m)
        return BlockWeights(norm_0=norm_0, norm_1=norm_1, norm_s=norm_s), GeneratedConv(weight, bias)

    def _spade(self, out: torch.Tensor) -> GeneratedConv:
        """(B, C, r*(m+1)) -> γ rows then β rows: weight (B, C*r, m), bias (B, C*r)."""
        b, c, n = out.shape
        row = self.map_channels + 1
        stacked = out.view(b, c, n // row, row).transpose(1, 2).reshape(b, -1, row)  # (B, 2*channels, m+1)
        return GeneratedConv(weight=stacked[..., :-1], bias=stacked[..., -1])


class WeightGenerator(nn.Module):
    """`fc[i]` for the n_adaptive finest main-branch layers (the reference's fc_spade_{0,1,s,e}_i)."""

    def __init__(self, ch: Sequence[int], n_adaptive: int, n_fc_layers: int, layout: WeightLayout = "rows") -> None:
        super().__init__()
        # layer i: fin = ch[i+1], fout = fmid = ch[i], label embedding ch[i]
        self.fc = nn.ModuleList([LayerWeightMLPs(ch[i + 1], ch[i], ch[i], ch[i + 1] != ch[i], n_fc_layers, layout)
                                 for i in range(n_adaptive)])

    def forward(self, appearance: Sequence[torch.Tensor]) -> GeneratedWeights:
        """appearance[i] = E_{i+1} (B, ch[i+1], ch[i+1]) for i = 0..n_adaptive-1."""
        blocks, embed = [], []
        for fc, e in zip(self.fc, appearance, strict=True):
            block, conv = fc(e)
            blocks.append(block)
            embed.append(conv)
        return GeneratedWeights(blocks=blocks, embed=embed)

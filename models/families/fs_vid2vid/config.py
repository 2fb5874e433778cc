"""few-shot vid2vid's architecture settings (`FewShotConfig`) and the named presets (reference §3.2, §3.10)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.families.fs_vid2vid.blocks import SpadeNorm, UpsampleMode


@dataclass(frozen=True)
class FewShotConfig:
    """Architecture of one few-shot vid2vid generator. Defaults are the paper code's pose setting (reference §3.2)."""

    label_channels: int
    """Channels of one label frame (pose: DensePose 3 + OpenPose 3 = 6; OpenPose only 3; face edges 1)."""
    ngf: int = 32
    max_channels: int = 1024
    """ch[i] = min(max_channels, ngf * 2^i), i = 0..n_downsample."""
    n_downsample: int = 5
    n_adaptive_layers: int = 4
    """Main-branch layers 0..n-1 (finest) whose SPADE and label-embedding decoder weights are generated."""
    n_fc_layers: int = 2
    """Hidden SN-Linear(C, C) layers of each weight-generation MLP (plus the output layer)."""
    max_references: int = 1
    """K the model accepts (paper `n_shot`). The attention encoders exist only when > 1; they are used when K > 1."""
    n_downsample_attention: int = 2
    norm: SpadeNorm = "batch"
    """Every normalisation layer of the generator: SPADE (parameter-free) and the affine norms of the reference
    encoder, attention and flow networks. "batch" is the paper's (SyncBN over batch 30). "instance" for models
    trained with batch 1-2 on one machine: BN in train mode then normalises each sample by its own statistics but
    serves with running averages that lag behind, so eval-mode output differs from what was trained."""
    warp_reference: bool = True
    """Warp the chosen reference onto the current frame (pose, face). The street setting turns it off."""
    reference_choice: Literal["attention", "nearest_label"] = "attention"
    """Which of K > 1 references is warped (and paired with the frame for D): "attention" = the one with the most
    attention mass (the paper); "nearest_label" = the one whose label map is nearest (mean |difference|) to the
    current frame's, i.e. the closest pose. A departure measured on our people model: with "attention" more
    references scored worse than one (the attention mass often picked a far pose); the fused features were fine."""
    spade_combine: bool = True
    """Feed cat(warped image, mask) embeddings as extra SPADE maps instead of blending by masks."""
    blend_reference: bool = False
    """Ours: move the output toward the warped reference by a per-pixel weight that a zero-initialised head learns
    (`blend.BlendHead`)."""
    blend_previous: bool = False
    """Ours: the same toward the warped previous frame (after the reference blend when both are on)."""
    background_gate: float = 0.0
    """Ours, no weights, pose labels: pixels farther than this share of the frame height from every drawn pixel of
    the current and the chosen reference's pose map are the warped reference itself, with a ramp toward the limbs
    (`background_gate.py`); before the previous-frame blend. 0 = off."""
    n_sc_layers: int = 2
    separate_temporal_flow: bool = False
    """A second flow network for the previous frame (the paper shares one when warp_reference is on)."""
    flow_ngf: int = 32
    flow_n_downsample: int = 3
    flow_n_blocks: int = 6
    flow_multiplier: float = 20.0
    flow_layout: Literal["original", "legacy"] = "original"
    """Flow networks as the reference builds them ("original": stem/down/up convs without bias, residual blocks
    BN -> LReLU -> conv -> BN -> LReLU -> conv plus the input, plain flow/mask heads) or as our first models were
    trained ("legacy": biased convs, conv -> norm -> activation residual blocks, spectral-normed heads)."""
    spectral_norm: Literal["original", "everywhere"] = "original"
    """"original": spectral norm only where the reference has it (not on the label embedding, the warped-image
    embeddings, SPADE's γ/β convs or conv_img); "everywhere": the legacy layout of our first models."""
    warp_rounding: Literal["ours", "original"] = "ours"
    """Flow normalisation for `grid_sample` ("original": bit for bit like the reference, for imported models)."""
    remove_face_labels: bool = False
    """The reference pose setting's `--remove_face_labels`: DensePose channels 0..2 set to -1 on face parts 23 and 24
    (read from channel 2) of the target and reference labels, inside the generator."""
    upsample: UpsampleMode = "nearest"
    """Every 2x up-sampling of the generator (main branch, label embeddings, flow networks): the reference's
    "nearest", or "bilinear" (ours; same weights). Nearest copies each pixel into a 2x2 block whose edges the convs
    after it can read, and our trained people model printed a 2-pixel grid with them (2.5 dB above the ground
    truth's spectrum on 4 test clips; the same weights with bilinear: 1.1 dB, PSNR and warping error no worse)."""
    weight_layout: Literal["rows", "original"] = "rows"
    """How generated SPADE / embedding weights are cut from the MLP outputs (`weights.LayerWeightMLPs`): "original"
    is the reference's (imported models), "rows" ours (trained models)."""

    def __post_init__(self) -> None:
        if not 1 <= self.n_adaptive_layers <= self.n_downsample:
            raise ValueError(f"n_adaptive_layers must be in 1..n_downsample={self.n_downsample}")
        if not 1 <= self.n_downsample_attention <= self.n_downsample:
            raise ValueError(f"n_downsample_attention must be in 1..n_downsample={self.n_downsample}")
        if self.spade_combine and not 1 <= self.n_sc_layers <= self.n_downsample + 1:
            raise ValueError(f"n_sc_layers must be in 1..{self.n_downsample + 1} with spade_combine")
        if not 0.0 <= self.background_gate <= 0.5 or (self.background_gate and not self.warp_reference):
            raise ValueError("background_gate must be in 0..0.5 and needs warp_reference")
        if self.max_references < 1:
            raise ValueError("max_references must be at least 1")

    @property
    def channels(self) -> tuple[int, ...]:
        """ch[i] for i = 0..n_downsample."""
        return tuple(min(self.max_channels, self.ngf * 2**i) for i in range(self.n_downsample + 1))

    @property
    def size_multiple(self) -> int:
        """Height and width must be multiples of this."""
        return 2 ** max(self.n_downsample, self.flow_n_downsample)


PRESETS: dict[str, FewShotConfig] = {
    # Tests: tiny and fast (32x32 or 64x64), K up to 8.
    "fs_vid2vid-tiny": FewShotConfig(label_channels=3, ngf=8, max_channels=64, n_downsample=3, n_adaptive_layers=2,
                                     n_fc_layers=1, max_references=8, flow_ngf=8, flow_n_blocks=1, norm="instance"),
    # Shipped people model: OpenPose RGB renderings, 256x128 (H x W), K = 1..8, CPU-trainable (batch 1: instance
    # norm everywhere, see FewShotConfig.norm); bilinear up-sampling (ours, see FewShotConfig.upsample).
    "fs_vid2vid-people-small": FewShotConfig(label_channels=3, ngf=16, max_channels=128, n_downsample=4,
                                             n_adaptive_layers=3, max_references=8, flow_ngf=16,
                                             flow_n_blocks=2, norm="instance", upsample="bilinear"),
    # Paper scale (reference §3.2, §3.10): 112.1 M parameters with K = 1.
    "fs_vid2vid-pose-256": FewShotConfig(label_channels=6),
    "fs_vid2vid-face-256": FewShotConfig(label_channels=1),
}

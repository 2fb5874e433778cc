"""Import a generator checkpoint written by NVlabs' original few-shot vid2vid code (`<epoch>_net_G.pth`) into our
`FewShotGenerator`.

Keys are translated by name (reference layout, README of the shared fixtures): old-API spectral norm
(`weight_orig`, `weight_u`, `weight_v`) becomes our parametrization (`parametrizations.weight.original`, `.0._u`,
`.0._v`; u and v are loaded as stored, never recomputed); `flow_network_temp.*` must equal `flow_network_ref.*` (one
module under two names) and is dropped; `ref_{img,label}_up_0.*` run in the reference but feed nothing and are
dropped. Everything else maps one to one: a tensor left over, missing or of another shape is an error naming it.
The architecture (ngf, n_downsample, n_adaptive_layers, K > 1, SPADE combine layers, flow network size) is read from
the shapes. torch only.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import torch

from models.core.state_import import ImportMismatch, ImportResult, read_state_dict
from models.families.fs_vid2vid.generator import PRESETS, FewShotConfig, FewShotGenerator

DROPPED = re.compile(r"^(flow_network_temp\.|ref_img_up_0\.|ref_label_up_0\.)")
RULES: list[tuple[str, str]] = [
    (r"^ref_(img|label)_first\.conv\.", r"reference_encoder.\1_first.0."),
    (r"^ref_(img|label)_first\.bn\.", r"reference_encoder.\1_first.1."),
    (r"^ref_(img|label)_(down|up)_(\d+)\.conv\.", r"reference_encoder.\1_\2.\3.0."),
    (r"^ref_(img|label)_(down|up)_(\d+)\.bn\.", r"reference_encoder.\1_\2.\3.1."),
    (r"^atn_(key|query)_first\.conv\.", r"reference_encoder.attention.\1_first.0."),
    (r"^atn_(key|query)_first\.bn\.", r"reference_encoder.attention.\1_first.1."),
    (r"^atn_(key|query)_(\d+)\.conv\.", r"reference_encoder.attention.\1_down.\2.0."),
    (r"^atn_(key|query)_(\d+)\.bn\.", r"reference_encoder.attention.\1_down.\2.1."),
    (r"^fc_spade_([01se])_(\d+)\.", r"weight_generator.fc.\2.spade_\1."),
    (r"^(label_embedding|img_ref_embedding|img_prev_embedding)\.conv_first\.0\.", r"\1.conv_first."),
    (r"^(label_embedding|img_ref_embedding|img_prev_embedding)\.down_(\d+)\.0\.", r"\1.down.\2."),
    (r"^(label_embedding|img_ref_embedding|img_prev_embedding)\.up_(\d+)\.1\.", r"\1.up.\2."),
    (r"^up_(\d+)\.bn_([01s])\.mlp_(gamma|beta)\.", r"up.\1.norm_\2.first.mlp_\3."),
    (r"^up_(\d+)\.bn_([01s])\.mlp_(gamma|beta)2\.", r"up.\1.norm_\2.extra.0.mlp_\3."),
    (r"^up_(\d+)\.bn_([01s])\.mlp_(gamma|beta)3\.", r"up.\1.norm_\2.extra.1.mlp_\3."),
    (r"^up_(\d+)\.bn_([01s])\.norm\.", r"up.\1.norm_\2.norm."),
    (r"^up_(\d+)\.conv_([01s])\.", r"up.\1.conv_\2."),
    (r"^flow_network_ref\.res_flow\.(\d+)\.bn_0\.", r"flow_network_ref.blocks.\1.body.0."),
    (r"^flow_network_ref\.res_flow\.(\d+)\.conv_0\.", r"flow_network_ref.blocks.\1.body.2."),
    (r"^flow_network_ref\.res_flow\.(\d+)\.bn_1\.", r"flow_network_ref.blocks.\1.body.3."),
    (r"^flow_network_ref\.res_flow\.(\d+)\.conv_1\.", r"flow_network_ref.blocks.\1.body.5."),
    (r"^flow_network_ref\.conv_(flow|mask)\.0\.", r"flow_network_ref.conv_\1."),
    (r"^conv_img\.", "conv_img."),
]
SPECTRAL = {"weight_orig": "parametrizations.weight.original", "weight_u": "parametrizations.weight.0._u",
            "weight_v": "parametrizations.weight.0._v"}


def translate(key: str) -> str | None:
    """Our key for a reference key; None for keys that are dropped (see the module docstring)."""
    if DROPPED.match(key):
        return None
    m = re.match(r"^flow_network_ref\.(down|up)_flow\.(\d+)\.(\d)\.(.+)$", key)
    if m:  # Sequential positions: down_flow 0 (stem), 2, 4, ... ; up_flow 1, 4, 7, ... (after each Upsample)
        pos = int(m[2])
        if m[1] == "down" and pos == 0:
            return _leaf(f"flow_network_ref.first.{m[3]}.{m[4]}")
        index = pos // 2 - 1 if m[1] == "down" else (pos - 1) // 3
        return _leaf(f"flow_network_ref.{m[1]}.{index}.{m[3]}.{m[4]}")
    for pattern, replacement in RULES:
        new, n = re.subn(pattern, replacement, key)
        if n:
            return _leaf(new)
    raise ImportMismatch(f"tensor {key} has no place in our few-shot generator")


def _leaf(key: str) -> str:
    module, _, leaf = key.rpartition(".")
    return f"{module}.{SPECTRAL[leaf]}" if leaf in SPECTRAL else key


def _count(sd: dict[str, torch.Tensor], pattern: str) -> int:
    return len({m[1] for k in sd if (m := re.match(pattern, k))})


def infer_config(sd: dict[str, torch.Tensor], where: str) -> FewShotConfig:
    """Our config from the reference state dict's shapes."""
    try:
        ngf, label_ch = sd["ref_label_first.conv.weight_orig"].shape[:2]
        n_down = _count(sd, r"^ref_img_down_(\d+)\.")
        ch_n = int(sd[f"ref_img_down_{n_down - 1}.conv.weight_orig"].shape[0])
        n_adaptive = _count(sd, r"^fc_spade_0_(\d+)\.")
        n_fc = _count(sd, r"^fc_spade_0_0\.(\d+)\.weight") - 1
        n_attention = _count(sd, r"^atn_key_(\d+)\.")
        n_sc = _count(sd, r"^up_(\d+)\.bn_0\.mlp_gamma[23]\.")
        warp_ref = any(k.startswith("flow_network_ref.") for k in sd)
        flow_ngf = int(sd["flow_network_ref.down_flow.0.0.weight_orig"].shape[0])
        flow_down = _count(sd, r"^flow_network_ref\.down_flow\.(\d+)\.") - 1
        flow_blocks = _count(sd, r"^flow_network_ref\.res_flow\.(\d+)\.")
    except KeyError as exc:
        raise ImportMismatch(f"{where}: {exc.args[0]} missing: not a few-shot vid2vid generator of the pose/face "
                             "layout (adaptive SPADE, warp_ref, SPADE combine)") from exc
    max_channels = ch_n if ch_n < int(ngf) * 2**n_down else 1024
    return FewShotConfig(
        label_channels=int(label_ch), ngf=int(ngf), max_channels=max_channels, n_downsample=n_down,
        n_adaptive_layers=n_adaptive, n_fc_layers=n_fc, max_references=2 if n_attention else 1,
        n_downsample_attention=n_attention or 2, norm="batch", warp_reference=warp_ref, reference_choice="attention",
        spade_combine=n_sc > 0, n_sc_layers=n_sc or 2, flow_ngf=flow_ngf, flow_n_downsample=flow_down,
        flow_n_blocks=flow_blocks, flow_layout="original", spectral_norm="original", warp_rounding="original",
        remove_face_labels=int(label_ch) == 6,
        weight_layout="original",
    )


def map_state_dict(sd: dict[str, torch.Tensor], config: FewShotConfig, where: str) -> dict[str, torch.Tensor]:
    """Our state dict: every reference tensor translated, shapes checked, nothing left over or missing."""
    for key, value in sd.items():
        if key.startswith("flow_network_temp."):
            twin = "flow_network_ref." + key.removeprefix("flow_network_temp.")
            if twin not in sd or not torch.equal(sd[twin], value):
                raise ImportMismatch(f"{where}: {key} differs from {twin} (a separate temporal flow network is not "
                                     "supported)")
    with torch.device("meta"):
        ours = FewShotGenerator(config).state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        target = translate(key)
        if target is None:
            continue
        if target not in ours:
            raise ImportMismatch(f"{where}: tensor {key} {tuple(value.shape)} maps to {target}, which our "
                                 "architecture does not have")
        if tuple(ours[target].shape) != tuple(value.shape):
            raise ImportMismatch(f"{where}: tensor {key} {tuple(value.shape)} does not fit our {target} "
                                 f"{tuple(ours[target].shape)}")
        out[target] = value.to(ours[target].dtype)
    for key, value in ours.items():
        if key not in out:
            if key.endswith("num_batches_tracked"):
                out[key] = torch.zeros((), dtype=value.dtype)  # torch-0.4 files have none
            else:
                raise ImportMismatch(f"{where}: our {key} {tuple(value.shape)} has no tensor in the file")
    return out


def import_checkpoint(folder: Path, options: dict[str, Any]) -> ImportResult:
    """`v2v import` for few-shot vid2vid: the `<epoch>_net_G.pth` under `folder`."""
    epoch = options.get("epoch") or "latest"
    files = sorted(folder.rglob(f"{epoch}_net_G.pth")) if folder.is_dir() else [folder]
    if len(files) != 1:
        raise FileNotFoundError(f"expected one {epoch}_net_G.pth under {folder}, found {[str(f) for f in files]}")
    sd = read_state_dict(files[0])
    config = infer_config(sd, str(files[0]))
    state = map_state_dict(sd, config, str(files[0]))
    preset = "fs_vid2vid-pose-256"
    labels = {"type": "pose", "num_classes": 0, "channels": config.label_channels}
    if options.get("remove_face_labels") is not None:
        config = dataclasses.replace(config, remove_face_labels=bool(options["remove_face_labels"]))
    base, ours = dataclasses.asdict(PRESETS[preset]), dataclasses.asdict(config)
    overrides = {k: (list(v) if isinstance(v, tuple) else v) for k, v in ours.items() if v != base[k]}
    notes = [f"label frames: DensePose IUV and OpenPose renderings side by side (6 channels); remove_face_labels "
             f"{config.remove_face_labels}"] if config.label_channels == 6 else []
    return ImportResult(preset, overrides, {"generator": state}, labels, [str(files[0])], notes)

"""Import checkpoints written by NVIDIA's original vid2vid code (`latest_net_G0.pth` ... per spatial scale, plus the
pix2pixHD single-image first-frame generator `latest_net_G_<size>.pth`) into our `Vid2VidGenerator` /
`SingleImageGenerator`, exactly.

The architecture is read from the tensor shapes (reference §1.3-1.6): label and previous-frame input widths give
n_frames_G and the label channels, the Sequential indices give n_downsample / n_blocks / n_blocks_local, the presence
of `indv_*` gives the foreground branch, affine norm parameters give BatchNorm. What shapes cannot tell (which label
channels are foreground) comes from the original option names. Imported models run BatchNorm with per-frame statistics
by default (`norm_statistics="per_frame"`), as the original test script did. torch only.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from models.core.state_import import (
    GroupMap,
    ImportMismatch,
    ImportResult,
    group_of,
    instance_norm_buffers,
    map_state_dict,
    read_state_dict,
)
from models.families.vid2vid.generator import Vid2VidConfig, Vid2VidGenerator
from models.families.vid2vid.layers import NormStatistics
from models.families.vid2vid.single import SingleImageConfig, SingleImageGenerator

SCALE_FILE = re.compile(r"^(?P<epoch>.+)_net_G(?P<scale>\d+)\.pth$")
SINGLE_FILE = re.compile(r"^(?P<epoch>.+)_net_G_(?P<size>\d+)\.pth$")


@dataclass
class OriginalFiles:
    """The files of one original vid2vid model."""

    scales: list[Path]  # latest_net_G0.pth (coarsest) ... G{S-1}
    single: Path | None  # the first-frame generator, if any


@dataclass
class ImportedVid2Vid:
    """Our config and state dicts for an original checkpoint."""

    config: Vid2VidConfig
    generator: dict[str, torch.Tensor]
    first_frame: dict[str, torch.Tensor] | None
    label_nc: int
    """Classes of the one-hot part (the instance-edge channel, when there, is label channel label_nc)."""
    use_instance: bool


def find_files(folder: Path, epoch: str = "latest", single: Path | None = None) -> OriginalFiles:
    """`<epoch>_net_G<s>.pth` under `folder` (one model: all in one directory) and a single-image generator
    `<epoch>_net_G_<size>.pth` under it (or `single`)."""
    found: dict[Path, dict[int, Path]] = {}
    singles: list[Path] = []
    for path in sorted(folder.rglob("*.pth")):
        m = SCALE_FILE.match(path.name)
        if m and m["epoch"] == epoch:
            found.setdefault(path.parent, {})[int(m["scale"])] = path
        elif SINGLE_FILE.match(path.name):
            singles.append(path)
    if not found:
        raise FileNotFoundError(f"no {epoch}_net_G0.pth under {folder} (an original vid2vid checkpoint folder has "
                                "one file per spatial scale, e.g. checkpoints/label2city_2048/latest_net_G0.pth)")
    if len(found) > 1:
        raise ValueError(f"several vid2vid models under {folder}: {sorted(str(p) for p in found)}; pass one folder")
    by_scale = next(iter(found.values()))
    if sorted(by_scale) != list(range(len(by_scale))):
        raise ValueError(f"scale files {sorted(by_scale)} under {folder} are not 0..S-1")
    if single is None and len(singles) > 1:
        raise ValueError(f"several single-image generators under {folder}: {[str(p) for p in singles]}; choose one "
                         "with --single-g")
    return OriginalFiles([by_scale[s] for s in range(len(by_scale))], single or (singles[0] if singles else None))


def _indices(sd: dict[str, torch.Tensor], group: str) -> list[int]:
    """Sequential indices directly under `group` that hold tensors, ascending."""
    return sorted({int(k.split(".")[1]) for k in sd if group_of(k) == group})


def _n_res(sd: dict[str, torch.Tensor], group: str) -> int:
    return len({k.split(".")[1] for k in sd if group_of(k) == group and ".conv_block." in k})


def _n_convs(sd: dict[str, torch.Tensor], group: str) -> int:
    """Plain (non-residual) convolutions of a Sequential group: its 4-d weights outside residual blocks."""
    return sum(1 for k, v in sd.items() if group_of(k) == group and k.count(".") == 2 and v.dim() == 4)


def _norm_of(sd: dict[str, torch.Tensor], where: str) -> str:
    stem = _indices(sd, "model_down_seg")
    if len(stem) < 2:
        raise ImportMismatch(f"{where}: model_down_seg has no conv + norm stem")
    return "batch" if f"model_down_seg.{stem[1]}.weight" in sd else "instance"


def infer_config(scales: list[dict[str, torch.Tensor]], single: dict[str, torch.Tensor] | None,
                 fg_labels: tuple[int, ...], norm_statistics: NormStatistics, label_nc: int | None,
                 names: list[str]) -> tuple[Vid2VidConfig, int, bool]:
    """Our config from the shapes (see the module docstring); returns (config, label_nc, use_instance)."""
    g0 = scales[0]
    for key in ("model_down_seg.1.weight", "model_down_img.1.weight"):
        if key not in g0:
            raise ImportMismatch(f"{names[0]}: {key} missing: not a vid2vid CompositeGenerator file")
    ngf, label_in = g0["model_down_seg.1.weight"].shape[:2]
    prev_in = g0["model_down_img.1.weight"].shape[1]
    if prev_in % 3:
        raise ImportMismatch(f"{names[0]}: previous-frame input has {prev_in} channels, not a multiple of 3")
    n_frames = prev_in // 3 + 1
    if label_in % n_frames:
        raise ImportMismatch(f"{names[0]}: label input {label_in} is not n_frames_G={n_frames} label frames")
    label_ch = label_in // n_frames
    n_down = _n_convs(g0, "model_down_seg") - 1
    n_blocks = _n_res(g0, "model_down_seg") + _n_res(g0, "model_res_img")
    use_fg = any(group_of(k) == "indv_down" for k in g0)
    no_flow = not any(group_of(k) == "model_final_flow" for k in g0)
    n_blocks_local = _n_res(scales[1], "model_up_img") if len(scales) > 1 else 3
    if label_nc is None:
        single_in = None
        if single is not None:
            first = "model1_1.1.weight" if "model1_1.1.weight" in single else "model.1.weight"
            single_in = int(single[first].shape[1])
        label_nc = single_in if single_in is not None else (label_ch - 1 if label_ch == 36 else label_ch)
    if label_ch not in (label_nc, label_nc + 1):
        raise ImportMismatch(f"{names[0]}: {label_ch} label channels per frame do not fit label_nc {label_nc} "
                             "(+1 with instance maps)")
    config = Vid2VidConfig(
        label_channels=int(label_ch), n_frames_G=n_frames, ngf=int(ngf), n_downsample=n_down, n_blocks=n_blocks,
        n_blocks_local=n_blocks_local, n_scales_spatial=len(scales), norm=_norm_of(g0, names[0]),  # type: ignore
        norm_statistics=norm_statistics, warp_rounding="original", use_fg=use_fg,
        fg_labels=fg_labels if use_fg else (26,), no_flow=no_flow,
        first_frame="single_image" if single is not None else "zeros",
        single_image=infer_single_config(single) if single is not None else None,
    )
    return config, label_nc, label_ch == label_nc + 1


def infer_single_config(sd: dict[str, torch.Tensor]) -> SingleImageConfig:
    """pix2pixHD GlobalGenerator (`model.*`) or LocalEnhancer with one enhancer (`model.*`, `model1_1.*`,
    `model1_2.*`); instance norm as the original first-frame loader builds them."""
    local = "model1_1.1.weight" in sd
    if "model.1.weight" not in sd:
        raise ImportMismatch("single-image generator: model.1.weight missing: not a pix2pixHD generator file")
    in_ch = int(sd["model.1.weight"].shape[1])
    n_down = sum(1 for k, v in sd.items() if group_of(k) == "model" and k.count(".") == 2 and v.dim() == 4
                 and v.shape[-1] == 3 and not _is_transpose(sd, k))
    n_blocks = _n_res(sd, "model")
    if local:
        ngf = int(sd["model1_1.1.weight"].shape[0])
        return SingleImageConfig(input_channels=in_ch, ngf=ngf, n_downsample=n_down, n_blocks=n_blocks,
                                 kind="local", n_blocks_local=_n_res(sd, "model1_2"))
    return SingleImageConfig(input_channels=in_ch, ngf=int(sd["model.1.weight"].shape[0]), n_downsample=n_down,
                             n_blocks=n_blocks)


def _is_transpose(sd: dict[str, torch.Tensor], key: str) -> bool:
    """A ConvTranspose2d weight is (in, out, k, k): its bias has shape[1] entries, a Conv2d's has shape[0]."""
    bias = sd.get(key[: -len("weight")] + "bias")
    w = sd[key]
    return bias is not None and w.shape[0] != w.shape[1] and bias.shape[0] == w.shape[1]


def _scale_groups(coarsest: bool, use_fg: bool, use_flow: bool) -> list[GroupMap]:
    if coarsest:
        groups = [GroupMap(("model_down_seg",), "label_encoder"), GroupMap(("model_down_img",), "prev_encoder"),
                  GroupMap(("model_res_img", "model_up_img"), "image_decoder"),
                  GroupMap(("model_final_img",), "image_head")]
        if use_flow:
            groups += [GroupMap(("model_res_flow", "model_up_flow"), "flow_decoder"),
                       GroupMap(("model_final_flow",), "flow_head"), GroupMap(("model_final_w",), "mask_head")]
        if use_fg:
            groups += [GroupMap(("indv_down",), "fg.encoder"), GroupMap(("indv_res", "indv_up"), "fg.decoder"),
                       GroupMap(("indv_final",), "fg.head")]
        return groups
    groups = [GroupMap(("model_down_seg",), "label_down"), GroupMap(("model_down_img",), "prev_down"),
              GroupMap(("model_up_img",), "image_up"), GroupMap(("model_final_img",), "image_head")]
    if use_flow:
        groups += [GroupMap(("model_up_flow",), "flow_up"), GroupMap(("model_final_flow",), "flow_head"),
                   GroupMap(("model_final_w",), "mask_head")]
    if use_fg:
        groups += [GroupMap(("indv_down",), "fg_down"), GroupMap(("indv_up",), "fg_up"),
                   GroupMap(("indv_final",), "fg_head")]
    return groups


def import_original(files: OriginalFiles, fg_labels: tuple[int, ...] = (26,),
                    norm_statistics: NormStatistics = "per_frame", label_nc: int | None = None) -> ImportedVid2Vid:
    """Read, infer, map and check (a strict load into freshly built networks) an original vid2vid model."""
    names = [str(p) for p in files.scales]
    scales = [read_state_dict(p) for p in files.scales]
    single = read_state_dict(files.single) if files.single is not None else None
    config, label_nc, use_instance = infer_config(scales, single, fg_labels, norm_statistics, label_nc, names)
    with torch.device("meta"):
        gen = Vid2VidGenerator(config)
    state: dict[str, torch.Tensor] = {}
    for s, (sd, name) in enumerate(zip(scales, names, strict=True)):
        groups = _scale_groups(s == 0, config.use_fg, not config.no_flow)
        mapped = map_state_dict(sd, gen.scales[s], groups, name)
        state.update({f"scales.{s}.{k}": v for k, v in mapped.items()})
    _check_strict(Vid2VidGenerator, config, state)
    first = None
    if single is not None and config.single_image is not None:
        first = map_single(single, config.single_image, str(files.single))
    return ImportedVid2Vid(config, state, first, label_nc, use_instance)


def map_single(sd: dict[str, torch.Tensor], config: SingleImageConfig, where: str) -> dict[str, torch.Tensor]:
    """The single-image generator's state dict in our layout (instance-norm running statistics are dropped: the
    original runs those layers in training mode, so they never read them)."""
    with torch.device("meta"):
        single = SingleImageGenerator(config)
    ignore = instance_norm_buffers(sd) if config.norm == "instance" else []
    if config.kind == "local":
        net = single.net
        parts = {"model": _Chain(net.global_encoder, net.global_decoder), "model1_1": _Chain(net.local_down),
                 "model1_2": _Chain(net.local_up, net.head)}
        out: dict[str, torch.Tensor] = {}
        prefixes = {"model": ("global_encoder", "global_decoder"), "model1_1": ("local_down",),
                    "model1_2": ("local_up", "head")}
        for group, module in parts.items():
            mapped = map_state_dict({k: v for k, v in sd.items() if group_of(k) == group}, module,
                                    [GroupMap((group,), "")], where, ignore)
            for k, v in mapped.items():
                out[f"net.{_unchain(k, prefixes[group])}"] = v
        stray = [k for k in sd if group_of(k) not in parts and k not in ignore]
        if stray:
            raise ImportMismatch(f"{where}: tensor {stray[0]} has no place in a local single-image generator")
    else:
        out = map_state_dict(sd, single, [GroupMap(("model",), "net")], where, ignore)
    _check_strict(SingleImageGenerator, config, out)
    return out


class _Chain(torch.nn.Sequential):
    """Two modules seen as one Sequential (children "0", "1") for positional mapping."""


def _unchain(key: str, names: tuple[str, ...]) -> str:
    index, rest = key.split(".", 1)
    return f"{names[int(index)]}.{rest}"


def _check_strict(build: type, config: object, state: dict[str, torch.Tensor]) -> None:
    with torch.device("meta"):
        module = build(config)
    module.load_state_dict(state, strict=True, assign=True)


def imported_overrides(config: Vid2VidConfig, base: Vid2VidConfig) -> dict[str, object]:
    """The fields of `config` that differ from preset `base` (JSON-ready, for a model card's `config`)."""
    from models.core.checkpoints import config_to_dict

    ours, theirs = config_to_dict(config), config_to_dict(base)
    return {f.name: ours[f.name] for f in dataclasses.fields(config) if ours[f.name] != theirs[f.name]}


def import_checkpoint(folder: Path, options: dict[str, Any]) -> ImportResult:
    """`v2v import` for vid2vid: options "epoch", "single_g", "fg_labels", "norm_statistics", "label_nc"."""
    from models.families.vid2vid.generator import PRESETS

    single = options.get("single_g")
    files = find_files(folder, options.get("epoch") or "latest", Path(single) if single else None)
    imported = import_original(files, tuple(options.get("fg_labels") or (26,)),
                               options.get("norm_statistics") or "per_frame", options.get("label_nc"))
    preset = "vid2vid-cityscapes-2048"
    weights = {"generator": imported.generator}
    notes = []
    if imported.first_frame is not None:
        weights["first_frame"] = imported.first_frame
    else:
        notes.append("no single-image generator found: streams start from zero history (the raw hallucination "
                     "first); NVIDIA's models start from label2city_single/latest_net_G_<size>.pth (--single-g)")
    channels = imported.config.label_channels
    labels = {"type": "segmentation", "num_classes": imported.label_nc, "channels": channels}
    return ImportResult(preset, imported_overrides(imported.config, PRESETS[preset]), weights, labels,
                        [str(p) for p in [*files.scales, *([files.single] if files.single else [])]], notes)

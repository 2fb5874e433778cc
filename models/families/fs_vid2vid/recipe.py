"""Few-shot vid2vid's training recipe: vid2vid's translate recipe with references, its own defaults and update order.

Differences from `VideoRecipe` (reference §3.7-3.8): each clip starts from K references drawn from the same sequence
(K fixed, or drawn per step from [min_references, references]); the first `single_frame_steps` steps train on single
frames; the Ds step first, then G; the image discriminator is spectral-normalised and sees the chosen reference; the
previous-frame mask is scored against the warped previous frame; hinge GAN, TTUR, base lr 4e-4, no temporal D.
Adam betas as in the reference: (0, 0.999) with TTUR (the default); `--no-ttur` gives (0.5, 0.999).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from models.core.checkpoints import config_overrides_from_json
from models.families.fs_vid2vid.generator import PRESETS, FewShotGenerator
from models.families.vid2vid import schedule
from models.families.vid2vid.objectives import ClipTensors, DiscriminatorStyle, GeneratedFrame, generator_terms
from models.families.vid2vid.recipe import VideoRecipe


class FewShotRecipe(VideoRecipe):
    family = "fs_vid2vid"
    discriminator_style = DiscriminatorStyle(spectral=True, norm_eps=0.1, with_reference=True)
    d_first = True
    ttur_betas = (0.0, 0.999)
    defaults: dict[str, Any] = {"gan_mode": "hinge", "ttur": True, "lr": 4e-4, "num_D": 1, "n_layers_D": 4,
                                "ndf": 32, "norm_D": "instance", "n_scales_temporal": 0, "lambda_mask": 10.0}

    def preset_config(self) -> Any:
        if self.config.preset not in PRESETS:
            raise KeyError(f"unknown fs_vid2vid preset {self.config.preset!r}; valid: {', '.join(sorted(PRESETS))}")
        return PRESETS[self.config.preset]

    def history_frames(self, base: Any) -> int:
        return 0

    def max_references(self) -> int:
        return self.config.references

    def build_generator(self, base: Any) -> nn.Module:
        import dataclasses

        return FewShotGenerator(dataclasses.replace(base, **config_overrides_from_json(type(base), self.overrides)))

    def references_at(self, step: int) -> int:
        return schedule.references_at(self.config, step)

    def start_stream(self, clip: ClipTensors) -> tuple[Any, int]:
        return self.gen.start(references=clip.references, reference_labels=clip.reference_labels), 0  # type: ignore

    def step_stream(self, labels_t: torch.Tensor, state: Any, step: int) -> tuple[Any, Any]:
        single = schedule.single_frame_phase(self.config, step)
        return self.gen.step(labels_t, state, single_frame=single)  # type: ignore[operator]  # keeps prev detached

    def as_generated(self, out: Any, t: int, prev: torch.Tensor | None) -> GeneratedFrame:
        first = out.flow_prev is None
        return GeneratedFrame(t=t, frame=out.frame, raw=out.raw, flow=out.flow_prev, warped_prev=out.warped_prev,
                              mask_prev=out.mask_prev, warped_ref=out.warped_ref, mask_ref=out.mask_ref,
                              prev_fake=None if first else prev, ref_index=out.ref_index)

    def generator_losses(self, clip: ClipTensors, generated: list[GeneratedFrame], fake_sequence: torch.Tensor
                         ) -> dict[str, torch.Tensor]:
        return generator_terms(self.config, self.disc, clip, generated, fake_sequence, few_shot_masks=True)

    def freeze_coarse(self, frozen: bool) -> None:
        return None

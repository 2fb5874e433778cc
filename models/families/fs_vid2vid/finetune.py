"""Few-shot vid2vid: optional short fine-tuning of a generator on the reference pair(s) of one job (reference §3.9,
§4.4: "100 iterations on the reference pair(s) only; targets are randomly rolled references; only fc*, conv_img, up*
of G are trained, plus all of D").

Differences from the paper, on purpose:
* No discriminator. The paper also fine-tunes D and uses the GAN + feature-matching + VGG terms; here the L1
  reconstruction term stands in for them, as it does in our training (`models.families.vid2vid.schedule.l1_weight`).
* No warp-reference / mask terms: the flow network that produces the warped reference and its mask is not among the
  fine-tuned parameters (and its inputs do not depend on them), so those terms would have no gradient.
* The generator runs in eval mode throughout (gradients still flow): batch-norm running statistics and the
  spectral-norm power-iteration vectors stay exactly as served, so the function that is optimised is the one
  that is served afterwards, and nothing outside `finetune_parameters()` changes, buffers included.

Pure torch, no I/O. Deterministic given `seed` (the targets are drawn from a private `torch.Generator`; the global RNG
is not touched) on deterministic kernels (CPU; on CUDA some backward kernels use atomics, so the serving side stores
the fine-tuned weights instead of recomputing them).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from models.families.fs_vid2vid.generator import FewShotGenerator


def finetune_on_references(gen: FewShotGenerator, references: torch.Tensor, reference_labels: torch.Tensor,
                           steps: int, lr: float = 1e-4, seed: int = 0,
                           on_step: Callable[[int], None] | None = None) -> None:
    """Fine-tune `gen.finetune_parameters()` in place on the references; every other parameter stays frozen.

    Each step draws a target reference j; the other references (or, with K = 1, the same one) condition the
    generator, which renders target label j as a single frame (no previous frame); the loss is the L1 error of the
    frame (and of the raw output, with SPADE combine) against reference image j. Adam (betas 0.5, 0.999).

    Args:
        references: (B, K, 3, H, W) in [-1, 1] on the generator's device.
        reference_labels: (B, K, C, H, W).
        steps: optimizer steps (0: nothing happens).
        on_step: called with the number of steps done after each one (progress, heartbeat, cancellation).
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if steps == 0:
        return
    references = references.detach().clone()  # plain tensors, also when made under inference_mode
    reference_labels = reference_labels.detach().clone()
    k = references.shape[1]
    trainable = {id(p) for p in gen.finetune_parameters()}
    params = [p for p in gen.parameters() if id(p) in trainable]
    saved_flags = [(p, p.requires_grad) for p in gen.parameters()]
    was_training = gen.training
    rng = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))
    try:
        for p in gen.parameters():
            p.requires_grad_(id(p) in trainable)
        gen.eval()
        with torch.inference_mode(False), torch.enable_grad():
            for step in range(steps):
                j = int(torch.randint(k, (1,), generator=rng))
                others = [i for i in range(k) if i != j] or [j]  # K = 1: the reference is its own target
                state = gen.start(references[:, others], reference_labels[:, others])
                out, _ = gen.step(reference_labels[:, j], state, single_frame=True, with_raw=True)
                target = references[:, j]  # (B, 3, H, W)
                loss = (out.frame.float() - target.float()).abs().mean()
                if out.raw is not None and out.raw is not out.frame:
                    loss = loss + (out.raw.float() - target.float()).abs().mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if on_step is not None:
                    on_step(step + 1)
    finally:
        for p, flag in saved_flags:
            p.requires_grad_(flag)
        gen.train(was_training)

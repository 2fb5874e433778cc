"""TGAN run options: the "normal GAN" comparison variant (reference §2.4: sigmoid cross-entropy, instance noise after
every critic conv while training, no clipping), the Adam option, bf16 autocast training, and ours: the joint critic
batch, the frame critic, the gradient penalty."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from models.families.tgan.config import PRESETS
from models.families.tgan.losses import gan_discriminator_loss, gan_generator_loss, gradient_penalty
from models.families.tgan.networks import InstanceNoise, TGANCritic, TGANFrameCritic
from models.families.tgan.recipe import TGANRecipe
from tests.models.families.mocogan_helpers import tiny_actions
from tests.models.families.test_tgan_serving import run_config
from training.loop import TrainingLoop


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_actions(tmp_path_factory.mktemp("actions"))


def test_sigmoid_cross_entropy_losses() -> None:
    zero = torch.zeros(2, 1)
    assert gan_discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert gan_generator_loss(zero).item() == pytest.approx(math.log(2))
    confident = torch.full((2, 1), 20.0)
    assert gan_discriminator_loss(confident, -confident).item() < 1e-6  # real called real, fake called fake
    assert gan_generator_loss(-confident).item() > 19  # G is punished for fakes the critic sees through


def test_instance_noise_is_seeded_and_training_only() -> None:
    critic = TGANCritic(PRESETS["tgan-tiny"], torch.Generator().manual_seed(0)).eval()
    video = torch.rand(2, 3, 4, 16, 16) * 2 - 1  # (B, C, T, H, W)
    clean = critic(video)
    noisy = [critic(video, InstanceNoise(0.3, torch.Generator().manual_seed(s))) for s in (1, 1, 2)]
    assert torch.equal(noisy[0], noisy[1]) and not torch.equal(noisy[0], noisy[2])
    assert not torch.allclose(clean, noisy[0])
    assert torch.equal(critic(video, InstanceNoise(0.0, torch.Generator().manual_seed(1))), clean)


def test_normal_gan_trains_without_clipping_and_resumes_exactly(data: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    values = {"objective": "gan", "optimizer": "adam", "lr": 1e-3}
    whole = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "whole", steps=6, **values)))
    results = whole.fit()
    assert {"G", "D", "logit_gap"} <= set(results[0].losses) and "wasserstein" not in results[0].losses
    assert all(r.info["clipped"] == 0 for r in results)
    assert all(math.isfinite(v) for r in results for v in r.losses.values())
    assert isinstance(whole.recipe.opt_d, torch.optim.Adam)
    assert whole.recipe.opt_d.param_groups[0]["betas"] == (0.5, 0.999)

    first = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "split", steps=3, **values)))
    first.fit()
    first.save_checkpoint()
    resumed = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "split", steps=6, **values)))
    assert resumed.resume() and resumed.step == 3
    resumed.fit()  # the instance noise of each step is drawn from that step's seeded generator
    for name, module in whole.recipe.modules().items():
        other = resumed.recipe.modules()[name].state_dict()
        assert all(torch.equal(v, other[k]) for k, v in module.state_dict().items()), name


def test_the_discriminator_learns_through_its_noise(data: Path, tmp_path: Path) -> None:
    """With G frozen at its start the noisy discriminator's cross-entropy falls clearly below chance (2 ln 2)."""
    torch.set_num_threads(1)
    recipe = TGANRecipe(run_config(data, tmp_path / "learn", steps=1, objective="gan", lr=2e-3))
    batch = next(iter(TrainingLoop(recipe)._batches()))
    real = batch["video"].transpose(1, 2)  # (B, C, T, H, W)
    with torch.no_grad():
        fake = recipe.gen(recipe.gen.sample_latents(4, torch.Generator().manual_seed(0)))  # (B, C, T, H, W)
    losses = []
    for step in range(40):
        noise = InstanceNoise(0.3, torch.Generator().manual_seed(step))
        loss = gan_discriminator_loss(recipe.critic(real, noise), recipe.critic(fake, noise))
        recipe.opt_d.zero_grad()
        loss.backward()
        recipe.opt_d.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * 2 * math.log(2)


def critic_batch_sizes(recipe: TGANRecipe, batch: dict[str, torch.Tensor]) -> list[int]:
    """The batch size of every critic call in one training step."""
    sizes: list[int] = []
    handle = recipe.critic.register_forward_hook(lambda _m, args, _out: sizes.append(args[0].shape[0]))
    recipe.train_step(batch, 0)
    handle.remove()
    return sizes


def test_joint_critic_batch_scores_real_and_fake_with_one_set_of_batch_statistics(data: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    separate = TGANRecipe(run_config(data, tmp_path / "separate", steps=1))
    joint = TGANRecipe(run_config(data, tmp_path / "joint", steps=1, critic_batch="joint"))
    batch = next(iter(TrainingLoop(separate)._batches()))
    n = batch["video"].shape[0]
    assert critic_batch_sizes(separate, batch) == [n, n, n]  # G step: fakes; critic step: reals, then fakes
    assert critic_batch_sizes(joint, batch) == [2 * n, 2 * n]  # G step and critic step: reals and fakes together

    # In one call the batch norms see both halves: a real clip's score depends on the fakes beside it.
    joint.critic.train()
    separate.critic.train()
    real = batch["video"].transpose(1, 2)  # (B, C, T, H, W)
    video, alone = joint.critic_terms()[0], separate.critic_terms()[0]
    real_scores, _ = joint._scores(video, real, torch.zeros_like(real), None)
    other_real_scores, _ = joint._scores(video, real, torch.ones_like(real), None)
    assert not torch.allclose(real_scores, other_real_scores)
    assert torch.equal(separate._scores(alone, real, torch.zeros_like(real), None)[0],
                       separate._scores(alone, real, torch.ones_like(real), None)[0])


@pytest.mark.parametrize("values, message", [({"objective": "hinge"}, "objective"),
                                              ({"critic_batch": "mixed"}, "critic_batch"),
                                              ({"frame_critic_weight": -1.0}, "frame_critic_weight"),
                                              ({"clipping": "spectral"}, "clipping"),
                                              ({"clipping": "gp", "gp_weight": 0.0}, "gp_weight"),
                                              ({"optimizer": "sgd"}, "optimizer"),
                                              ({"instance_noise": -0.1}, "instance_noise")])
def test_run_config_validation(data: Path, tmp_path: Path, values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_config(data, tmp_path / "bad", 1, **values)


def test_bf16_autocast_trains_close_to_fp32_and_resumes_exactly(data: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    fp32 = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "fp32", steps=2)))
    bf16 = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "bf16", steps=2, amp="bf16")))
    assert fp32.recipe.amp_dtype is None and bf16.recipe.amp_dtype == torch.bfloat16
    first, lowered = fp32.fit(), bf16.fit()
    for a, b in zip(first, lowered, strict=True):  # same draws, same data: the losses agree to bf16's precision
        assert b.losses["G"] == pytest.approx(a.losses["G"], rel=0.05, abs=0.02)
    assert all(p.dtype == torch.float32 for p in bf16.recipe.gen.parameters())  # weights stay fp32
    split = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "split", steps=1, amp="bf16")))
    split.fit()
    split.save_checkpoint()
    resumed = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "split", steps=2, amp="bf16")))
    assert resumed.resume()
    resumed.fit()
    theirs = resumed.recipe.gen.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in bf16.recipe.gen.state_dict().items())
    with pytest.raises(ValueError, match="fp16"):
        TGANRecipe(run_config(data, tmp_path / "fp16", steps=1, amp="fp16"))


def test_frame_critic_scores_every_frame_trains_with_the_video_critic_and_resumes_exactly(
        data: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    config = PRESETS["tgan-tiny"]
    critic = TGANFrameCritic(config, torch.Generator().manual_seed(0)).eval()
    frames = torch.rand(6, 3, 16, 16) * 2 - 1  # (N, C, H, W)
    scores = critic(frames)
    assert scores.shape == (6,)
    assert torch.allclose(critic(frames[2:3]), scores[2:3], atol=1e-6)  # one score per frame, frames independent

    values = {"frame_critic_weight": 0.5, "svc_interval": 2}
    whole = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "whole", steps=4, **values)))
    start = {k: v.clone() for k, v in whole.recipe.frame_critic.state_dict().items()}
    results = whole.fit()
    assert set(whole.recipe.modules()) == {"G", "D", "D_frame"}
    assert {"G", "G_frame", "D", "D_frame", "wasserstein", "wasserstein_frame"} <= set(results[0].losses)
    trained = whole.recipe.frame_critic.state_dict()
    assert any(not torch.equal(start[k], trained[k]) for k in start)
    for layer in whole.recipe.frame_critic.modules():  # clipped with the video critic (SVC after step 4)
        if isinstance(layer, torch.nn.Conv2d):
            assert torch.linalg.matrix_norm(layer.weight.flatten(1), ord=2) <= 1 + 1e-4

    first = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "split", steps=2, **values)))
    first.fit()
    first.save_checkpoint()
    resumed = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "split", steps=4, **values)))
    assert resumed.resume() and resumed.step == 2
    resumed.fit()
    for name, module in whole.recipe.modules().items():
        other = resumed.recipe.modules()[name].state_dict()
        assert all(torch.equal(v, other[k]) for k, v in module.state_dict().items()), name


def test_gradient_penalty_measures_the_critic_gradient_norm() -> None:
    """For a linear critic D(x) = mean of (w · x) over two outputs the gradient norm is |w| everywhere."""
    weight = torch.randn(2, 12)  # (outputs, features)
    real, fake = torch.randn(5, 3, 4), torch.randn(5, 3, 4)  # (B, ...)

    def critic(x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ weight.T  # (B, 2): two scores per clip, the penalty reads their mean

    norm = (weight.mean(0)).norm()
    penalty = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(0))
    assert penalty.item() == pytest.approx(((norm - 1) ** 2).item(), rel=1e-5)
    unit = weight / norm
    assert gradient_penalty(lambda x: x.flatten(1) @ unit.T, real, fake, torch.Generator()).item() < 1e-10

    trainable = weight.clone().requires_grad_(True)  # the penalty trains the critic: it has a gradient in w
    gradient_penalty(lambda x: x.flatten(1) @ trainable.T, real, fake, torch.Generator().manual_seed(0)).backward()
    assert trainable.grad is not None and trainable.grad.abs().sum() > 0


def test_gradient_penalty_run_clips_nothing_and_resumes_exactly(data: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    values = {"clipping": "gp", "gp_weight": 10.0, "optimizer": "adam", "adam_beta1": 0.0, "adam_beta2": 0.9,
              "svc_interval": 1, "lr": 1e-3}
    whole = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "whole", steps=4, **values)))
    results = whole.fit()
    assert {"G", "D", "gp", "wasserstein"} <= set(results[0].losses)
    assert all(r.info["clipped"] == 0 and math.isfinite(r.losses["gp"]) for r in results)
    assert whole.recipe.opt_d.param_groups[0]["betas"] == (0.0, 0.9)
    norms = [torch.linalg.matrix_norm(layer.weight.flatten(1), ord=2).item()
             for layer in whole.recipe.critic.modules() if isinstance(layer, torch.nn.Conv3d)]
    assert max(norms) > 1.01  # SVC (every step with svc_interval 1) would hold every one at <= 1

    first = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "split", steps=2, **values)))
    first.fit()
    first.save_checkpoint()
    resumed = TrainingLoop(TGANRecipe(run_config(data, tmp_path / "split", steps=4, **values)))
    assert resumed.resume() and resumed.step == 2
    resumed.fit()  # the penalty's mixing weights come from each step's seeded generator
    for name, module in whole.recipe.modules().items():
        other = resumed.recipe.modules()[name].state_dict()
        assert all(torch.equal(v, other[k]) for k, v in module.state_dict().items()), name


def test_a_critic_that_sees_frame_differences(data: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    config = replace(PRESETS["tgan-tiny"], critic_motion_scale=2.0)
    critic = TGANCritic(config, torch.Generator().manual_seed(0)).eval()
    first = next(m for m in critic.modules() if isinstance(m, torch.nn.Conv3d))
    assert first.in_channels == 2 * config.channels  # frames, then their differences
    plain = TGANCritic(PRESETS["tgan-tiny"], torch.Generator().manual_seed(0)).eval()
    assert next(m for m in plain.modules() if isinstance(m, torch.nn.Conv3d)).in_channels == 3
    with torch.no_grad():
        first.weight[:, : config.channels] = 0  # blind to the frames themselves: only their differences remain
        still, other = (torch.rand(2, 3, 1, 16, 16).expand(-1, -1, 4, -1, -1) * 2 - 1 for _ in range(2))
        moving = still.clone()
        moving[:, :, 2:] = moving[:, :, 2:].roll(3, dims=-1)  # the same picture, shifted from frame 2 on
        assert torch.allclose(critic(still), critic(other), atol=1e-6)  # two held pictures: no difference
        assert not torch.allclose(critic(still), critic(moving), atol=1e-4)  # a held picture that moves
    with pytest.raises(ValueError, match="critic_motion_scale"):
        replace(PRESETS["tgan-tiny"], critic_motion_scale=-1.0)
    recipe = TGANRecipe(run_config(data, tmp_path / "motion", steps=2, overrides={"critic_motion_scale": 2.0}))
    assert recipe.critic.motion_scale == 2.0
    start = {k: v.clone() for k, v in recipe.critic.state_dict().items()}
    results = TrainingLoop(recipe).fit()  # trains end to end with the wider first conv
    assert all(math.isfinite(v) for r in results for v in r.losses.values())
    assert any(not torch.equal(start[k], v) for k, v in recipe.critic.state_dict().items())

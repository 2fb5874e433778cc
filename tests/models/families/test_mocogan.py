"""MoCoGAN networks, presets and losses (reference §3, §10)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from models.families.mocogan.config import PRESETS, MoCoGANConfig
from models.families.mocogan.losses import (
    OPTIMISER,
    generator_loss,
    image_discriminator_loss,
    random_frame_per_clip,
    video_discriminator_loss,
)
from models.families.mocogan.networks import (
    ImageDiscriminator,
    MoCoGANGenerator,
    VideoDiscriminator,
    add_instance_noise,
    count_parameters,
)
from tests.models.families.video_targets import fit_losses, seeded, wave_video


@pytest.mark.parametrize("preset", ["mocogan-tiny", "mocogan-small"])
def test_shapes_and_ranges(preset: str) -> None:
    cfg = PRESETS[preset]
    torch.manual_seed(0)
    gen, d_image, d_video = MoCoGANGenerator(cfg), ImageDiscriminator(cfg), VideoDiscriminator(cfg)
    latents = gen.sample_latents(2, cfg.num_frames, seeded(1))
    assert latents.content.shape == (2, cfg.content_dim)
    assert latents.category.shape == (2, cfg.num_categories)
    assert torch.equal(latents.category.sum(1), torch.ones(2))
    assert latents.motion_noise.shape == (2, cfg.num_frames, cfg.motion_noise_dim)
    video = gen(latents)
    size = cfg.image_size
    assert video.shape == (2, cfg.channels, cfg.num_frames, size, size)
    assert video.min() >= -1 and video.max() <= 1
    noise = seeded(2)
    assert d_image(video[:, :, 0], noise).shape == (2, 1, 4, 4)
    out = d_video(video, noise)
    assert out.realness.shape == (2, 1, 1, 1, 1)
    assert out.category_logits.shape == (2, cfg.num_categories)


def test_batch_of_one_is_not_squeezed() -> None:
    cfg = PRESETS["mocogan-tiny"]
    gen, d_video = MoCoGANGenerator(cfg).eval(), VideoDiscriminator(cfg).eval()
    out = d_video(gen(gen.sample_latents(1, cfg.num_frames, seeded(0))))
    assert out.realness.shape == (1, 1, 1, 1, 1) and out.category_logits.shape == (1, cfg.num_categories)


def test_patch_video_head_without_categories() -> None:
    cfg = dataclasses.replace(PRESETS["mocogan-tiny"], num_categories=0, video_head="patch")
    gen, d_video = MoCoGANGenerator(cfg), VideoDiscriminator(cfg)
    latents = gen.sample_latents(2, cfg.num_frames, seeded(0))
    assert latents.category.shape == (2, 0)
    out = d_video(gen(latents))
    assert out.realness.shape == (2, 1, cfg.video_frames_left, 4, 4)
    assert out.category_logits.shape == (2, 0)
    with pytest.raises(ValueError, match="patch video head"):
        dataclasses.replace(cfg, num_categories=2)


def test_paper_parameter_counts() -> None:
    """Reference §3.2-3.3: G_I 3,249,024 (K 0) / 3,298,176 (K 6), GRU 660, D_I 663,296, D_V 2,650,880 / 11,253,504."""
    expected = {
        "mocogan-paper": (3_249_024, 660, 663_296, 2_650_880),
        "mocogan-paper-k6": (3_298_176, 660, 663_296, 11_253_504),
    }
    for name, (image_gen, gru, d_image, d_video) in expected.items():
        cfg = PRESETS[name]
        with torch.device("meta"):
            gen, disc_i, disc_v = MoCoGANGenerator(cfg), ImageDiscriminator(cfg), VideoDiscriminator(cfg)
        assert count_parameters(gen.image_generator) == pytest.approx(image_gen, rel=0.01)
        assert count_parameters(gen.motion_gru) == pytest.approx(gru, rel=0.01)
        assert count_parameters(disc_i) == pytest.approx(d_image, rel=0.01)
        assert count_parameters(disc_v) == pytest.approx(d_video, rel=0.01)
    with torch.device("meta"):  # §10: the CPU preset's G is 0.26 M
        small = MoCoGANGenerator(PRESETS["mocogan-small"])
    assert count_parameters(small) == pytest.approx(260_000, rel=0.02)


def test_same_seed_same_video() -> None:
    cfg = PRESETS["mocogan-tiny"]
    gen = MoCoGANGenerator(cfg).eval()
    first = gen(gen.sample_latents(3, 5, seeded(7)))
    second = gen(gen.sample_latents(3, 5, seeded(7)))
    other = gen(gen.sample_latents(3, 5, seeded(8)))
    assert torch.equal(first, second)
    assert not torch.allclose(first, other)


@pytest.mark.parametrize("category_input", ["image", "motion"])
def test_streaming_equals_whole_clip(category_input: str) -> None:
    """Per-step noise draws, GRU steps and per-frame rendering reproduce the whole-clip path (BN in eval mode)."""
    cfg = dataclasses.replace(PRESETS["mocogan-tiny"], category_input=category_input)
    torch.manual_seed(0)
    gen = MoCoGANGenerator(cfg).eval()
    num_frames = 9  # longer than training: the GRU unrolls freely
    latents = gen.sample_latents(2, num_frames, seeded(3))
    clip = gen(latents)
    trajectory = gen.motion_trajectory(latents.initial_motion, latents.motion_noise, latents.category)

    stream = seeded(3)
    content, category = gen.sample_content(2, stream), gen.sample_category(2, stream)
    hidden = gen.sample_initial_motion(2, stream)
    for t in range(num_frames):
        hidden = gen.motion_step(gen.sample_motion_noise_step(2, stream), hidden, category)
        assert torch.allclose(hidden, trajectory[:, t], atol=1e-6)
        frame = gen.render_frame(content, category, hidden)
        assert torch.allclose(frame, clip[:, :, t], atol=1e-5)


def test_the_category_on_the_motion_path_reaches_frames_only_through_the_gru() -> None:
    cfg = dataclasses.replace(PRESETS["mocogan-tiny"], category_input="motion")
    gen = MoCoGANGenerator(cfg).eval()
    k, d_c, d_m, d_e = cfg.num_categories, cfg.content_dim, cfg.motion_dim, cfg.motion_noise_dim
    assert gen.motion_gru.weight_ih.shape == (3 * d_m, d_e + k)
    assert gen.image_generator[0].weight.shape[0] == d_c + d_m == cfg.latent_dim
    latents = gen.sample_latents(2, cfg.num_frames, seeded(4), labels=torch.tensor([0, 0]))
    other = dataclasses.replace(latents, category=gen.one_hot_category(torch.tensor([1, 1])))
    assert not torch.allclose(gen(latents), gen(other))  # the action changes the clip...
    hidden = torch.randn(2, d_m)
    assert torch.equal(gen.render_frame(latents.content, latents.category, hidden),
                       gen.render_frame(latents.content, other.category, hidden))  # ...but not a frame's rendering
    with pytest.raises(ValueError, match="category_input"):
        dataclasses.replace(cfg, category_input="frame")


def test_same_content_different_motion() -> None:
    cfg = PRESETS["mocogan-tiny"]
    torch.manual_seed(0)
    gen = MoCoGANGenerator(cfg).eval()
    content = gen.sample_content(2, seeded(1))
    labels = torch.tensor([0, 2])
    clips = []
    for motion_seed in (10, 11):
        motion = seeded(motion_seed)
        latents = dataclasses.replace(
            gen.sample_latents(2, cfg.num_frames, motion, labels=labels), content=content.clone()
        )
        clips.append((latents, gen(latents)))
    (first, first_video), (second, second_video) = clips
    assert torch.equal(first.content, second.content) and torch.equal(first.category, second.category)
    assert not torch.allclose(first.motion_noise, second.motion_noise)
    per_frame_change = (first_video - second_video).abs().amax(dim=(0, 1, 3, 4))  # (T,)
    assert bool((per_frame_change > 1e-4).all())


def test_labels_become_one_hot_and_are_checked() -> None:
    gen = MoCoGANGenerator(PRESETS["mocogan-tiny"])
    latents = gen.sample_latents(2, 3, seeded(0), labels=torch.tensor([2, 0]))
    assert torch.equal(latents.category, torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="labels"):
        gen.one_hot_category(torch.tensor([3]))


def test_instance_noise_is_explicit_and_training_only() -> None:
    cfg = dataclasses.replace(PRESETS["mocogan-tiny"], instance_noise_std=0.1)
    d_image = ImageDiscriminator(cfg)
    images = torch.zeros(2, cfg.channels, cfg.image_size, cfg.image_size)
    with pytest.raises(ValueError, match="noise_generator"):
        d_image(images)
    assert torch.equal(d_image(images, seeded(1)), d_image(images, seeded(1)))
    assert not torch.equal(d_image(images, seeded(1)), d_image(images, seeded(2)))
    d_image.eval()
    assert torch.equal(d_image(images), d_image(images, seeded(2)))


def test_video_noise_over_time_is_one_draw_per_clip_at_every_step() -> None:
    x = torch.zeros(2, 3, 5, 4, 4)  # (B, C, T, H, W)
    shared = add_instance_noise(x, 0.1, seeded(0), over_time=True)
    independent = add_instance_noise(x, 0.1, seeded(0))
    assert all(torch.equal(shared[:, :, t], shared[:, :, 0]) for t in range(5))  # frame differences left exact
    assert not torch.equal(shared[0], shared[1]) and shared.std() > 0.05
    assert not torch.equal(independent[:, :, 1], independent[:, :, 0])

    cfg = dataclasses.replace(PRESETS["mocogan-tiny"], instance_noise_std=0.1, video_noise_over_time=True)
    assert VideoDiscriminator(cfg).noise_over_time and not ImageDiscriminator(cfg).noise_over_time  # D_V only


def _flicker_critic_loss(video_motion_scale: float, steps: int = 250) -> float:
    """D_V (tiny, σ 0.1 instance noise held over the clip) trained to tell a held picture from the same picture with
    fresh noise of σ 0.1 in every frame; its last loss (chance: 2 ln 2 ≈ 1.39)."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(PRESETS["mocogan-tiny"], num_categories=0, instance_noise_std=0.1,
                              video_noise_over_time=True, video_motion_scale=video_motion_scale)
    critic = VideoDiscriminator(cfg)
    optimiser = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.999))
    rng = seeded(0)
    for _ in range(steps):
        steady = (torch.rand(8, cfg.channels, 1, cfg.image_size, cfg.image_size) * 2 - 1).expand(
            -1, -1, cfg.num_frames, -1, -1)  # (B, C, T, H, W), one picture held
        flicker = steady + 0.1 * torch.randn_like(steady)
        loss = video_discriminator_loss(critic(steady, rng), critic(flicker, rng)).total
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return loss.item()


def test_video_motion_channels_let_d_v_see_flicker_the_paper_d_v_misses() -> None:
    """Ours: D_V also sees scaled frame differences. Real and fake go through D_V as separate BatchNorm batches, and
    the paper's D_V does not learn a uniform flicker within 250 steps; with the differences it does."""
    cfg = dataclasses.replace(PRESETS["mocogan-tiny"], video_motion_scale=5.0)
    assert VideoDiscriminator(cfg).blocks[0][0].in_channels == 2 * cfg.channels
    assert VideoDiscriminator(PRESETS["mocogan-tiny"]).blocks[0][0].in_channels == cfg.channels
    assert _flicker_critic_loss(5.0) < 0.3
    assert _flicker_critic_loss(0.0) > 1.2
    with pytest.raises(ValueError, match="video_motion_scale"):
        dataclasses.replace(cfg, video_motion_scale=-1.0)


def test_losses_and_category_term() -> None:
    cfg = PRESETS["mocogan-tiny"]
    torch.manual_seed(0)
    gen, d_image, d_video = MoCoGANGenerator(cfg), ImageDiscriminator(cfg), VideoDiscriminator(cfg)
    rng = seeded(0)
    labels = torch.tensor([0, 1])
    latents = gen.sample_latents(2, cfg.num_frames, rng, labels=labels)
    fake = gen(latents)
    real = torch.rand_like(fake) * 2 - 1
    fake_frames = random_frame_per_clip(fake, rng)
    assert fake_frames.shape == (2, cfg.channels, cfg.image_size, cfg.image_size)
    assert any(torch.equal(fake_frames[0], fake[0, :, t]) for t in range(cfg.num_frames))

    d_i = image_discriminator_loss(d_image(real[:, :, 0]), d_image(fake_frames.detach()))
    assert torch.allclose(d_i.total, d_i.real + d_i.fake) and d_i.category == 0
    d_v = video_discriminator_loss(d_video(real), d_video(fake.detach()), real_labels=labels)
    assert d_v.category > 0 and torch.allclose(d_v.total, d_v.real + d_v.fake + d_v.category)
    g = generator_loss(d_image(fake_frames), d_video(fake), fake_labels=labels)
    assert torch.allclose(g.total, g.image_adversarial + g.video_adversarial + g.category)
    heavier = generator_loss(d_image(fake_frames), d_video(fake), fake_labels=labels, category_weight=3.0)
    assert torch.allclose(heavier.total, g.total + 2 * g.category)  # only the category term is weighted
    g.total.backward()
    assert all(p.grad is not None for p in gen.parameters())
    assert generator_loss(d_image(fake_frames), d_video(fake)).category == 0
    assert OPTIMISER.lr == 2e-4 and OPTIMISER.betas == (0.5, 0.999) and OPTIMISER.weight_decay == 1e-5


def test_generator_learns_a_fixed_target() -> None:
    cfg = PRESETS["mocogan-tiny"]
    torch.manual_seed(0)
    gen = MoCoGANGenerator(cfg)
    latents = gen.sample_latents(2, cfg.num_frames, seeded(0))
    target = wave_video(2, cfg.channels, cfg.num_frames, cfg.image_size)
    losses = fit_losses(gen, lambda: gen(latents), target)
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"image_size": 48}, "power of two"),
        ({"num_frames": 2}, "too short"),
        ({"num_categories": -1}, "num_categories"),
        ({"ngf": 0}, "ngf"),
    ],
)
def test_config_validation(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(PRESETS["mocogan-tiny"], **overrides)
    assert MoCoGANConfig().latent_dim == 60


def test_instance_noise_decays_linearly_to_zero_when_asked() -> None:
    from types import SimpleNamespace

    from models.families.mocogan.recipe import MoCoGANRecipe, MoCoGANRunConfig

    noisy = dataclasses.replace(PRESETS["mocogan-small"], instance_noise_std=0.1)
    decaying = SimpleNamespace(model_config=noisy,
                               config=MoCoGANRunConfig(data="d", out="o", instance_noise_decay_steps=100))
    assert [round(MoCoGANRecipe.instance_noise_std(decaying, s), 6) for s in (0, 50, 100, 250)] == [0.1, 0.05, 0.0, 0.0]
    constant = SimpleNamespace(model_config=noisy, config=MoCoGANRunConfig(data="d", out="o"))
    assert MoCoGANRecipe.instance_noise_std(constant, 10_000) == 0.1  # the paper's constant noise by default

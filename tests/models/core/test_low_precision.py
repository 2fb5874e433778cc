"""Reduced-precision weight copies for autocast serving: the same outputs as autocast's own casts, used only under
autocast to their dtype without gradients, refreshed on request, and kept by a worker that serves in bf16."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from models.core.low_precision import keep_low_precision_weights, refresh_low_precision_weights


class AllLayers(nn.Module):
    """Every layer kind that gets copies, in one forward."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(3, 5, 3, padding=1)
        self.conv3 = nn.Conv3d(3, 2, 3, padding=1, bias=False)
        self.up = nn.ConvTranspose2d(5, 3, 4, stride=2, padding=1)
        self.linear = nn.Linear(3 * 16 * 16, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B, 3, 8, 8)
        a = self.conv1(x.flatten(2)).sum(1)  # (B, 64)
        b = self.conv3(x.unsqueeze(2).expand(-1, -1, 2, -1, -1)).sum((1, 2)).flatten(1)  # (B, 64)
        up = self.up(self.conv2(x), output_size=[16, 16])  # (B, 3, 16, 16)
        return torch.cat([a, b, self.linear(up.flatten(1))], 1).float()


def served(net: nn.Module, x: torch.Tensor, dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype):
        return net(x)


@pytest.fixture
def nets() -> tuple[nn.Module, nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    net = AllLayers().eval()
    twin = copy.deepcopy(net)
    assert keep_low_precision_weights(twin, torch.bfloat16) == 5
    return net, twin, torch.randn(2, 3, 8, 8)


def test_outputs_are_bit_identical_to_autocasts_own_casts(nets) -> None:
    net, twin, x = nets
    assert torch.equal(served(net, x), served(twin, x))
    with torch.inference_mode():
        assert torch.equal(net(x), twin(x))  # fp32 (autocast off): the fp32 weights


def test_copies_serve_only_under_autocast_to_their_dtype_without_gradients(nets) -> None:
    net, twin, x = nets
    before = served(twin, x)
    with torch.no_grad():
        for p in twin.parameters():
            p.mul_(2)  # the fp32 weights change, the copies do not (until refreshed)
    assert torch.equal(served(twin, x), before)  # the copies were used
    assert not torch.equal(served(twin, x, torch.float16), before)  # another dtype: autocast casts the fp32 weights
    with torch.inference_mode():
        assert not torch.equal(twin(x), net(x))  # fp32: the (changed) fp32 weights
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = twin(x)  # gradients recorded: the fp32 weights, and they get gradients
    out.sum().backward()
    assert twin.conv2.weight.grad is not None and twin.linear.weight.grad is not None
    assert not torch.equal(out.detach(), before)


def test_refresh_remakes_the_copies_from_the_current_weights(nets) -> None:
    net, twin, x = nets
    with torch.no_grad():
        for p, q in zip(net.parameters(), twin.parameters(), strict=True):
            p.mul_(2)
            q.mul_(2)
    assert refresh_low_precision_weights(twin) == 5
    assert torch.equal(served(twin, x), served(net, x))


def test_parametrized_layers_and_pipelines(nets) -> None:
    layer = nn.utils.parametrizations.spectral_norm(nn.Conv2d(3, 3, 3))
    assert keep_low_precision_weights(layer, torch.bfloat16) == 0  # its weight is computed at each call

    class Pipeline:  # a pipeline object holding its networks as attributes
        def __init__(self) -> None:
            self.generator = AllLayers()
            self.name = "not a module"

    assert keep_low_precision_weights(Pipeline(), torch.bfloat16) == 5


def test_a_vid2vid_stream_in_bf16_makes_the_same_frames_with_copies() -> None:
    from models.families.vid2vid.generator import PRESETS, Vid2VidGenerator
    from workers.precision import Precision

    torch.manual_seed(0)
    gen = Vid2VidGenerator(PRESETS["vid2vid-tiny"]).eval()
    twin = copy.deepcopy(gen)
    assert keep_low_precision_weights(twin, torch.bfloat16) > 10
    c = gen.config
    labels = [torch.zeros(1, c.label_channels, 32, 64).scatter_(1, torch.randint(0, c.label_channels,
                                                                                 (1, 1, 32, 64)), 1.0)
              for _ in range(4)]
    states = [g.start(1, 32, 64) for g in (gen, twin)]
    with torch.inference_mode(), Precision("bf16", "test").autocast(torch.device("cpu")):
        for frame in labels:  # the first frame runs in fp32 (autocast off inside), the rest in bf16
            outs = []
            for i, g in enumerate((gen, twin)):
                out, states[i] = g.step(frame, states[i])
                outs.append(out.frame)
            assert torch.equal(outs[0], outs[1])


@pytest.mark.parametrize(("precision", "with_copies"), [("bf16", True), ("fp32", False)])
def test_a_worker_runner_keeps_copies_when_it_serves_in_reduced_precision(precision: str, with_copies: bool) -> None:
    from app.contracts.catalogue import DEFAULT_MANIFEST, load_manifest
    from workers.precision import Precision
    from workers.runner import Runner

    card = load_manifest(DEFAULT_MANIFEST).models["street"]
    runner = Runner(card, torch.device("cpu"), DEFAULT_MANIFEST.parent, Precision(precision, "test"))
    runner.setup()
    assert (runner.low_precision_layers > 10) == with_copies

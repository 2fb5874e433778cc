"""Cost of serving NVIDIA's vid2vid 2048 structure (README "Serve NVIDIA's pretrained vid2vid models"): random
weights of the imported layout (per-frame BatchNorm statistics), the single-image G for the two first frames, then
`step` per frame; peak RSS and MACs (`benchmarks.macs`, counted on the meta device).

    python -m benchmarks.bench_imported --threads 2 --size 256 512
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time

import torch

from benchmarks.macs import count_macs
from models.families.vid2vid.generator import PRESETS, Vid2VidGenerator
from models.families.vid2vid.single import SingleImageGenerator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--size", type=int, nargs=2, default=[256, 512], metavar=("H", "W"))
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    h, w = args.size
    config = dataclasses.replace(PRESETS["vid2vid-cityscapes-2048"], norm_statistics="per_frame",
                                 warp_rounding="original")
    assert config.single_image is not None
    labels = torch.zeros(1, config.label_channels, h, w)  # (1, 36, H, W): road, a car block
    labels[:, 7] = 1
    labels[:, 7, h // 2:, w // 4: w // 2], labels[:, 26, h // 2:, w // 4: w // 2] = 0, 1
    with torch.device("meta"):
        meta_gen, meta_single = Vid2VidGenerator(config), SingleImageGenerator(config.single_image)
        meta_labels = torch.zeros(1, config.label_channels, h, w)
        state = meta_gen.start(1, h, w, torch.zeros(1, 2, 3, h, w), torch.zeros(1, 2, config.label_channels, h, w))
        g_macs = count_macs(lambda: meta_gen.step(meta_labels, state)).total
        s_macs = count_macs(lambda: meta_single(meta_labels)).total
    sys.stdout.write(f"GMACs per frame {g_macs / 1e9:.1f}, single-image G {s_macs / 1e9:.1f} (first frames only)\n")
    gen, single = Vid2VidGenerator(config).eval(), SingleImageGenerator(config.single_image).eval()
    with torch.inference_mode():
        t0 = time.perf_counter()
        first = single(labels)  # (1, 3, H, W)
        t_single = time.perf_counter() - t0
        state = gen.observe(labels, first, gen.observe(labels, first, gen.start(1, h, w)))
        times = []
        for _ in range(args.steps):
            t0 = time.perf_counter()
            _, state = gen.step(labels, state)
            times.append(time.perf_counter() - t0)
    steady = times[1:] or times
    sys.stdout.write(f"single-image G {t_single:.2f} s/frame; generator {sum(steady) / len(steady):.2f} s/frame "
          f"(steps {', '.join(f'{t:.2f}' for t in times)}); peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB\n")


if __name__ == "__main__":
    main()

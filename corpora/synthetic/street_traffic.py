"""Cross traffic for the street world: cars and pedestrians that move *across* the road (along world x).

The base world (`street_world.sample_street_world`) only moves things along the road, so a model trained on it
has never seen a car pass from left to right in front of the camera, which is what hand-drawn scenes mostly show
(its flow network then misplaces such cars by several pixels a frame). `with_cross_traffic` adds a few crossing
cars and walkers to a sampled world, each timed to cross the road within the sequence, from its own random
stream, so the rest of the world is drawn exactly as without it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from corpora.synthetic.street_world import (
    CAR,
    PERSON,
    Boxes,
    BoxRow,
    SphereRow,
    Spheres,
    StreetWorld,
    car_parts,
    person_parts,
)

FIRST_INSTANCE = 500
"""Instance numbers of crossing objects start here (base-world objects count from 1)."""


def _crossing_x(rng: np.random.Generator, speed: float, frames: int) -> tuple[float, float]:
    """(x at frame 0, signed x velocity) of something that passes x = 0 at a random frame of the sequence."""
    direction = float(rng.choice([-1.0, 1.0]))
    centre_frame = rng.uniform(0.2, 0.8) * (frames - 1)
    return -direction * speed * centre_frame, direction * speed


def with_cross_traffic(world: StreetWorld, rng: np.random.Generator, frames: int) -> StreetWorld:
    """`world` plus 1–3 cars and 0–3 pedestrians crossing the road 6–35 m ahead of the camera."""
    boxes: list[BoxRow] = []
    spheres: list[SphereRow] = []
    path = world.path
    for k in range(int(rng.integers(1, 4))):
        z = path.speed * rng.uniform(0, frames) + rng.uniform(8.0, 35.0)
        x0, vx = _crossing_x(rng, rng.uniform(0.15, 0.6), frames)
        boxes += car_parts(rng, x0, z, np.array([vx, 0.0, 0.0]), 0.0, CAR * 1000 + FIRST_INSTANCE + k, along_x=True)
    for k in range(int(rng.integers(0, 4))):
        z = path.speed * rng.uniform(0, frames) + rng.uniform(6.0, 25.0)
        x0, vx = _crossing_x(rng, rng.uniform(0.05, 0.12), frames)
        person_boxes, head = person_parts(rng, x0, z, np.array([vx, 0.0, 0.0]), PERSON * 1000 + FIRST_INSTANCE + k)
        boxes += person_boxes
        spheres.append(head)
    return dataclasses.replace(world, boxes=_extend(world.boxes, boxes), spheres=_extend(world.spheres, spheres))


def _extend(arrays: Boxes | Spheres, rows: list[tuple]) -> Boxes | Spheres:
    """`arrays` with `rows` (tuples in the field order) appended, keeping each field's dtype."""
    if not rows:
        return arrays
    columns = {}
    for i, f in enumerate(dataclasses.fields(arrays)):
        old = getattr(arrays, f.name)
        new = np.array([row[i] for row in rows], dtype=old.dtype).reshape(len(rows), *old.shape[1:])
        columns[f.name] = np.concatenate([old, new])
    return type(arrays)(**columns)

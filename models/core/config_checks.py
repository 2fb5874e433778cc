"""Checks the family configs run in `__post_init__`, so that every family refuses a bad size with the same words."""

from __future__ import annotations


def require_positive(**values: int) -> None:
    """ValueError naming the first of `values` below 1."""
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


def require_power_of_two(name: str, value: int, minimum: int) -> None:
    """ValueError unless `value` is a power of two and at least `minimum`."""
    if value < minimum or value & (value - 1):
        raise ValueError(f"{name} must be a power of two >= {minimum}, got {value}")

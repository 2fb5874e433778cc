"""TGAN (Saito et al., ICCV 2017): temporal generator + image generator trained as a WGAN with singular value
clipping, a `generate` family.

This package owns the family's frozen config and named presets (`config`), its networks: the temporal generator G0,
the per-frame image generator G1 and the 3-D critic (`networks`), and its objectives, singular value clipping and
optimiser settings (`losses`). Implemented from `reference/video-generation-reference.md` §2.
"""

"""MoCoGAN (Tulyakov et al., CVPR 2018): content/motion-decomposed video GAN, a `generate` family.

This package owns the family's frozen config and named presets (`config`), its networks: the GRU motion trajectory,
the per-frame image generator G_I, the image discriminator D_I and the (categorical) video discriminator D_V
(`networks`), and its objectives and optimiser settings (`losses`). Implemented from our own reference text
(`reference/video-generation-reference.md` §3) only: the public code is CC BY-NC-ND and must not be read.
"""

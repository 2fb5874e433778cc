"""VGAN (Vondrick et al., NeurIPS 2016): two-stream video GAN (moving foreground, static background, mask), a
`generate` family.

This package owns the family's frozen config and named presets (`config`), its networks: the two-stream generator
and the 3-D discriminator (`networks`), and its objectives (GAN + mask sparsity) and optimiser settings (`losses`).
Implemented from `reference/video-generation-reference.md` §1.
"""

"""VideoVAE (He et al., ECCV 2018): an attribute-structured recurrent VAE (action and identity attributes).

This package owns the family's frozen config and named presets (`config`), the frame encoder, decoder and attribute
classifier (`codecs`), the structured latent model with an explicit-state streaming API (`networks`) and the
objectives (`losses`). Images are in [-1, 1]. The paper's exact layers are unverified; sizes follow the reference's
description of an unofficial port (reference §6). The family descriptor (pipeline, training recipe) is added beside
these.
"""

"""SAVP (Lee et al., 2018): stochastic adversarial video prediction.

This package owns the family's frozen config and named presets (`config`), its building blocks (`layers`: ConvLSTM,
CDNA kernels, instance norm), the recurrent generator cell with CDNA-warped candidate compositing and the posterior
encoder with an explicit-state streaming API (`networks`), the two spectrally normalised video discriminators
(`discriminator`) and the objectives and schedules (`losses`). Images are in [0, 1]. The family descriptor
(pipeline, training recipe) is added beside these.
"""

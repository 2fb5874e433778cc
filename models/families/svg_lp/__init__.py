"""SVG-LP / SVG-FP (Denton & Fergus, ICML 2018): stochastic video prediction with a learned (or fixed) prior.

This package owns the family's frozen config and named presets (`config`), its frame encoders/decoders
(`codecs`), its recurrent networks with an explicit-state streaming API (`networks`) and its objective
(`losses`). Images are in [0, 1]. The family descriptor (pipeline, training recipe) is added beside these.
"""

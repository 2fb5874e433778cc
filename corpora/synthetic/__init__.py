"""Synthetic and derived training data: procedural street scenes, articulated people, edge maps of real video.

Every generator writes the data set layout of docs/conventions.md (`layout.py`) and is deterministic by seed.
Modules: `street*.py` (ray-cast street world with exact flow), `people*.py` (2-D articulated figures),
`edges.py` (Canny edge maps of ordinary videos), `noise.py` (procedural textures), `camera.py` (pinhole camera).
"""

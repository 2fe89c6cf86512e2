"""Applying a trained generator: photos, folders, videos and animations, with or without color hints.

colorize.py     `Colorizer`: a trained generator applied to photos of any size, files, folders and videos
backends.py     the generator in torch (bf16, folded batch norm) or in onnxruntime; the ONNX export
compose.py      the full-size photo from its gray and the network's small chroma
hints.py        color hints: the JSON format and the hint planes
hint_spread.py  each hint's correction spread over its region, edge-aware (Levin et al. 2004)
palette.py      the likeliest colors at a point, from a bins model's distribution (the choices for a hint)
outputs.py      where outputs go: names and formats, "already done", never over an input
folders.py      a folder run: its plan (what to do, where, what is done or skipped) and its chunks of work
cluster.py      the same plan and chunks on a Ray cluster (`colorize --cluster`; Ray imported only there)
video.py        video through PyAV (streamed, audio copied, atomic)
temporal.py     chroma carried along optical flow where it is trusted
ycbcr.py        Y'CbCr planes of video frames
animation.py    animated GIF and WebP
stopping.py     SIGTERM while writing exits through every `finally`
"""

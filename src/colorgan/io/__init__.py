"""Files in and out: what every other part reads and writes through, and nothing that computes a color.

atomic.py      atomic writes (temp file, fsync, rename, fsync the folder) and bounded reads of regular files
images.py      reading untrusted images (one `ImageReadError`), finding image files, resizing, skip records
user_json.py   JSON that a user or a client controls, parsed with one-line errors
checkpoint.py  safetensors checkpoints (weights, Adam state, RNG, step), atomic; never unpickled
"""

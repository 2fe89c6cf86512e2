"""The `colorgan` command: its flags, what each sub-command does, and the commands that are only glue.

main.py      the parser (`colorgan train|evaluate|colorize|export|bench|demo|serve`) and `main`, the entry point
flags.py     the flags sub-commands share: one per TrainConfig field, and the model group
commands.py  what train, evaluate, colorize, export, bench and demo do; every user error is one line, exit code 2
serve.py     `colorgan serve`: its flags and the wiring to serve/
export.py    a run's generator as a compact safetensors file or an ONNX graph
bench.py     `colorgan bench`: speed of training, inference, colorizing and the data pipeline
demo.py      `colorgan demo`: the sample photos of scikit-image and scikit-learn on one HTML page
"""

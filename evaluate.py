"""`python evaluate.py`: the original README's evaluation command (= `colorgan evaluate`).

With no --run/--data it evaluates the most recently trained run under ./runs/.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))  # works before `pip install -e .` too

from colorgan.cli.main import main  # noqa: E402

if __name__ == "__main__":
    args = sys.argv[1:]
    if not any(a.split("=")[0] in ("--run", "--data", "-h", "--help") for a in args):
        runs = sorted(Path("runs").glob("*/checkpoints/latest.safetensors"), key=lambda p: p.stat().st_mtime)
        if not runs:
            sys.exit("error: no trained run under ./runs/; pass --run RUN_DIR or --data DIR --out DIR")
        args = ["--run", str(runs[-1].parent.parent), *args]
    raise SystemExit(main(["evaluate", *args]))

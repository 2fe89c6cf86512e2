"""`python train.py`: the original README's training command (the recipe: `--preset seed` unless told otherwise).

With no --data it looks for the Kaggle layout in ./landscape Images/ (color/ + gray/).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))  # works before `pip install -e .` too

from colorgan.cli.main import main  # noqa: E402

DEFAULT_DATA = Path("landscape Images")


def _has(flag: str, args: list[str]) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in args)


if __name__ == "__main__":
    args = sys.argv[1:]
    if not _has("--preset", args) and not _has("--resume", args):
        args = ["--preset", "seed", *args]
    asks_help = any(arg in ("-h", "--help") for arg in args)
    if not _has("--data", args) and not _has("--resume", args) and not asks_help:
        if not DEFAULT_DATA.is_dir():
            sys.exit(
                f"error: no --data given and no '{DEFAULT_DATA}/' folder here.\n"
                "Get the Kaggle dataset 'Landscape color and grayscale images' (theblackmamba31/"
                "landscape-image-colorization) and unpack it so that 'landscape Images/color' and "
                "'landscape Images/gray' exist, or pass --data DIR (any folder of color photos works)."
            )
        args = ["--data", str(DEFAULT_DATA), *args]
    raise SystemExit(main(["train", *args]))

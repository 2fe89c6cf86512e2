"""Write the plain L1 trunk inside a model with a chroma branch (e.g. the shipped default) as a model of its own.

A branch model's ab output keeps its trunk's hue; the trunk's head is the regression head it was grown from
(`--init-from` adds the |ab| channel and the branch), so the trunk alone is that earlier model again, here in
fp32 for `colorgan train --init-from`.

    python scripts/gpu/trunk_of.py src/colorgan/weights/default.safetensors --out G1c.safetensors
"""

from __future__ import annotations

import argparse

from colorgan.checkpoint import save_checkpoint
from colorgan.colorize import load_generator
from colorgan.config import TrainConfig
from colorgan.models import build_generator

BRANCH_SETTINGS = (
    "chroma_head",
    "chroma_max_gain",
    "chroma_only",
    "chroma_quantiles",
    "chroma_quantile",
    "chroma_error",
    "chroma_branch",
    "chroma_gain",
    "init_from",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a model with a chroma branch")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    source, cfg, _ = load_generator(args.model)
    if not cfg.chroma_branch:
        raise SystemExit(f"{args.model} has no chroma branch: it is a trunk already")
    config = cfg.to_dict()
    defaults = TrainConfig()
    config.update({name: getattr(defaults, name) for name in BRANCH_SETTINGS})
    trunk_cfg = TrainConfig.from_dict(config).validate()
    trunk = build_generator(trunk_cfg)
    state = source.state_dict()
    trunk.load_state_dict({key: state[key] for key in trunk.state_dict()})
    save_checkpoint(args.out, {"G": trunk}, {}, trunk_cfg.to_dict(), {"exported_from": f"{args.model} (its trunk)"})
    print(f"wrote {args.out}: the trunk of {args.model}")


if __name__ == "__main__":
    main()

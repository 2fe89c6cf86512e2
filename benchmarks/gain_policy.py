"""A chroma gain chosen per photo, against one gain for all: simulated on a run's held-out split.

Every held-out photo is colorized once and scored at a grid of gains (CIEDE2000, PSNR and colorfulness,
summarized with paired intervals against gray, as in `color_plane.py`); a policy then picks each photo's gain,
and the photo's figures at that gain are interpolated linearly between the grid's. Policies, beside the
uniform gain:
  lift     g = clip(T / cf, 1, gmax): raise each photo's predicted colorfulness cf towards T
  boost    g = clip(cf / T, 1, gmax): the opposite, more gain for the photos predicted vivid
  learned  g = clip(k * s^a, 1, gmax), s a per-photo "shortfall" (truth's colorfulness over the prediction's)
           predicted by a ridge regression on the global means of the generator's three deepest encoder
           levels, fitted on photos of the split's training part (`--learn N` per folder). For each a, k and
           gmax are chosen on those training photos (5-fold cross-validated predictions) as the least gain
           that brings the `--aim` folder to its colorfulness ratio while costing the other folders the least
           CIEDE2000; only then is the policy scored on the held-out photos.
  scene    g = sum over folders f of p_f * g_f: p_f the photo's probability of being a photo of folder f's
           kind (a ridge classifier on the same features, fitted on the same training photos), g_f the gain
           that brings folder f's training photos to the same colorfulness ratio T (every kind of scene
           equally vivid against its truth). Also with `--learn N`.

    python benchmarks/gain_policy.py --split ~/runs/A_l1 --model GQA_gain1.safetensors --per-folder 800 \\
        --learn 1000 --aim broad:0.72 --json benchmarks/results/gain_policy_GQA.json

The model should be exported at gain 1 (`colorgan export --chroma-gain 1`): the grid multiplies what it returns.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from color_plane import folders_line, held_out, score, summarize

from colorgan.colorize import Colorizer, compose
from colorgan.data import sample_folder
from colorgan.evaluation.evaluate import gray_baseline
from colorgan.scene import capture_scene_features, fit_ridge, fit_scene_head, scene_weights

GAINS = (1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2)


def at_gains(rows: np.ndarray, gains: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """rows: (G, N, 4) per-photo figures at each grid gain -> (N, 4) at each photo's chosen gain (linear)."""
    chosen = np.clip(chosen, gains[0], gains[-1])
    k = np.clip(np.searchsorted(gains, chosen) - 1, 0, len(gains) - 2)
    w = ((chosen - gains[k]) / (gains[k + 1] - gains[k]))[:, None]
    n = np.arange(rows.shape[1])
    return rows[k, n] * (1 - w) + rows[k + 1, n] * w


def grid_and_features(colorizer: Colorizer, images, gains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One network call per photo -> its figures at every gain (G, N, 4) and the global mean of the deepest
    encoder levels' activations (N, D), the scene summary the learned policy reads."""
    rows = []
    with capture_scene_features(colorizer.backend.generator) as features:
        for im in images:
            _, ab = colorizer.predict_chroma([im.gray])
            rows.append([score(compose(im.gray, ab[0] * gain), im.truth) for gain in gains])
    return np.array(rows).transpose(1, 0, 2), np.concatenate(features)


def shortfall(rows: np.ndarray) -> np.ndarray:
    """log(truth's colorfulness / the prediction's at gain 1) per photo, clipped to a sane range."""
    return np.clip(np.log(np.maximum(rows[0, :, 3], 1.0) / np.maximum(rows[0, :, 2], 0.5)), -1.0, 2.5)


def fit_predictor(x: np.ndarray, y: np.ndarray):
    """Ridge regression of y (N,) on the features (`colorgan.scene.fit_ridge`) -> a predict function."""
    weight, bias = fit_ridge(x, y[:, None])
    return lambda q: q @ weight[0] + bias[0]


def cross_val_predict(x: np.ndarray, y: np.ndarray, folds: int = 5) -> np.ndarray:
    fold = np.random.default_rng(0).integers(0, folds, len(y))
    out = np.zeros(len(y))
    for f in range(folds):
        out[fold == f] = fit_predictor(x[fold != f], y[fold != f])(x[fold == f])
    return out


def folder_figures(at: np.ndarray, folders: np.ndarray) -> dict[str, tuple[float, float]]:
    """(mean CIEDE2000, colorfulness ratio) per folder, the two figures a policy is chosen on."""
    return {
        f: (at[folders == f, 0].mean(), at[folders == f, 2].mean() / at[folders == f, 3].mean()) for f in set(folders)
    }


def choose_learned(rows, folders, predicted, power: float, aim: str, target: float) -> dict:
    """k and gmax for g = clip(k * exp(power * predicted), 1, gmax): the aim folder at its target colorfulness,
    the other folders' CIEDE2000 the least."""
    gains, best = np.array(GAINS), None
    for gmax in (2.0, 2.2):
        for k in np.arange(0.3, 2.0, 0.01):
            figures = folder_figures(at_gains(rows, gains, np.clip(k * np.exp(power * predicted), 1, gmax)), folders)
            if figures[aim][1] >= target:
                cost = sum(de for f, (de, _) in figures.items() if f != aim)
                if best is None or cost < best[0]:
                    best = (cost, {"power": power, "scale": round(float(k), 3), "gmax": gmax})
                break
    if best is None:
        raise SystemExit(f"no learned policy with power {power} brings {aim} to colorfulness {target}")
    return best[1]


def gain_for_ratio(rows: np.ndarray, gains: np.ndarray, target: float) -> float:
    """The least gain (0.01 steps) that brings these photos' colorfulness ratio to `target`."""
    for g in np.arange(1.0, gains[-1] + 1e-9, 0.01):
        at = at_gains(rows, gains, np.full(rows.shape[1], g))
        if at[:, 2].mean() / at[:, 3].mean() >= target:
            return round(float(g), 2)
    return float(gains[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", type=Path, required=True, help="run folder whose split.json gives the held-out set")
    parser.add_argument("--model", required=True, help="weights exported at chroma gain 1")
    parser.add_argument("--per-folder", type=int, default=800)
    parser.add_argument("--learn", type=int, default=0, help="training photos per folder for the learned policy")
    parser.add_argument("--aim", default="broad:0.72", help="FOLDER:RATIO the learned policy is chosen to reach")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    images, roots = held_out(args.split, args.per_folder)
    folders = np.array([sample_folder(im.name, roots) for im in images])
    gray = np.array([score(gray_baseline(im.gray), im.truth) for im in images])
    colorizer = Colorizer.load(args.model)
    gains = np.array(GAINS)
    rows, features = grid_and_features(colorizer, images, gains)
    predicted = rows[0, :, 2]  # each photo's colorfulness as predicted at gain 1
    policies = [("uniform", {"gain": float(g)}, np.full(len(images), g)) for g in gains]
    for gmax in (1.6, 2.0, 2.2):
        for target in (20, 25, 30, 35, 40):
            lift = np.clip(target / np.maximum(predicted, 1e-3), 1, gmax)
            policies.append(("lift", {"target": target, "gmax": gmax}, lift))
    for gmax in (1.8, 2.2):
        for target in (5, 10, 15):
            policies.append(("boost", {"target": target, "gmax": gmax}, np.clip(predicted / target, 1, gmax)))

    results = {"split": str(args.split), "model": args.model, "images": len(images), "policies": []}
    if args.learn:
        aim, target = args.aim.split(":")
        train_images, _ = held_out(args.split, args.learn, part="train")
        train_folders = np.array([sample_folder(im.name, roots) for im in train_images])
        train_rows, train_features = grid_and_features(colorizer, train_images, gains)
        train_shortfall = shortfall(train_rows)
        held_shortfall = shortfall(rows)
        cv = cross_val_predict(train_features, train_shortfall)
        learned = fit_predictor(train_features, train_shortfall)(features)
        results["learned_fit"] = {
            "training_photos": len(train_images),
            "r2_cross_validated": float(1 - ((cv - train_shortfall) ** 2).mean() / train_shortfall.var()),
            "r2_held_out": float(1 - ((learned - held_shortfall) ** 2).mean() / held_shortfall.var()),
            "within_folder_correlation_held_out": {
                f: float(np.corrcoef(learned[folders == f], held_shortfall[folders == f])[0, 1]) for f in set(folders)
            },
        }
        print("learned shortfall:", json.dumps(results["learned_fit"]), flush=True)
        for power in (0.75, 1.0, 1.25, 1.5):
            params = choose_learned(train_rows, train_folders, cv, power, aim, float(target))
            chosen = np.clip(params["scale"] * np.exp(power * learned), 1, params["gmax"])
            mean_gain = {f: round(float(chosen[folders == f].mean()), 3) for f in sorted(set(folders))}
            policies.append(("learned", {**params, "mean_gain": mean_gain}, chosen))
        kinds = sorted(set(train_folders))
        weight, bias = fit_scene_head(train_features, train_folders, kinds)
        scene = scene_weights(features @ weight.T + bias)  # as the model's scene head weighs them
        results["learned_fit"]["scene_accuracy_held_out"] = float((np.array(kinds)[scene.argmax(1)] == folders).mean())
        for target in (0.7, 0.72, 0.75, 0.8):
            per_kind = {f: gain_for_ratio(train_rows[:, train_folders == f], gains, target) for f in kinds}
            chosen = scene @ np.array([per_kind[f] for f in kinds])
            policies.append(("scene", {"target": target, "gains": per_kind}, chosen))

    for name, params, chosen in policies:
        at = at_gains(rows, gains, chosen)
        per_folder = {f: summarize(at[folders == f], gray[folders == f]) for f in sorted(set(folders))}
        results["policies"].append({"policy": name, **params, "folders": per_folder})
        print(f"{name:>7} {json.dumps(params):<32}" + folders_line(per_folder), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Rebuild the "people" training set (real colour photos of faces and people).

Reads image blobs straight out of bare git mirrors (no network), normalises them and writes

    OUT/<source>/<name>.webp    short side min(256, own) -> centre square crop, WebP q90
    OUT/manifest.csv            file, repository, commit, original_path, license
    OUT/SOURCE.md               provenance, counts, licences, how it was made

Usage:
    python scripts/data/build_people.py --mirrors /work/.mirror --out ../data/people

A mirror of owner/name is expected at MIRRORS/owner+name/repo (the layout `fetch` produces).
Sources are pinned by commit. Everything runs in one process (no pool), numpy with one thread.

**The photos this script writes must never be committed to the project.**
"""

import argparse
import csv
import glob
import io
import os
import re
import subprocess
import sys
import time

# Keep CPU use modest: one BLAS thread, one process (set before numpy reads them).
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

Image.MAX_IMAGE_PIXELS = 60_000_000

# --------------------------------------------------------------------------------------------
# Training sources. Pinned commits; `prefix` is a folder inside the repository.
# --------------------------------------------------------------------------------------------
SOURCES = [
    dict(
        short="utkface_crop_part1",
        repo="Mohanish-5744/Major_Ensemble_Gender",
        commit="2f8aa4a5932c395d465f4f58d864b6a17a1b03f6",
        prefix="crop_part1/",
        license="UTKFace: non-commercial research use only (dataset terms); repository has no LICENSE",
        about="UTKFace `crop_part1` (in-the-wild face crops, 200x200, ages 0-116, many ethnicities); "
        "the repository holds all 9,780 files of part 1 as plain JPEGs",
    ),
    dict(
        short="human_faces",
        repo="logicdeveloperTR/Manually-Created-Face-Recognition-Model",
        commit="5f6ff72faec3faa90f4c25a2a9716148f9b4e571",
        prefix="Humans/",
        license="unknown: web-collected portraits (apparently the Kaggle 'Human Faces' set); "
        "repository has no LICENSE; treat as research use only",
        about="`Humans/` folder (portrait and head-and-shoulders photos, 160x160; the folder was removed in "
        "later commits, so the commit is pinned); many stock photos, a few carry watermarks",
    ),
    dict(
        short="pixabay_portraits",
        repo="Hossein88-eng/gender-classification-doe",
        commit="c25b8140b15638387f29ac8abac82d4e12d06929",
        prefix="data/",
        exclude=r"ai-generated",
        license="Pixabay License (free for commercial and non-commercial use, no attribution; data/README.md); "
        "repository MIT",
        about="`data/man` and `data/woman` (portraits and people from Pixabay, short sides 200-1000 px, most "
        "400-600); files named as AI-generated are dropped",
    ),
]

# --------------------------------------------------------------------------------------------
# Photos that must not leak into training: compared only, never copied.
# --------------------------------------------------------------------------------------------
EVAL_SETS = [
    dict(
        repo="cszn/FFDNet",
        commit="e787f46df2f374ff3591186706229cb9a0591fea",
        prefixes=["testsets/"],
        what="Kodak24, CBSD68/BSD68, McMaster, RNI6, RNI15, Set12",
    ),
    dict(
        repo="cszn/IRCNN",
        commit="d9dcd537bdac3ae5b753296cd675db8a303c8f72",
        prefixes=["testsets/"],
        what="CBSD68/BSD68, Set5, Set14, Set12, Set18, Set24, Set3C, deblur/SISR/inpaint sets",
    ),
    dict(
        repo="JingyunLiang/SwinIR",
        commit="6545850fbf8df298df73d81f3e8cba638787c8bd",
        prefixes=["testsets/"],
        what="McMaster, Set5, Set12, classic5, RealSRSet+5images",
    ),
    dict(
        repo="majedelhelou/denoising_datasets",
        commit="58234876fef6f1b56306705c78dfd40cdb837b86",
        prefixes=[""],
        what="BSD68/CBSD68, Set5/CSet5, Set14/CSet14, Urban100/CUrban100, Manga109, Sun_Hays80",
    ),
]
REALVAL_GLOB = "/work/shared/data/realval/*.webp"

IMG_EXT = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
MIN_SHORT = 160  # drop photos whose short side is below this
TARGET = 256  # short side is resized to min(TARGET, own)
MIN_SPREAD = 8.0  # mean per-pixel max(R,G,B)-min(R,G,B), 0-255; below -> gray/sepia, dropped
DUP_CORR = 0.985  # 16x16 grayscale thumbnail Pearson correlation
WEBP_Q = 90


# --------------------------------------------------------------------------------------------
class Repo:
    """Reads blobs from one bare mirror with a single `git cat-file --batch` process."""

    def __init__(self, mirrors, repo, commit):
        self.repo, self.commit = repo, commit
        self.gd = os.path.join(mirrors, repo.replace("/", "+"), "repo")
        if not os.path.isdir(self.gd):
            raise SystemExit(f"mirror missing: {self.gd} (fetch github:{repo} first)")
        r = subprocess.run(["git", "--git-dir", self.gd, "cat-file", "-t", commit], capture_output=True, text=True)
        if r.stdout.strip() != "commit":
            raise SystemExit(f"{repo}: commit {commit} not in mirror {self.gd}")
        self.proc = subprocess.Popen(
            ["git", "--git-dir", self.gd, "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def list(self, prefix):
        args = ["git", "--git-dir", self.gd, "ls-tree", "-r", "-z", self.commit]
        if prefix:
            args += ["--", prefix]
        out = subprocess.run(args, capture_output=True, check=True).stdout.decode("utf-8", "surrogateescape")
        ents = []
        for rec in out.split("\0"):
            if not rec:
                continue
            meta, path = rec.split("\t", 1)
            mode, typ, sha = meta.split()
            if typ == "blob" and path.lower().endswith(IMG_EXT):
                ents.append((path, sha))
        ents.sort()
        return ents

    def blob(self, sha):
        self.proc.stdin.write(sha.encode() + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().split()
        if len(header) < 3 or header[1] == b"missing":
            return None
        size = int(header[2])
        data = self.proc.stdout.read(size)
        self.proc.stdout.read(1)  # trailing newline
        return data

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def decode(data):
    if data is None or data.startswith(b"version https://git-lfs"):
        return None
    try:
        im = Image.open(io.BytesIO(data))
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "P", "PA"):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        return im.convert("RGB")
    except Exception:
        return None


def spread(im):
    small = im.copy()
    small.thumbnail((128, 128), Image.BILINEAR)
    a = np.asarray(small, dtype=np.int16)
    return float((a.max(2) - a.min(2)).mean())


def resize_crop(im):
    w, h = im.size
    s = min(w, h)
    t = min(TARGET, s)
    if s != t:
        nw, nh = (t, round(h * t / w)) if w <= h else (round(w * t / h), t)
        im = im.resize((max(nw, t), max(nh, t)), Image.LANCZOS)
    w, h = im.size
    left, tp = (w - t) // 2, (h - t) // 2
    return im.crop((left, tp, left + t, tp + t))


def sig(im):
    """16x16 grayscale thumbnail, zero mean, unit norm (dot product = Pearson correlation)."""
    a = np.asarray(im.convert("L").resize((16, 16), Image.BILINEAR), dtype=np.float32).ravel()
    a = a - a.mean()
    n = np.linalg.norm(a)
    return a / n if n > 1e-6 else None


def sig_pair(im):
    s = sig(im)
    m = sig(ImageOps.mirror(im))
    return s, m


def ref_sigs(im):
    """Signatures of a reference photo: the whole frame and several square crops, mirrored too."""
    out = []
    w, h = im.size
    crops = [im]
    for frac in (1.0, 0.8, 0.6):
        s = int(min(w, h) * frac)
        if s < 16:
            continue
        for cx, cy in ((0.5, 0.5), (0.0, 0.5), (1.0, 0.5), (0.5, 0.0), (0.5, 1.0)):
            left = int((w - s) * cx)
            t = int((h - s) * cy)
            crops.append(im.crop((left, t, left + s, t + s)))
    for c in crops:
        for x in sig_pair(c):
            if x is not None:
                out.append(x)
    return out


class Bank:
    def __init__(self, cap=4096):
        self.a = np.zeros((cap, 256), np.float32)
        self.n = 0
        self.ids = []

    def add(self, v, ident):
        if self.n == len(self.a):
            self.a = np.concatenate([self.a, np.zeros_like(self.a)])
        self.a[self.n] = v
        self.n += 1
        self.ids.append(ident)

    def best(self, vs):
        if self.n == 0:
            return -1.0, None
        m = self.a[: self.n] @ np.stack(vs).T
        i = int(np.argmax(m.max(1)))
        return float(m[i].max()), self.ids[i]


def safe_name(path, taken):
    base = os.path.basename(path)
    stem, ext = os.path.splitext(base)
    stem = re.sub(r"\.(jpg|jpeg|png)\.chip$", "", stem, flags=re.I)
    n = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_") or "img"
    if n in taken:
        n2 = n + "_" + ext.lstrip(".").lower()
        k = 2
        while n2 in taken:
            n2 = f"{n}_{ext.lstrip('.').lower()}{k}"
            k += 1
        n = n2
    taken.add(n)
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirrors", default="/work/.mirror")
    ap.add_argument("--out", required=True)
    ap.add_argument("--realval", default=REALVAL_GLOB, help="glob of validation photos to keep out")
    ap.add_argument("--limit", type=int, default=0, help="per-source cap on candidates (testing)")
    ap.add_argument(
        "--sources",
        nargs="+",
        choices=[src["short"] for src in SOURCES],
        help="only these sources (default: all); the shipped model's set is utkface_crop_part1 human_faces",
    )
    args = ap.parse_args()

    out = os.path.abspath(args.out)
    if os.path.abspath(out).startswith("/work/main"):
        raise SystemExit("refusing to write photos inside the work tree")
    os.makedirs(out, exist_ok=True)
    t0 = time.time()

    # ---- reference banks (never copied) ------------------------------------------------------
    realval = Bank()
    rv_files = sorted(glob.glob(args.realval))
    for f in rv_files:
        with Image.open(f) as im:
            im = im.convert("RGB")
            for v in ref_sigs(im):
                realval.add(v, "realval/" + os.path.basename(f))
    print(f"realval: {len(rv_files)} photos, {realval.n} signatures", flush=True)

    evalbank = Bank()
    eval_counts = []
    for es in EVAL_SETS:
        r = Repo(args.mirrors, es["repo"], es["commit"])
        n = 0
        seen = set()
        for pre in es["prefixes"]:
            for path, sha in r.list(pre):
                if sha in seen:
                    continue
                seen.add(sha)
                im = decode(r.blob(sha))
                if im is None:
                    continue
                n += 1
                for v in ref_sigs(im):
                    evalbank.add(v, f"{es['repo']}:{path}")
        r.close()
        eval_counts.append(n)
        print(f"eval {es['repo']}: {n} photos", flush=True)
    print(f"eval signatures: {evalbank.n}", flush=True)

    # ---- sources -----------------------------------------------------------------------------
    kept = Bank(16384)
    rows = []
    stats = []
    seen_blobs = set()
    dup_log = []
    sources = [src for src in SOURCES if not args.sources or src["short"] in args.sources]
    for src in sources:
        st = dict(
            candidates=0, exact_dup=0, undecodable=0, small=0, gray=0, dup_set=0, dup_realval=0, dup_eval=0, kept=0
        )
        r = Repo(args.mirrors, src["repo"], src["commit"])
        ents = r.list(src["prefix"])
        if src.get("exclude"):
            ents = [(path, sha) for path, sha in ents if not re.search(src["exclude"], path)]
        if args.limit:
            ents = ents[: args.limit]
        d = os.path.join(out, src["short"])
        os.makedirs(d, exist_ok=True)
        taken = set()
        for i, (path, sha) in enumerate(ents):
            st["candidates"] += 1
            if sha in seen_blobs:
                st["exact_dup"] += 1
                continue
            seen_blobs.add(sha)
            im = decode(r.blob(sha))
            if im is None:
                st["undecodable"] += 1
                continue
            if min(im.size) < MIN_SHORT:
                st["small"] += 1
                continue
            sq = resize_crop(im)
            if spread(sq) < MIN_SPREAD:
                st["gray"] += 1
                continue
            s, m = sig_pair(sq)
            if s is None:
                st["gray"] += 1
                continue
            c, who = evalbank.best([s, m])
            if c >= DUP_CORR:
                st["dup_eval"] += 1
                dup_log.append((src["short"], path, "eval", who, c))
                continue
            c, who = realval.best([s, m])
            if c >= DUP_CORR:
                st["dup_realval"] += 1
                dup_log.append((src["short"], path, "realval", who, c))
                continue
            c, who = kept.best([s, m])
            if c >= DUP_CORR:
                st["dup_set"] += 1
                continue
            name = safe_name(path, taken)
            rel = f"{src['short']}/{name}.webp"
            sq.save(os.path.join(out, rel), "WEBP", quality=WEBP_Q, method=4)
            kept.add(s, rel)
            rows.append((rel, src["repo"], src["commit"], path, src["license"]))
            st["kept"] += 1
            if (i + 1) % 1000 == 0:
                print(
                    f"  {src['short']}: {i + 1}/{len(ents)} seen, {st['kept']} kept ({time.time() - t0:.0f}s)",
                    flush=True,
                )
        r.close()
        stats.append(st)
        print(f"{src['short']}: {st}", flush=True)

    with open(os.path.join(out, "manifest.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "repository", "commit", "original_path", "license"])
        w.writerows(rows)
    with open(os.path.join(out, "dropped_duplicates.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source", "original_path", "matched_bank", "matched", "correlation"])
        for rec in dup_log:
            w.writerow(rec[:4] + (f"{rec[4]:.4f}",))
    write_source_md(out, sources, stats, eval_counts, len(rv_files), len(rows))
    print(f"done: {len(rows)} photos in {time.time() - t0:.0f}s -> {out}", flush=True)


def write_source_md(out, sources, stats, eval_counts, n_realval, total):
    L = []
    L.append(f"# People set: {total:,} real colour photos of faces and people\n")
    L.append(
        "For training colorization on portraits and people (the project's other training sets have almost none).\n"
    )
    L.append("**Never commit these photos, or anything derived from them except trained weights, into the project.**\n")
    L.append("Rebuild (no network; the mirrors must already be fetched):\n")
    L.append("```\npython scripts/data/build_people.py --mirrors /work/.mirror --out ../data/people\n```\n")
    L.append("| folder | photos kept | origin (public GitHub repository @ pinned commit) | license | how it was made |")
    L.append("|---|---|---|---|---|")
    for src, st in zip(sources, stats):
        how = (
            f"{src['about']}. {st['candidates']:,} files read; dropped: {st['exact_dup']} identical blobs, "
            f"{st['undecodable']} undecodable/LFS, {st['small']} short side < {MIN_SHORT} px, "
            f"{st['gray']} gray/sepia, {st['dup_set']} near-duplicates within the set, "
            f"{st['dup_realval']} near-duplicates of realval, {st['dup_eval']} near-duplicates of evaluation sets"
        )
        L.append(
            f"| `{src['short']}/` | {st['kept']:,} | `{src['repo']}` @ `{src['commit'][:8]}` "
            f"(path `{src['prefix']}`) | {src['license']} | {how} |"
        )
    L.append("")
    L.append(
        "`manifest.csv` gives, for every file, its source repository, full commit, original path and license. "
        "`dropped_duplicates.csv` lists every photo dropped as a near-duplicate of realval "
        "or an evaluation set.\n"
    )
    L.append("## How it was made\n")
    L.append(
        "- blobs are read with `git cat-file` from the pinned commit of each mirror; Git LFS pointers and "
        "undecodable files are skipped; identical blobs are taken once;"
    )
    L.append("- decoded with Pillow, EXIF orientation applied, converted to RGB (transparent PNGs over white);")
    L.append(f"- photos whose short side is under {MIN_SHORT} px are dropped;")
    L.append(
        f"- the short side is resized to min({TARGET}, own) px (Lanczos), then a centre square is cropped "
        f"and saved as WebP quality {WEBP_Q};"
    )
    L.append(
        f"- near-gray and sepia photos are dropped: mean per-pixel channel spread max(R,G,B)-min(R,G,B) "
        f"under {MIN_SPREAD:g} levels (0-255), measured on the crop;"
    )
    L.append(
        f"- near-duplicates are dropped: 16x16 grayscale thumbnail Pearson correlation >= {DUP_CORR}, "
        "the candidate also compared mirrored; (a) within this set, in source order; "
        f"(b) against the {n_realval} validation photos in `/work/shared/data/realval/` (whole frame and "
        "square crops at 100/80/60 % of the short side, centre and four edges, mirrored too); "
        "(c) against the standard evaluation sets below, the same way."
    )
    L.append("")
    L.append("## Evaluation sets compared against (their photos are never used for training)\n")
    L.append("| repository @ commit | photos | sets |")
    L.append("|---|---|---|")
    for es, n in zip(EVAL_SETS, eval_counts):
        L.append(f"| `{es['repo']}` @ `{es['commit'][:8]}` | {n} | {es['what']} |")
    L.append("")
    L.append(
        "Covered: Kodak24, CBSD68/BSD68, McMaster, Set5, Set14, Set12, RNI6, RNI15, Urban100. "
        "Not covered: the full BSDS300/BSDS500 (only their 68-photo test subset, BSD68), and the test "
        "photos of DDColor, DeOldify, Bringing-Old-Photos-Back-to-Life (none of those repositories was read; "
        "none of their photos is a source here). The sources are face datasets, which makes overlap with "
        "these scene/benchmark sets very unlikely.\n"
    )
    L.append("## Licenses and caveats\n")
    L.append(
        "- UTKFace is released for non-commercial research only. The `Humans/` folder has no stated license; "
        "its photos are web-collected portraits (stock photos, some watermarked, some of public figures). "
        "Treat the whole set as **research use only**; weights trained on it inherit that restriction and the "
        "model card must say so."
    )
    L.append("- Both sources are tight face / head-and-shoulders crops; there are few full-body or crowd scenes.")
    L.append(
        "- UTKFace crops are small JPEGs (200 px, often soft); `Humans/` photos are 160 px, kept at 160 px "
        "(never upscaled). A few `Humans/` photos look retouched or synthetically warped."
    )
    with open(os.path.join(out, "SOURCE.md"), "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    sys.exit(main())

"""Scoring a model on held-out photos: the metrics (pure functions), LPIPS, the run that applies them with
baselines and paired intervals, and the HTML report.

    evaluate.py     evaluate a run's held-out split or any folder; the gray and mean-chroma baselines
    metrics.py      PSNR, SSIM, CIEDE2000, colorfulness, bootstrap intervals (pure functions of arrays)
    lpips.py        the LPIPS perceptual distance (optional weights)
    html_report.py  the report page with tiles of gray | ours | truth
"""

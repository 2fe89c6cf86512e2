"""Training: the GAN step, the loop around it, and the data it reads.

pix2pix.py      the step: `Pix2Pix` owns G, D, their optimizers and G's moving average
trainer.py      the loop: schedule, log.csv, samples, loss.png, atomic checkpoints, exact resume
data.py         finding photos in one or several folders, decoding them, the per-folder split
pixel_cache.py  every photo decoded once into uint8 arrays on disk
batches.py      batches as a pure function of (seed, epoch, index); the cache on a GPU
distributed.py  the torchrun process group; ranks agreeing on a skipped step
run_lock.py     one process per run folder
run_log.py      a run's log.csv
allocator.py    training keeps the memory it frees (glibc mallopt)
report.py       loss graphs, sample grids, inline images for HTML pages
stopping.py     SIGTERM or Ctrl-C stops training after the step in progress, with a checkpoint
"""

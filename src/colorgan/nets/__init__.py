"""The networks, and nothing that trains or applies them.

unet.py            the pix2pix U-Net generator (regression or bins head)
patchgan.py        the 70x70 PatchGAN discriminator
efficientnet.py    EfficientNet-Lite0, the ImageNet encoder
efficient_unet.py  the U-Net whose encoder is EfficientNet-Lite0 (the shipped model)
cpu_kernels.py     optimize_for_cpu: dropout and transposed convolutions swapped in place for faster CPU kernels
build.py           the networks a TrainConfig describes, their init, weights to start from, folding batch norm
"""

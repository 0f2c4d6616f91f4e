"""Image-quality metrics of Table I (Sec. V-B), one module per metric; NumPy only.

- `fidelity`: PSNR and SSIM on Y with the MATLAB benchmark's conventions (Y, gray, shave).
- `vif`: the pixel-domain multiscale VIF-P of Sheikh & Bovik.
- `niqe`: NIQE (Mittal et al. 2013), no reference, with its pristine-model file.
"""

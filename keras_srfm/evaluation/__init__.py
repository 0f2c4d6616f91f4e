"""Scoring models the way the paper does, and showing the results.

- `protocol`: `srfm evaluate`, Table I's protocol (mod-crop, MATLAB bicubic x1/4, upscale,
  Y channel, shave, PSNR / SSIM / VIF, optional NIQE) and its reports.
- `pd_plane`: the perception-distortion plane (`srfm plot-pd`).
- `compare`: side-by-side zoomed crops and the HTML comparison page (`srfm compare`).
- `demo`: the offline test-chart demo (`srfm demo`).

The metrics themselves live in `keras_srfm.metrics`; none of these modules imports the
upscalers of `keras_srfm.inference` (a scorer takes any callable).
"""

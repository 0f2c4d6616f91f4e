"""Upscaling with a trained or shipped generator.

- `upscalers`: `load_upscaler` for every format (`.keras`, SavedModel, `.tflite`, bicubic),
  `upscale_loaded` for a decoded image file.
- `tiling`: the receptive-field radius and exact overlapping tiles.
- `presets`: the shipped models (`exported_models/`), `load_generator`, `list_models`.
- `blend`: network interpolation between two generators (`srfm blend`).
- `bench`: the runtimes race of `srfm bench` (Keras, XLA, SavedModel, TFLite) on one machine.
"""

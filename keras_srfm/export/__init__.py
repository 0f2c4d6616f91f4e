"""Generator-only export: SavedModel for TF Serving, TFLite / LiteRT for devices.

Modules are imported on use (TensorFlow is heavy): `keras_srfm.export.saved_model`,
`keras_srfm.export.tflite`, `keras_srfm.export.serving_client`.
"""

"""Generator-only export: SavedModel for TF Serving, TFLite / LiteRT for devices, ONNX and ncnn
for ONNX Runtime, chaiNNer, upscayl, realesrgan-ncnn-vulkan and the browser (`srfm web`).

Modules are imported on use (TensorFlow is heavy): `keras_srfm.export.saved_model`,
`keras_srfm.export.tflite`, `keras_srfm.export.onnx`, `keras_srfm.export.ncnn`,
`keras_srfm.export.serving_client`; `keras_srfm.export.source` loads the generator a converter
starts from (a shipped name, a `.keras` file or a SavedModel).
"""

"""`srfm web`: an upscaler that runs in the browser page (onnxruntime-web, WebAssembly).

`server` serves one page, the model as ONNX and the vendored onnxruntime-web files on
127.0.0.1; `page.html` decodes the dropped image, upscales it tile by tile in the page, shows it
beside the input with `srfm compare`'s slider and offers the PNG. `vendor` fetches the pinned
onnxruntime-web files from npm at build time (they are not committed: see docs/formats.md).
"""

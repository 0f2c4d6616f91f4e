"""Image files: reading and writing them, their formats, atomic writes, MATLAB bicubic.

- `image_io`: decode any supported file to uint8 (EXIF orientation, 16-bit, alpha, ICC), write
  outputs without leaving half-written files; no TensorFlow.
- `formats`: the one list of image extensions and output formats, the `srfm degrade` set layout.
- `atomic`: every file the package writes goes through a temp file and `os.replace`; standard
  library only.
- `imresize`: MATLAB `imresize` (bicubic, antialiased) in NumPy, the LR of Table I's protocol.
"""

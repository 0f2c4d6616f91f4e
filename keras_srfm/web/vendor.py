"""The onnxruntime-web files `srfm web` serves, fetched from npm at build time.

Only the WebAssembly build is used (no WebGPU / WebGL): `ort.wasm.min.js` (the API, 54 KB),
`ort-wasm-simd-threaded.mjs` (its Emscripten loader) and `ort-wasm-simd-threaded.wasm`
(the kernels, 14.8 MB, 3.8 MB gzipped). They are not committed: `python -m
keras_srfm.web.vendor` (run by `.ci/run`, and by `setup.py` when a wheel is built) runs
`npm pack onnxruntime-web@ORT_WEB_VERSION`, checks the tarball against the npm registry's
published sha512 (`ORT_WEB_INTEGRITY`, pinned here) and extracts the three files into
`keras_srfm/web/vendor/`, with the version and licence in `ort_web.json`. Nothing is fetched
when the page runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from keras_srfm.imaging.atomic import atomic_write, write_json

ORT_WEB_VERSION = "1.31.1"
# `npm view onnxruntime-web@1.31.1 dist.integrity`
ORT_WEB_INTEGRITY = "sha512-5GeH+bWQ+HxM10z7erGlsWqryrwMbSvm/1tkIsKTT48g0fI19VXVVC435t4t7VsPdSQeS7NmuZPXrQ73k82URw=="
FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
INFO_FILE = "ort_web.json"
VENDOR_DIR = Path(__file__).with_name("vendor")


def missing_files(folder: Path = VENDOR_DIR) -> list[str]:
    """The vendored files (and `ort_web.json`) that are not in `folder`."""
    return [name for name in (*FILES, INFO_FILE) if not (folder / name).is_file()]


def vendor_onnxruntime_web(folder: Path = VENDOR_DIR) -> Path:
    """Fetches the pinned onnxruntime-web with `npm pack` and extracts `FILES` into `folder`.

    Raises:
        FileNotFoundError: npm is not installed.
        ValueError: the tarball's sha512 is not the pinned one.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm not found: it fetches onnxruntime-web (apt-get install npm)")
    with tempfile.TemporaryDirectory(prefix="srfm_ort_web_") as tmp:
        subprocess.run(
            [npm, "pack", f"onnxruntime-web@{ORT_WEB_VERSION}", "--pack-destination", tmp],
            check=True,
            capture_output=True,
        )
        tarball = next(Path(tmp).glob("onnxruntime-web-*.tgz"))
        digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        if f"sha512-{digest}" != ORT_WEB_INTEGRITY:
            raise ValueError(f"{tarball.name}: sha512 differs from the pinned {ORT_WEB_INTEGRITY}")
        with tarfile.open(tarball) as archive:
            package = json.load(archive.extractfile("package/package.json"))
            folder.mkdir(parents=True, exist_ok=True)
            for name in FILES:
                atomic_write(folder / name, archive.extractfile(f"package/dist/{name}").read())
    info = {
        key: package[key] for key in ("name", "version", "license", "homepage") if key in package
    }
    write_json(folder / INFO_FILE, {**info, "files": list(FILES)})
    return folder


def main() -> int:
    if not missing_files():
        print(f"onnxruntime-web {ORT_WEB_VERSION} already in {VENDOR_DIR}")
        return 0
    folder = vendor_onnxruntime_web()
    size = sum((folder / name).stat().st_size for name in FILES) / 1e6
    print(f"vendored onnxruntime-web {ORT_WEB_VERSION} into {folder} ({size:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

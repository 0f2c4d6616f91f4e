"""Every `srfm` command shown in docs/quickstart.md and README.md runs, as shown.

The commands are read from the pages' bash blocks (so the test follows the docs), run through
`keras_srfm.cli.main` (what the `srfm` script calls) in a temporary folder that holds a synthetic `photo.jpg`, and must exit 0 and write what the page
says they write. `pip install` lines are the environment the suite already runs in.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from PIL import Image

from keras_srfm import cli
from keras_srfm.evaluation import demo

ROOT = Path(__file__).resolve().parents[2]
PAGES = (ROOT / "docs" / "quickstart.md", ROOT / "README.md")


def srfm_commands(page: Path) -> list[str]:
    """The `srfm ...` commands of a page's ```bash blocks (also after `&&`), comments dropped."""
    blocks = re.findall(r"```bash\n(.*?)```", page.read_text(), flags=re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("#", 1)[0].split("&&"):
                if part.strip().startswith("srfm "):
                    commands.append(part.strip())
    return commands


def test_pages_show_the_commands() -> None:
    quick = srfm_commands(PAGES[0])
    assert [c.split()[1] for c in quick] == ["demo", "upscale", "compare"], quick
    assert srfm_commands(PAGES[1]), "README shows no srfm command"


@pytest.mark.slow
def test_quickstart_commands_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    Image.fromarray(demo.render_chart(160)).convert("RGB").save(tmp_path / "photo.jpg", quality=92)
    monkeypatch.chdir(tmp_path)
    # In one process (the `srfm` entry point is cli.main): TensorFlow is imported once.
    for command in dict.fromkeys(c for page in PAGES for c in srfm_commands(page)):
        code = cli.main(shlex.split(command)[1:])
        assert code == 0, f"{command}: {capsys.readouterr().err[-2000:]}"
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert {"srfm_demo.png", "out/photo_x4.png", "page.html"} <= written, written
    assert Image.open(tmp_path / "out" / "photo_x4.png").size == (640, 640)
    page = (tmp_path / "page.html").read_text()
    assert "srfm_mp" in page and "srfm_pcsa" in page

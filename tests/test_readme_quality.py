"""README's quality table is what ``vsr eval`` measures: the shipped weights' Set5 and Set14 PSNR (and the
bicubic rows) at x2, x3 and x4, read from README.md and recomputed here with the protocol's public functions.
"""
from pathlib import Path
import re

import pytest

from vsr import Upscaler
from vsr.evaluate import evaluate
from vsr.protocol import matlab_bicubic

README = Path(__file__).resolve().parents[1] / "README.md"
SETS = ("Set5", "Set14")


def table():
    """{(scale, method): {set: dB}} from README's markdown table (bold marks removed)."""
    lines = README.read_text().splitlines()
    head = next(i for i, line in enumerate(lines) if re.match(r"\|\s*scale\s*\|\s*method\s*\|", line))
    names = [c.strip() for c in lines[head].strip("|").split("|")][2:]
    rows = {}
    for line in lines[head + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        scale, method = int(cells[0].lstrip("x")), cells[1]
        rows[(scale, method)] = {n: float(v) for n, v in zip(names, cells[2:]) if re.fullmatch(r"\d+\.\d+", v)}
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_readme_table_matches_eval(shared_data, scale):
    rows = table()
    ours, bic = rows[(scale, "vsr ESPCN")], rows[(scale, "bicubic")]
    up = Upscaler(scale, "cpu")
    methods = {"bicubic": lambda lr: matlab_bicubic(lr, scale), "ESPCN": up.upscale_y}
    results = evaluate([shared_data / "images" / s for s in SETS], scale, methods, with_ssim=False)
    for name, res in zip(SETS, results):
        assert res.mean_psnr("ESPCN") == pytest.approx(ours[name], abs=0.0051), (scale, name)
        assert res.mean_psnr("bicubic") == pytest.approx(bic[name], abs=0.0051), (scale, name)

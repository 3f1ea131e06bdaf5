"""The HTML report looked at in headless Chromium: it renders, it is not blank, the plots are drawn
(visible SVGs with ink in them), the verl run's curve shows the last training step and the reported
step, and the code link points at the file and line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_helpers import run_cli  # noqa: E402
from nightly_lab import make_repo, make_results  # noqa: E402

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed: the browser check cannot run")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("html")
    repo, shas = make_repo(root)
    results = make_results(root, shas)
    proc = run_cli("nightly", str(results), "--repo", str(repo), "--out", str(root / "report"), "--jobs", "1",
                   cwd=root, env={"XDG_CACHE_HOME": str(root / "cache")})
    assert proc.returncode == 1, proc.stderr
    return root / "report" / "report.html"


def test_screenshot_is_full_size_and_not_blank(report, tmp_path):
    from PIL import Image, ImageStat

    png = tmp_path / "shot.png"
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
                           "--window-size=1280,2000", report.as_uri()], capture_output=True, text=True, timeout=120)
    assert png.is_file(), proc.stderr[-2000:]
    image = Image.open(png).convert("L")
    assert image.size == (1280, 2000)
    assert ImageStat.Stat(image).stddev[0] > 20  # not a blank page
    dark = sum(image.histogram()[:200])
    assert dark > 0.02 * 1280 * 2000  # text, tables and plots: plenty of ink


def test_plots_render_with_the_incident_visible(report, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    from PIL import Image

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(report.as_uri())
        boxes = page.eval_on_selector_all(
            "svg.plot", "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; })")
        assert len(boxes) == 4  # one comparison + the three runs that skipped their final validation
        assert all(w > 400 and h > 150 for w, h in boxes), boxes

        run_plot = page.locator("#run-skip-s0 svg.plot")
        texts = run_plot.locator("text").all_text_contents()
        assert any("last training step (29)" in t for t in texts), texts
        assert any("reported step (20)" in t for t in texts), texts
        assert any("after step 20" in t for t in texts), texts

        shot = tmp_path / "plot.png"
        run_plot.screenshot(path=str(shot))
        image = Image.open(shot).convert("RGB")
        data = image.tobytes()
        pixels = [tuple(data[i:i + 3]) for i in range(0, len(data), 3)]
        inked = sum(1 for r, g, b in pixels if min(r, g, b) < 235)
        assert inked > 0.03 * len(pixels)  # the curve, markers, axes and the shaded gap are drawn
        reddish = sum(1 for r, g, b in pixels if r > 180 and g < 120 and b < 120)
        assert reddish > 50  # the red "last training step" line

        # No remote to link to: the code is shown as it was at the finding's commit, in the report itself.
        code = page.locator("code", has_text="trainer/ray_trainer.py:").first
        assert code.is_visible()
        browser.close()

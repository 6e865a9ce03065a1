"""The backprop explorer page: self-contained, small, and right in a real (headless) browser."""
import base64
import io
import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image
from viz_record import HandRecord, lenet_step_record

from minicnn.viz import image_grid
from minicnn.viz.explorer import render_html, thumbnails, write_html

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    record = lenet_step_record(n=8)
    path = tmp_path_factory.mktemp("explorer") / "step.html"
    size = write_html(record, str(path))
    return record, path, size


def embedded(text, element_id):
    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>',
                      text, re.S)
    return json.loads(match.group(1))


def test_page_is_one_self_contained_file_of_a_few_mb(page_file):
    record, path, size = page_file
    text = path.read_text(encoding="utf-8")
    assert size == len(text.encode("utf-8")) and size < 3_000_000
    assert not re.search(r"https?://|<link|<script[^>]+src=|<img[^>]+src=\"(?!data:)", text)
    assert embedded(text, "meta") == json.loads(json.dumps(record.to_dict()))
    thumbs = embedded(text, "thumbs")
    arrays = record.arrays()
    kept = {slot["array"] for event in record.to_dict()["events"]
            for slot in event["inputs"] + event["outputs"] if slot and slot["array"]}
    assert set(thumbs) == {key for key in kept if arrays[key].ndim >= 1}


def decode(src):
    data = base64.b64decode(src.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def test_thumbnails_show_the_values_and_say_what_was_cut():
    rng = np.random.default_rng(0)
    activations = rng.standard_normal((5, 20, 100, 100))
    drawn = thumbnails(activations)
    assert len(drawn["images"]) == 16 and drawn["step"] == 3
    assert "sample 0 of 5" in drawn["note"] and "channels 0-15 of 20" in drawn["note"]
    assert "every 3th element" in drawn["note"]
    tile = activations[0, 4, ::3, ::3]
    picture = decode(drawn["images"][4]["src"])
    expected = image_grid.colormap_lut("viridis")[
        np.round((tile - tile.min()) / (tile.max() - tile.min()) * 255).astype(int)]
    np.testing.assert_array_equal(picture[::drawn["scale"], ::drawn["scale"]], expected)
    gradient = thumbnails(np.zeros((2, 3)), gradient=True)  # all zero: the white middle
    middle = image_grid.colormap_lut("RdBu_r")[128]
    assert (decode(gradient["images"][0]["src"]) == middle).all()


def test_nan_statistics_survive_the_json():
    record = HandRecord({"format": "minicnn.trace/1", "model": "M", "loss": float("nan"),
                         "events": []}, {})
    assert embedded(render_html(record), "meta")["loss"] == "NaN"  # JSON has no NaN


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")
def test_browser_steps_through_every_op(page_file):
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright)")
    record, path, _ = page_file
    events = record.to_dict()["events"]
    errors, requests = [], []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(path.as_uri())
        for i, event in enumerate(events):
            assert page.text_content("#event-index") == f"#{i}"
            assert page.text_content("#op-name") == event["op"]
            check_statistics(page, event)
            page.keyboard.press("ArrowRight")
        assert page.text_content("#event-index") == f"#{len(events) - 1}"  # stays at the end
        page.keyboard.press("Home")
        page.click("#op-3")
        assert page.text_content("#op-name") == events[3]["op"] == "conv2d"
        check_conv_zoom(page, events)
        page.goto(path.as_uri() + "#5")  # a link to one op
        assert page.text_content("#event-index") == "#5"
        browser.close()
    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests


def check_statistics(page, event):
    """The page's mean/max of each slot equal the record's (to the 4 digits shown)."""
    for group in ("inputs", "outputs"):
        for j, slot in enumerate(event[group]):
            if slot is None:
                continue
            for stat in ("mean", "max"):
                shown = page.text_content(f'td[data-stat="{group}.{j}.{stat}"]')
                assert float(shown) == pytest.approx(slot["stats"][stat], rel=1e-3, abs=1e-12)


def check_conv_zoom(page, events):
    """Jump to the conv with a receptive-field zoom: its sum of x * w + b is the output."""
    index = next(e["index"] for e in events if (e.get("zoom") or {}).get("kind")
                 == "conv_receptive_field")
    page.click(f"#op-{index}")
    page.wait_for_selector("#zoom canvas")
    text = page.text_content("#conv-sum")
    computed, recorded = re.search(r"= (\S+)\s+\(recorded output (\S+)\)", text).groups()
    assert float(computed) == pytest.approx(float(recorded), rel=1e-3)
    assert float(recorded) == pytest.approx(events[index]["zoom"]["out"], rel=1e-3)

"""The backprop explorer page of a real recorded LeNet-5 step (minicnn.explain.step):
self-contained, small, and right in a real (headless) browser."""
import base64
import io
import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

import minicnn
from minicnn import explain, models, optim
from minicnn.data import Batches, load_bundled
from minicnn.trace import Record
from minicnn.viz import image_grid
from minicnn.viz.explorer import (
    TILE_BUDGET,
    page_thumbnails,
    page_zooms,
    render_html,
    thumbnails,
    write_html,
)

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)


def lenet5_step(n=4):
    """One real SGD step of a fresh LeNet-5 on the first n bundled test images."""
    minicnn.manual_seed(0)
    model = models.build("lenet5", num_classes=10, in_channels=1)
    data = load_bundled()
    x, y = next(iter(Batches(data.test_x[:n], data.test_y[:n], n, data.mean, data.std)))
    return explain.step(model, x, y, optim.SGD(model.parameters(), lr=0.1),
                        class_names=data.class_names, name="lenet5")


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    record = lenet5_step()
    path = tmp_path_factory.mktemp("explorer") / "step.html"
    size = write_html(record, str(path))
    return record, path, size


def embedded(text, element_id):
    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>',
                      text, re.S)
    return json.loads(match.group(1))


def test_page_is_one_self_contained_file_of_the_whole_record(page_file):
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


def test_the_page_holds_the_same_zooms_as_the_text_command(page_file):
    """One record, several views: the page's zooms are record.zoom(i), checks and all."""
    record, path, _ = page_file
    zooms = embedded(path.read_text(encoding="utf-8"), "zooms")
    zoomable = [e["index"] for e in record.forward if e["op"] != "reshape"]
    assert sorted(int(i) for i in zooms) == zoomable  # every op but the flatten has one
    for index in zoomable:
        assert zooms[str(index)] == json.loads(json.dumps(record.zoom(index)))
        assert all(check["ok"] for check in zooms[str(index)]["checks"])
    kinds = {zooms[str(i)]["op"]: (zooms[str(i)]["view"] or {}).get("kind") for i in zoomable}
    assert kinds == {"conv2d": "conv_receptive_field", "max_pool2d": "max_pool_argmax",
                     "relu": None, "linear": None,
                     "softmax_cross_entropy": "softmax_cross_entropy"}


def test_zooms_are_skipped_where_no_arrays_were_kept():
    minicnn.manual_seed(0)
    model = models.build("lenet5", num_classes=10, in_channels=1)
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype("f4")
    record = explain.step(model, x, np.array([1, 2]), optim.SGD(model.parameters(), lr=0.1),
                          keep=["c3"])
    assert sorted(page_zooms(record)) == [str(e["index"]) for e in record.forward
                                          if e["module"] == "c3"]


def decode(src):
    data = base64.b64decode(src.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def test_thumbnails_show_the_values_and_say_what_was_cut():
    rng = np.random.default_rng(0)
    activations = rng.standard_normal((5, 20, 100, 100))  # larger than any LeNet-5 array
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


def test_equal_arrays_are_drawn_once_and_large_records_draw_fewer_channels():
    rng = np.random.default_rng(0)
    arrays = {f"{i}/out": rng.standard_normal((1, 64, 4, 4)) for i in range(200)}
    arrays["200/x"] = arrays["199/out"].copy()  # the next op's input: the same values

    def event(i, name):
        return {"phase": "forward", "inputs": [], "outputs": [{"array": f"{i}/{name}"}]}

    meta = {"events": [event(i, "out") for i in range(200)] + [event(200, "x")]}
    thumbs = page_thumbnails(meta, arrays)
    assert thumbs["200/x"] == "199/out"  # a key the page looks up, not a second drawing
    drawn = [thumbs[f"{i}/out"] for i in range(200)]
    assert {len(d["images"]) for d in drawn} == {12}  # 200 * 12 <= TILE_BUDGET < 200 * 13
    assert 200 * 12 <= TILE_BUDGET < 200 * 13
    assert all("channels 0-11 of 64" in d["note"] for d in drawn)


def test_nan_statistics_survive_the_json():
    record = Record("M", loss=float("nan"))
    assert embedded(render_html(record), "meta")["loss"] == "NaN"  # JSON has no NaN


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")
def test_browser_steps_through_every_op(page_file):
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright)")
    record, path, _ = page_file
    events = record.to_dict()["events"]
    assert [e["phase"] for e in events[:1] + events[-1:]] == ["forward", "update"]
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
            assert page.text_content("#op-phase") == event["phase"]
            check_statistics(page, event)
            page.keyboard.press("ArrowRight")
        assert page.text_content("#event-index") == f"#{len(events) - 1}"  # stays at the end
        page.keyboard.press("Home")
        assert page.text_content("#event-index") == "#0"
        check_conv_zoom(page, record)
        check_pool_zoom(page, record)
        check_loss_zoom(page, record)
        page.goto(path.as_uri() + "#5")  # a link to one op
        assert page.text_content("#event-index") == "#5"
        check_filtered_record(page, record, path.with_name("c3.html"))
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


def check_conv_zoom(page, record):
    """conv c1 forward and backward: the receptive field is boxed on the input, its im2col
    column is the input window, and column . W[oc] + b is the output the engine computed."""
    conv = record.filter(op="conv2d", phase="forward")[0]
    backward = next(e for e in record.backward if e["forward_index"] == conv["index"])
    zoomed = record.zoom(conv["index"])
    v = zoomed["view"]
    engine = record.array(conv["index"], "out")[v["n"], v["oc"], v["oh"], v["ow"]]
    bias = record.array(conv["index"], "bias")[v["oc"]]
    x = record.array(conv["index"], "x")[v["n"]]
    PT, _, PL, _ = conv["params"]["padding"]
    window = np.pad(x, ((0, 0), (PT, PT), (PL, PL)))[
        :, v["top"] + PT:v["top"] + PT + v["KH"], v["left"] + PL:v["left"] + PL + v["KW"]]
    for index in (conv["index"], backward["index"]):
        page.click(f"#op-{index}")
        page.wait_for_selector("#zoom canvas")
        text = page.text_content("#conv-sum")
        numbers = re.search(r"= (\S+) \+ (\S+) = (\S+)\s+\(recorded output (\S+)\)", text)
        dot, b, computed, recorded = (float(s) for s in numbers.groups())
        assert dot == pytest.approx(float(engine - bias), rel=2e-3, abs=1e-6)
        assert b == pytest.approx(float(bias), rel=1e-3)
        for shown in (computed, recorded):
            assert shown == pytest.approx(float(engine), rel=1e-3, abs=1e-6)
        column = [float(page.text_content(f"#zoom table tr:nth-child({k + 2}) td:nth-child(3)"))
                  for k in range(v["KH"] * v["KW"])]
        np.testing.assert_allclose(column, window.ravel(), rtol=1e-3, atol=1e-6)
        assert page.text_content("#zoom-checks").count("matches") == len(zoomed["checks"])


def check_filtered_record(page, record, path):
    """A page of record.filter(module="c3"): its events keep their indices; the backward op
    links to its forward op and shows the same zoom."""
    part = record.filter(module="c3")
    write_html(part, str(path))
    forward, backward = part.filter(op="conv2d")
    page.goto(path.as_uri() + f"#{backward['index']}")
    assert page.text_content("#event-index") == f"#{backward['index']}"
    assert page.text_content("#zoom h3") == record.zoom(forward["index"])["title"]
    page.click(f"a[data-jump='{forward['index']}']")
    assert page.text_content("#event-index") == f"#{forward['index']}"
    page.wait_for_selector("#zoom canvas")


def check_pool_zoom(page, record):
    """max pool s2: one red cell per output position of the zoomed channel."""
    pool = record.filter(op="max_pool2d", phase="forward")[0]
    page.click(f"#op-{pool['index']}")
    page.wait_for_selector("#zoom canvas")
    OH, OW = pool["outputs"][0]["shape"][2:]
    assert page.text_content("#pool-cells").startswith(f"{OH * OW} cells chosen")


def check_loss_zoom(page, record):
    """softmax cross-entropy: p - y of image 0 at its true class is p - 1."""
    loss = record.filter(op="softmax_cross_entropy", phase="forward")[0]
    page.click(f"#op-{loss['index']}")
    label = record.batch["labels"][0]
    p_true = record.batch["probabilities"][0][label]
    cells = page.locator("#zoom td.hit")  # the true classes in p, then in p - y
    n = len(record.zoom(loss["index"])["view"]["y"])
    assert cells.count() == 2 * n
    assert float(cells.nth(0).text_content()) == pytest.approx(p_true, rel=1e-3)
    assert float(cells.nth(n).text_content()) == pytest.approx(p_true - 1, rel=1e-3)


def test_the_command_writes_the_page_of_a_resnet(tmp_path, capsys):
    """python -m minicnn.explain resnet18 -o width=0.25 --html: BatchNorm zooms included."""
    from minicnn.explain.__main__ import main
    path = tmp_path / "resnet.html"
    assert main(["resnet18", "-o", "width=0.25", "--batch", "2", "--html", str(path)]) == 0
    assert capsys.readouterr().out.endswith(f"wrote {path}\n")
    text = path.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) < 3_000_000
    events = embedded(text, "meta")["events"]
    zooms = embedded(text, "zooms")
    norms = [z for z in zooms.values() if z["op"] == "batch_norm"]
    assert len(norms) == sum(e["op"] == "batch_norm" and e["phase"] == "forward" for e in events)
    assert all(z["view"]["kind"] == "batch_norm_stats" and z["view"]["source"] == "batch"
               for z in norms)
    assert all(check["ok"] for z in zooms.values() for check in z["checks"])

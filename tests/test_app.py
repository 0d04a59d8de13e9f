"""The web app through its real server: ``gradio_client`` calls of the ``/refine`` API and of the page's
own endpoint for every prompt kind and every bad input, and a real browser (Debian's chromium driven
by Playwright) that uploads a photograph, draws a box and gets an alpha.

One server for the module (composed ``conf/app.yaml`` on a free port, a 64 px canvas, tight upload
limits so that the limits can be hit with small files), on a 128x96 composite with a known alpha.
"""

from __future__ import annotations

import io
import json
import os
import socket
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

pytest.importorskip("gradio", reason="the app extra is not installed: pip install -e '.[app]'")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from iosm.data.io import read_alpha, read_image, write_image  # noqa: E402

# An opaque object near the middle (IoU against the alpha: rough mask 0.93, refined 0.99, GrabCut 0.99).
SYNTHETIC_SEED, SYNTHETIC_INDEX = 0, 9
SIZE = (96, 128)  # (H, W): the composite's middle rows
MAX_PIXELS = 30_000  # the server's limit: 200x200 is over it, 128x96 under
PREVIEW_SIDE = 256  # the page's pictures: twice the photograph's size
MAX_UPLOAD_MB = 0.2  # 200 KiB: a PNG with a 300 KiB text chunk is over it
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
# Where the browser test saves its screenshot: the test's folder, or the README's picture with
#   IOSM_APP_SCREENSHOT=docs/app.png python -m pytest tests/test_app.py -k browser
SCREENSHOT_VARIABLE = "IOSM_APP_SCREENSHOT"
# The page's status box says "Done ..." or "Could not refine. ..." once a request has finished.
FINISHED = "() => /^(Done|Could not)/.test(document.querySelector('#status').innerText.trim())"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A 128x96 composite (the synthetic generator's, cut from scikit-image's photographs: a soft-edged
    object, roughly centred, as GrabCut assumes), its rough mask and its alpha, as files and arrays."""
    from iosm.data.synthetic import make_sample

    sample = make_sample(SYNTHETIC_SEED, SYNTHETIC_INDEX, 128)
    rows = slice(16, 16 + SIZE[0])
    arrays = {"photo": sample["image"][rows], "rough": sample["init"][rows], "truth": sample["alpha"][rows]}
    folder = tmp_path_factory.mktemp("app_inputs")
    for key, array in arrays.items():
        write_image(folder / f"{key}.png", array)
    return {"folder": folder, "photo": folder / "photo.png", "rough": folder / "rough.png",
            "truth": folder / "truth.png", "image": read_image(folder / "photo.png"), "rough_mask": arrays["rough"],
            "alpha": read_alpha(folder / "truth.png")}


@pytest.fixture(scope="module")
def server(compose_module_cfg, tmp_path_factory):
    """The app, served in this process (``serve(cfg, block=False)``); yields (cfg, url)."""
    from iosm.app.server import serve

    workdir = tmp_path_factory.mktemp("app_work")
    cfg = compose_module_cfg("app", [f"app.port={_free_port()}", f"app.workdir={workdir}", "refiner.size=64",
                                     f"app.max_pixels={MAX_PIXELS}", f"app.max_upload_mb={MAX_UPLOAD_MB}",
                                     f"app.preview_side={PREVIEW_SIDE}"])
    page = serve(cfg, block=False)
    yield cfg, page.local_url
    page.close()


@pytest.fixture(scope="module")
def compose_module_cfg(iosm_cache_dir):
    """Like conftest's ``compose_cfg``, for a module-scoped server."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from iosm.config import CONF_DIR, register_resolvers

    def _compose(name: str, overrides: list[str]):
        register_resolvers()
        GlobalHydra.instance().clear()
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            return compose(config_name=name, overrides=[*overrides, f"paths.cache_dir={iosm_cache_dir}"])

    return _compose


@pytest.fixture(scope="module")
def downloads_dir(tmp_path_factory) -> Path:
    """Where the clients save the files the server returns (not the shared /tmp/gradio)."""
    return tmp_path_factory.mktemp("app_downloads")


@pytest.fixture(scope="module")
def client(server, downloads_dir):
    return Client(server[1], verbose=False, download_files=str(downloads_dir))


def _mask(path) -> np.ndarray:
    return read_alpha(path) > 0.5


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def _page(client, scene, kind, *, layer=None, clicks=(), mask=None, truth=None):
    """The page's own endpoint, as the browser calls it: (status, overlay, alpha, cutout, background,
    panels, downloads, manifest)."""
    editor = None
    if layer is not None:  # the drawing canvas: the photograph's preview and one RGBA stroke layer
        height, width = layer.shape
        rgba = np.zeros((height, width, 4), np.uint8)
        rgba[layer] = (255, 51, 153, 255)
        path = scene["folder"] / f"layer_{kind}.png"
        Image.fromarray(rgba).save(path)
        editor = {"background": handle_file(str(scene["photo"])), "layers": [handle_file(str(path))], "composite": None}
    return client.predict(handle_file(str(scene["photo"])), kind, editor, [list(c) for c in clicks],
                          None if mask is None else handle_file(str(mask)),
                          None if truth is None else handle_file(str(truth)), "#3366cc", api_name="/refine_page")


# -- the config ---------------------------------------------------------------------------------------

BACKEND_GROUPS = ("inpainter", "features", "refiner", "matte")


@pytest.mark.parametrize("override", [f"{group}={path.stem}" for group in BACKEND_GROUPS
                                      for path in sorted((Path(__file__).resolve().parent.parent / "conf" / group).glob("*.yaml"))])
def test_app_config_takes_every_backend_choice(compose_module_cfg, override):
    """``python -m iosm.app GROUP=CHOICE`` composes and resolves, as refine.py's does."""
    from omegaconf import OmegaConf

    cfg = compose_module_cfg("app", [override])
    OmegaConf.to_container(cfg, resolve=True)
    assert cfg.app.port == 7860 and set(cfg.prompts) == {"box", "points", "scribble", "file", "grabcut"}


# -- the /refine API ----------------------------------------------------------------------------------

def test_refine_api_returns_the_refined_mask_alpha_and_cutout(client, server, scene):
    from hydra.utils import instantiate

    mask_path, alpha_path, cutout_path = client.predict(handle_file(str(scene["photo"])), handle_file(str(scene["rough"])),
                                                        api_name="/refine")
    mask, alpha = _mask(mask_path), read_alpha(alpha_path)
    # Oracle: the refiner of the same config, called directly on the same photograph and rough mask.
    expected = instantiate(server[0].refiner).refine(scene["image"], scene["rough_mask"], seed=server[0].seed).mask
    assert np.array_equal(mask, expected)
    truth = scene["alpha"] > 0.5
    assert _iou(mask, truth) >= _iou(scene["rough_mask"], truth) - 0.02
    assert alpha.shape == SIZE and 0.1 < alpha.mean() < 0.9 and ((alpha > 0.5) == mask).mean() > 0.9
    cutout = np.asarray(Image.open(cutout_path))
    assert cutout.shape == (*SIZE, 4) and np.abs(cutout[..., 3] / 255 - alpha).max() <= 1 / 255


def test_refine_api_without_a_mask_falls_back_to_grabcut(client, scene):
    mask_path, alpha_path, _ = client.predict(handle_file(str(scene["photo"])), None, api_name="/refine")
    assert _iou(_mask(mask_path), scene["alpha"] > 0.5) > 0.5
    assert read_alpha(alpha_path).max() > 0.5


def test_requests_from_two_tabs_at_once_keep_their_own_outputs(server, scene, downloads_dir):
    """Two clients (two tabs) at once, photographs of different sizes: each gets its own files back."""
    small, small_rough = scene["folder"] / "small.png", scene["folder"] / "small_rough.png"
    write_image(small, scene["image"][::2, ::2])
    write_image(small_rough, scene["rough_mask"][::2, ::2])
    results = {}

    def call(name, photo, rough):
        results[name] = Client(server[1], verbose=False, download_files=str(downloads_dir)).predict(handle_file(str(photo)), handle_file(str(rough)),
                                                                 api_name="/refine")

    threads = [threading.Thread(target=call, args=args)
               for args in (("big", scene["photo"], scene["rough"]), ("small", small, small_rough))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert _mask(results["big"][0]).shape == SIZE
    assert _mask(results["small"][0]).shape == (SIZE[0] // 2, SIZE[1] // 2)


# -- the page's prompt kinds -------------------------------------------------------------------------

def _box_layer(x0, y0, x1, y1) -> np.ndarray:
    """A diagonal stroke from (x0, y0) to (x1, y1) on the drawing canvas (the photograph at twice its
    size), as a person drags across."""
    layer = np.zeros((2 * SIZE[0], 2 * SIZE[1]), bool)
    for t in np.linspace(0, 1, 200):
        layer[round(y0 + t * (y1 - y0)), round(x0 + t * (x1 - x0))] = True
    return layer


def test_page_box_prompt_refines_inside_the_box_and_writes_every_output(client, scene):
    truth = scene["alpha"] > 0.5
    rows, cols = np.nonzero(truth)
    # The object's box on the drawing canvas (twice the photograph's size), drawn corner to corner.
    status, overlay, alpha, cutout, background, panels, downloads, manifest = _page(
        client, scene, "box", layer=_box_layer(2 * cols.min(), 2 * rows.min(), 2 * cols.max() + 1, 2 * rows.max() + 1),
        truth=scene["truth"])
    assert status.startswith("Done"), status
    entry = json.loads(manifest)
    assert entry["status"] == "ok" and entry["iou_after"] > 0.5 and entry["inpaint_calls"] >= 1
    box = np.zeros(SIZE, bool)
    box[rows.min() - 1 : rows.max() + 2, cols.min() - 1 : cols.max() + 2] = True
    assert (entry["iou_before"] - _iou(box, truth)) ** 2 < 0.05 ** 2  # the prompt's mask was that box
    shown = (PREVIEW_SIDE * SIZE[0] // SIZE[1], PREVIEW_SIDE)  # the page's pictures
    assert read_alpha(alpha).shape == shown and read_alpha(alpha).max() > 0.5
    assert np.asarray(Image.open(cutout)).shape == (*shown, 4)
    assert read_image(overlay).shape == (*shown, 3) and read_image(background).shape == (*shown, 3)
    assert [panel["caption"] for panel in panels[:3]] == [f"iteration 0 (inpaint): {what}"
                                                          for what in ("painted sample", "difference", "mask")]
    assert len(panels) == 3 * entry["iterations"] and all(Path(panel["image"]).is_file() for panel in panels)
    files = {Path(path).name: path for path in downloads}  # at the photograph's size
    assert sorted(files) == ["photo_alpha.png", "photo_cutout.png", "photo_mask.png"]
    assert read_alpha(files["photo_alpha.png"]).shape == SIZE and _mask(files["photo_mask.png"]).shape == SIZE


def test_page_clicks_scribble_mask_and_nothing_each_refine(client, scene):
    truth = scene["alpha"] > 0.5
    # Clicks as a person places them: well inside the object, at its far ends; one on the background.
    inner = cv2.erode(truth.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    rows, cols = np.nonzero(inner)
    ends = [np.argmin(cols), np.argmax(cols), np.argmin(rows), np.argmax(rows)]
    clicks = [(float(cols[k]), float(rows[k]), True) for k in ends] + [(2.0, 2.0, False)]
    stroke = cv2.resize(inner.astype(np.uint8), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST).astype(bool)
    stroke &= ~cv2.erode(stroke.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)  # its outline, painted
    for kind, given in (("clicks", {"clicks": clicks}), ("scribble", {"layer": stroke}),
                        ("mask", {"mask": scene["rough"]}), ("grabcut", {})):
        status, *_, downloads, manifest = _page(client, scene, kind, **given)
        assert status.startswith("Done"), (kind, status)
        mask = _mask(next(path for path in downloads if path.endswith("_mask.png")))
        assert json.loads(manifest)["status"] == "ok" and _iou(mask, truth) > 0.4, kind
        if kind == "clicks":
            assert not mask[2, 2]  # the negative click's corner


# -- bad inputs: a message, and the server keeps serving ----------------------------------------------

@pytest.fixture(scope="module")
def bad_files(scene):
    folder = scene["folder"]
    (folder / "not_an_image.png").write_text("these are not pixels")
    write_image(folder / "tiny.png", np.full((4, 4, 3), 0.5))
    write_image(folder / "huge.png", np.zeros((200, 200, 3)))
    write_image(folder / "empty_mask.png", np.zeros(SIZE))
    info = PngImagePlugin.PngInfo()
    info.add_text("padding", "x" * 300_000)  # 300 KB of metadata: over the byte limit, under the pixel limit
    Image.fromarray((scene["image"] * 255).astype(np.uint8)).save(folder / "heavy.png", pnginfo=info)
    return folder


@pytest.mark.parametrize(("photo", "mask", "message"), [
    ("not_an_image.png", None, "not a readable image"),
    ("tiny.png", None, "too small to refine"),
    ("huge.png", None, "pixel limit"),
    ("heavy.png", None, "heavy.png exceeds the maximum file size"),  # Gradio's own check: app.max_upload_mb
    (None, "empty_mask.png", "rough mask empty_mask.png: it is empty"),
    (None, "not_an_image.png", "rough mask not_an_image.png: not a readable image"),
])
def test_refine_api_bad_inputs_give_a_message(client, scene, bad_files, photo, mask, message):
    photo_path = bad_files / photo if photo else scene["photo"]
    with pytest.raises((AppError, ValueError)) as raised:
        client.predict(handle_file(str(photo_path)), None if mask is None else handle_file(str(bad_files / mask)),
                       api_name="/refine")
    assert raised.match(message)


def test_upload_limits_name_the_file_and_the_setting(bad_files):
    """The service's own checks, for callers that bypass Gradio's upload limit."""
    from iosm.app.uploads import MEGABYTE, UploadLimits

    limits = UploadLimits(max_bytes=int(MAX_UPLOAD_MB * MEGABYTE), max_pixels=MAX_PIXELS)
    with pytest.raises(ValueError, match=r"photograph heavy.png: 0\.3 MB is over the 0\.2 MB limit \(app.max_upload_mb\)"):
        limits.read_photo(bad_files / "heavy.png")
    with pytest.raises(ValueError, match=r"200x200 px is over the 30,000 pixel limit \(app.max_pixels\)"):
        limits.read_photo(bad_files / "huge.png")
    assert limits.read_alpha(bad_files / "empty_mask.png", "rough mask").shape == SIZE


@pytest.mark.parametrize(("kind", "given", "message"), [
    ("box", {}, "Box: nothing is drawn"),
    ("scribble", {}, "Scribble: nothing is drawn"),
    ("clicks", {"clicks": [(3.0, 3.0, False)]}, "no positive click"),
    ("mask", {}, "no mask file was uploaded"),
])
def test_page_bad_prompts_give_a_message_in_the_status(client, scene, kind, given, message):
    status, overlay, alpha, *_ = _page(client, scene, kind, **given)
    assert message in status and overlay is None and alpha is None


def test_the_server_still_serves_after_the_bad_inputs(client, scene):
    mask_path, _, _ = client.predict(handle_file(str(scene["photo"])), handle_file(str(scene["rough"])), api_name="/refine")
    assert _mask(mask_path).any()


# -- a real browser ------------------------------------------------------------------------------------

def _shown_rect(canvas_png: bytes, canvas_box: dict) -> tuple[float, float, float]:
    """(left, top, screen px per photograph px) of the photograph drawn inside the canvas element."""
    pixels = np.asarray(Image.open(io.BytesIO(canvas_png)).convert("RGB")).astype(int)
    painted = np.abs(pixels - pixels[-1, -1]).sum(axis=2) > 24
    # The photograph's rows and columns are mostly painted; the label and the frame's lines are not.
    rows, cols = np.nonzero(painted.mean(axis=1) > 0.5)[0], np.nonzero(painted.mean(axis=0) > 0.5)[0]
    scale = canvas_box["width"] / pixels.shape[1]  # screenshot px -> CSS px
    shown = (cols.max() + 1 - cols.min()) * scale / SIZE[1]
    return canvas_box["x"] + cols.min() * scale, canvas_box["y"] + rows.min() * scale, shown


def test_browser_uploads_a_photograph_draws_a_box_and_gets_an_alpha(server, scene, tmp_path):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the app extra)")
    if not CHROMIUM.is_file():
        pytest.skip(f"no browser: {CHROMIUM} is missing (apt-get install chromium chromium-driver; .ci/run does)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1700})
            page.goto(server[1])
            page.set_input_files("#photo input[type=file]", str(scene["photo"]))
            page.wait_for_selector("#clicks img", timeout=60_000)  # the photograph is on the canvases
            # Drag from corner to corner of the object's box, on the photograph where the canvas shows it
            # (found in a screenshot of the canvas: the pixels that differ from its empty corner).
            canvas = page.locator("#canvas canvas").first
            left, top, shown = _shown_rect(canvas.screenshot(), canvas.bounding_box())
            rows, cols = np.nonzero(scene["alpha"] > 0.5)
            corners = [(left + shown * cols.min(), top + shown * rows.min()),
                       (left + shown * (cols.max() + 1), top + shown * (rows.max() + 1))]
            page.mouse.move(*corners[0])
            page.mouse.down()
            for t in np.linspace(0, 1, 15)[1:]:
                page.mouse.move(corners[0][0] + t * (corners[1][0] - corners[0][0]), corners[0][1] + t * (corners[1][1] - corners[0][1]))
            page.mouse.up()
            page.click("#run")
            page.wait_for_function(FINISHED, timeout=180_000)
            assert page.inner_text("#status").startswith("Done"), page.inner_text("#status")
            page.wait_for_selector("#alpha img", timeout=30_000)
            page.wait_for_selector("#panels img", timeout=30_000)
            status = page.inner_text("#status")
            alpha_source = page.get_attribute("#alpha img", "src")
            shown = page.request.get(alpha_source).body()
            screenshot = Path(os.environ.get(SCREENSHOT_VARIABLE) or tmp_path / "app.png")
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert status.startswith("Done"), status
    (tmp_path / "alpha.png").write_bytes(shown)
    alpha = read_alpha(tmp_path / "alpha.png")
    assert alpha.shape == (PREVIEW_SIDE * SIZE[0] // SIZE[1], PREVIEW_SIDE)  # the page's picture of it
    assert alpha.max() > 0.5 and 0.05 < (alpha > 0.5).mean() < 0.95
    assert screenshot.stat().st_size > 0

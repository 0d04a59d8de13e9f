"""The Gradio page and its ``/refine`` API: upload a photograph, show the object, get mask, alpha, cut-out.

Everything the page does per request is :class:`iosm.app.service.RefineService`'s; this module only
lays out the components and turns their values into a :class:`~iosm.app.prompts.PromptSpec`. A bad
input never stops the server: the page shows the message in its status box, the API raises
``gr.Error`` (``gradio_client`` raises it as ``AppError`` with the same message). Refinement events
share one queue slot (``concurrency_id="refiner"``): the backends are loaded once and used by one
request at a time, and each request writes into its own folder.

The API, for scripts outside the repository::

    from gradio_client import Client, handle_file
    mask, alpha, cutout = Client(url).predict(handle_file("photo.jpg"), handle_file("rough.png"), api_name="/refine")

(``None`` instead of the rough mask: GrabCut guesses the object.)
"""

from __future__ import annotations

import logging
from typing import Any

import cv2
import gradio as gr
import numpy as np

from iosm.app.prompts import KINDS, PromptSpec, drawn_strokes
from iosm.app.service import RefineService
from iosm.app.views import fit_side
from iosm.data.io import to_uint8

log = logging.getLogger(__name__)

TITLE = "IOSM: refine and matte your photograph"
INTRO = """# IOSM: refine and matte your photograph
Upload a photograph, show the object (a box, clicks, a scribble, a rough mask, or nothing), and press
**Refine and matte**. The refiner paints the object away and the background back (inpaint / outpaint),
keeps what painting changed, and the matte turns the refined mask into an alpha. The iteration panel
shows, for each iteration, what was painted, where the features changed, and the mask after it."""
# Click markers on the clicks view: green on the object, red on the background.
CLICK_COLOURS = {True: (0.1, 0.9, 0.2), False: (1.0, 0.15, 0.1)}
# Brush for boxes and scribbles: one fixed colour, so nothing needs picking first, and a width (px of
# the preview) that draws a scribble thin enough to stay inside an arm or a stem.
BRUSH_COLOUR = "#ff3399"
BRUSH_WIDTH = 12
# Display height (px) of the images on the page.
VIEW_HEIGHT = 360
SHARED_QUEUE = "refiner"


def _with_clicks(preview: np.ndarray, clicks: list, scale: float) -> np.ndarray:
    """The preview with a dot per click (clicks in the photograph's pixels, ``scale`` = photo / preview)."""
    marked = preview.copy()
    radius = max(2, round(max(preview.shape[:2]) / 80))
    for x, y, positive in clicks:
        colour = tuple(int(255 * c) for c in CLICK_COLOURS[bool(positive)])
        cv2.circle(marked, (round(x / scale), round(y / scale)), radius, colour, -1)
        cv2.circle(marked, (round(x / scale), round(y / scale)), radius, (255, 255, 255), 1)
    return marked


def _colour(hex_colour: str | None) -> tuple[float, float, float]:
    """``#rrggbb`` (or ``rgba(r, g, b, a)``, which some browsers send) -> RGB in [0, 1]."""
    text = (hex_colour or "#33994d").strip()
    if text.startswith("rgb"):
        values = [float(v) for v in text[text.index("(") + 1 : text.index(")")].split(",")[:3]]
        return tuple(v / 255 for v in values)  # type: ignore[return-value]
    text = text.lstrip("#")
    return tuple(int(text[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def build_page(service: RefineService, *, keep_minutes: float) -> gr.Blocks:
    """The page (and the ``/refine`` API) serving ``service``; Gradio's cached uploads and outputs are
    deleted after ``keep_minutes``. The drawing canvas and the clicks view show the photograph with a
    long side of ``service.view_side`` px, like the results: the brush and the dots have one size."""

    def load_photo(photo_path: str | None):
        """A new photograph: show it on the drawing canvas and the clicks view; forget old clicks."""
        if not photo_path:
            return None, None, None, [], ""
        try:
            image = service.limits.read_photo(photo_path)
        except ValueError as error:
            return None, None, None, [], f"**Cannot use this photograph.** {error}"
        preview = to_uint8(np.clip(fit_side(image, service.view_side), 0.0, 1.0))
        state = {"scale": image.shape[1] / preview.shape[1], "preview": preview}
        editor = {"background": preview, "layers": [], "composite": None}
        size = f"{image.shape[1]}x{image.shape[0]} px"
        return state, editor, preview, [], f"Photograph loaded ({size}). Show the object, then press **Refine and matte**."

    def add_click(state: dict | None, clicks: list, positive: bool, event: gr.SelectData):
        if state is None:
            return clicks, None
        x, y = event.index[0] * state["scale"], event.index[1] * state["scale"]
        clicks = [*clicks, [float(x), float(y), bool(positive)]]
        return clicks, _with_clicks(state["preview"], clicks, state["scale"])

    def clear_clicks(state: dict | None):
        return [], None if state is None else state["preview"]

    def refine_page(photo_path, kind, editor, clicks, mask_path, truth_path, colour, progress=gr.Progress()):
        nothing: list[Any] = [None] * 7
        if not photo_path:
            return ["**Upload a photograph first.**", *nothing]
        progress(0.1, desc="Refining the mask (inpaint / outpaint), then matting")
        try:
            spec = PromptSpec(kind, drawing=drawn_strokes(editor), clicks=clicks or [], mask_path=mask_path)
            result = service.run(photo_path, spec, truth_path, _colour(colour))
        except Exception as error:  # noqa: BLE001  (any failure is this request's: say it, keep serving)
            return [f"**Could not refine.** {_message(error)}", *nothing]
        progress(1.0, desc="Done")
        panels = [(str(path), caption) for path, caption in result.panels]
        status = f"Done in {result.entry['seconds']:.1f} s ({result.entry['inpaint_calls']} painting passes)."
        if result.entry["warnings"]:
            status += " Warnings: " + "; ".join(result.entry["warnings"])
        views = [_path(result.views.get(kind)) for kind in ("overlay", "alpha", "cutout", "background")]
        return [status, *views, panels, [str(path) for path in result.downloads.values()], result.manifest_line]

    def refine_api(image: str | None, mask: str | None = None):
        """Image file, optional rough-mask file -> refined mask, alpha and cut-out PNG files."""
        if not image:
            raise gr.Error("/refine: no image file was given")
        spec = PromptSpec("mask", mask_path=mask) if mask else PromptSpec("grabcut")
        try:
            result = service.run(image, spec)
        except Exception as error:  # noqa: BLE001  (the caller gets the message; the server keeps serving)
            raise gr.Error(_message(error)) from None
        return tuple(_path(result.downloads.get(kind)) for kind in ("mask", "alpha", "cutout"))

    keep_seconds = int(keep_minutes * 60)
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(max(60, keep_seconds // 4), keep_seconds)) as page:
        gr.Markdown(INTRO)
        photo_state = gr.State(None)
        # The clicks so far, [[x, y, positive], ...] in the photograph's pixels; a hidden component rather
        # than gr.State, so that API clients (and the tests) can give clicks too.
        clicks = gr.JSON([], visible=False, elem_id="click-list")
        with gr.Row():
            with gr.Column():
                photo = gr.File(label="Photograph (any common image format)", elem_id="photo")
                kind = gr.Radio([(label, key) for key, label in KINDS.items()], value="box",
                                label="Show the object by", elem_id="kind")
                canvas = gr.ImageEditor(label="Box or scribble: draw on the photograph", type="numpy", sources=[],
                                        transforms=[], layers=False, eraser=False, elem_id="canvas",
                                        brush=gr.Brush(default_size=BRUSH_WIDTH, colors=[BRUSH_COLOUR], color_mode="fixed"),
                                        height=VIEW_HEIGHT + 120)
                with gr.Row():
                    click_kind = gr.Radio([("on the object (positive)", True), ("on the background (negative)", False)],
                                          value=True, label="A click marks", elem_id="click-kind")
                    clear = gr.Button("Clear clicks", size="sm")
                clicks_view = gr.Image(label="Clicks: click on the photograph", interactive=False, height=VIEW_HEIGHT,
                                       elem_id="clicks")
                rough_mask = gr.File(label="Rough mask (for 'Rough mask')", elem_id="rough-mask")
                truth = gr.File(label="Ground-truth alpha (optional: the manifest line gets the IoU)", elem_id="truth")
                colour = gr.ColorPicker(value="#33994d", label="New background colour")
                run = gr.Button("Refine and matte", variant="primary", elem_id="run")
            with gr.Column():
                status = gr.Markdown("Upload a photograph to start.", elem_id="status")
                overlay = gr.Image(label="Refined mask over the photograph", format="png", height=VIEW_HEIGHT, elem_id="overlay")
                with gr.Row():
                    alpha = gr.Image(label="Alpha", format="png", elem_id="alpha")
                    cutout = gr.Image(label="Cut-out (RGBA)", format="png", image_mode="RGBA", elem_id="cutout")
                    background = gr.Image(label="On a new background", format="png", elem_id="background")
                panels = gr.Gallery(label="Each iteration: painted sample, difference map, mask", columns=3,
                                    height="auto", object_fit="contain", elem_id="panels")
                downloads = gr.File(label="Downloads", file_count="multiple", elem_id="downloads")
                manifest = gr.Code(label="Manifest line", language="json", wrap_lines=True, elem_id="manifest")
        with gr.Row(visible=False):  # the /refine API's own components: files in, files out
            api_image, api_mask = gr.File(), gr.File()
            api_outputs = [gr.File(), gr.File(), gr.File()]
            api_trigger = gr.Button()

        photo.change(load_photo, photo, [photo_state, canvas, clicks_view, clicks, status], api_visibility="private")
        clicks_view.select(add_click, [photo_state, clicks, click_kind], [clicks, clicks_view], api_visibility="private")
        clear.click(clear_clicks, photo_state, [clicks, clicks_view], api_visibility="private")
        run.click(refine_page, [photo, kind, canvas, clicks, rough_mask, truth, colour],
                  [status, overlay, alpha, cutout, background, panels, downloads, manifest],
                  concurrency_limit=1, concurrency_id=SHARED_QUEUE, api_name="refine_page", api_visibility="undocumented")
        api_trigger.click(refine_api, [api_image, api_mask], api_outputs, api_name="refine",
                          concurrency_limit=1, concurrency_id=SHARED_QUEUE)
    return page


def _message(error: Exception) -> str:
    """The request's failure for the person: bad input (``ValueError``, a file error) as its message;
    anything else is a bug, logged with its traceback on the server's console too."""
    if not isinstance(error, (ValueError, OSError)):
        log.exception("refine request failed")
        return f"{type(error).__name__}: {error} (a bug, not your input; the server log has the details)"
    return str(error)


def _path(path) -> str | None:
    return None if path is None else str(path)

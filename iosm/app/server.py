"""Start the app from a composed ``conf/app.yaml``: load the backends, build the page, serve it.

``serve(cfg)`` blocks until the server stops (``python -m iosm.app``); ``serve(cfg, block=False)``
returns the running page (``page.local_url``; stop it with ``page.close()``), as the tests do.
Nothing is written outside the app's working folder: request folders (``iosm.app.service``) and
Gradio's cache of uploads and outputs (``GRADIO_TEMP_DIR``) both live under ``app.workdir``.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from omegaconf import DictConfig

from iosm.app.uploads import MEGABYTE

log = logging.getLogger(__name__)


def serve(cfg: DictConfig, *, block: bool = True):
    """Serve the page on ``app.host:app.port``; returns the Gradio Blocks (after it stops, if ``block``)."""
    workdir = _workdir(cfg.app.workdir)
    # Read by Gradio whenever it caches an upload or an output: set before the page exists.
    os.environ["GRADIO_TEMP_DIR"] = str(workdir / "gradio")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a local tool
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up probes, one line each
    from iosm.app.page import build_page
    from iosm.app.service import RefineService

    service = RefineService.from_config(cfg, workdir)  # models load now: a wrong path fails before serving
    page = build_page(service, keep_minutes=cfg.app.keep_requests_minutes)
    page.queue()
    if block and threading.current_thread() is threading.main_thread():
        # `kill` (SIGTERM) stops the server like Ctrl-C does, so the exit hooks remove the work folder.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log.info("iosm.app: serving on http://%s:%d (work folder %s)", cfg.app.host, cfg.app.port, workdir)
    page.launch(server_name=cfg.app.host, server_port=int(cfg.app.port), prevent_thread_lock=not block,
                max_file_size=int(cfg.app.max_upload_mb * MEGABYTE), allowed_paths=[str(workdir)],
                show_error=True, quiet=not block)
    return page


def _workdir(configured: str | None) -> Path:
    """``app.workdir``, or a fresh temporary folder removed when the process exits."""
    if configured:
        folder = Path(configured).expanduser().resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    folder = Path(tempfile.mkdtemp(prefix="iosm-app-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder

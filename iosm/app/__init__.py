"""The web app (``python -m iosm.app``): a Gradio page and a ``/refine`` API over the refiner and the
matte stage, configured by ``conf/app.yaml``. Needs the ``app`` extra (``pip install -e ".[app]"``).

:mod:`.uploads` checks and reads files, :mod:`.prompts` maps the page's box / clicks / scribble /
mask / nothing onto :mod:`iosm.refine.prompts`, :mod:`.service` serves one request without Gradio,
:mod:`.views` draws what a person looks at, :mod:`.page` lays out the page, :mod:`.server` starts it.
"""

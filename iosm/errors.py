"""Telling a bug from bad input, for the loops that record one image's failure and go on.

A per-image ``try/except`` keeps one unreadable photograph or empty mask from stopping a run of
thousands. It must not also swallow mistakes in the code: a ``TypeError`` or ``AttributeError``
recorded as "this image failed" on every image looks like a dataset problem and exits 0. Bad input
is a file or value problem (``ValueError``, ``OSError`` and their kind, which the readers and the
refiner raise with a message naming the file); the types below only come from code calling
something the wrong way, so they propagate.
"""

from __future__ import annotations

# NameError covers UnboundLocalError.
CODE_BUG_TYPES = (TypeError, AttributeError, NameError)


def is_code_bug(error: BaseException) -> bool:
    """True for an exception that means the code is wrong, whatever the image: re-raise it."""
    return isinstance(error, CODE_BUG_TYPES)


def mark_code_bug(error: BaseException, where: str) -> BaseException:
    """``error`` with a note (Python 3.11+) saying where it happened and why the run stopped."""
    if hasattr(error, "add_note"):
        error.add_note(f"{where}: a {type(error).__name__} is a bug in the code, not bad input, so the run "
                       "stops here instead of recording it as this image's failure")
    return error

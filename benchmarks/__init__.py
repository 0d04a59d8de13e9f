"""The benchmark scripts, as a package: run each from the repository root as a module,
``python -m benchmarks.mask_quality --data DIR`` (see benchmarks/README.md); they share
:mod:`benchmarks.common`, and the tests import them like any module."""

"""What the classical matte costs on big images, and the error its size cap costs.

    python -m benchmarks.matte_scale --data DIR [--names GT03 GT21] [--factors 2 5] [--out DIR]

Each named photograph (about 800 px) is refined once with the CPU default (steps recorded, for the
evidence); image, ground truth, refined mask and evidence are then upscaled by each factor (bicubic /
nearest), and ``matte=classical`` runs with its default cap (``max_side`` 1024: the band's box solved
downscaled, brought back with the guided filter) and, where it fits in memory (factor 2), uncapped.
Reports SAD/1000 and MSE against the upscaled ground truth, wall and CPU seconds, peak RSS growth (MiB).
An uncapped solve at 4K is not run: its memory is what the cap exists to avoid (KNN needs ~1.4 GB at
800 px; closed-form's system grows with the band's pixel count). Writes OUT/matte_scale.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from benchmarks.common import DEFAULT_OUT, _PeakRSS, build_refiner, load_samples, provenance, warm_up_pymatting

from iosm.data.io import atomic_write_text
from iosm.matting import ClassicalMatte
from iosm.matting.evidence import refine_evidence
from iosm.metrics import matting_metrics


def upscale(array: np.ndarray, factor: int, interpolation: int) -> np.ndarray:
    size = (array.shape[1] * factor, array.shape[0] * factor)
    return cv2.resize(array.astype(np.float32), size, interpolation=interpolation)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--names", nargs="+", default=["GT03", "GT21"], help="photographs (REPORT half by default)")
    parser.add_argument("--factors", nargs="+", type=int, default=[2, 5])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("overrides", nargs="*", help="refine.py overrides")
    args = parser.parse_args(argv)
    samples = [s for s in load_samples(args.data, "aim500", None, None)[0] if s.name in args.names]
    refiner, seed = build_refiner(args.overrides)
    warm_up_pymatting()
    lines = ["| image | size | max_side | sad | mse | seconds | cpu_seconds | peak_mib |", "|---" * 8 + "|"]
    for sample in samples:
        result = refiner.refine(sample.image, sample.rough_mask, seed=seed, record_steps=True)
        evidence = refine_evidence(result, sample.rough_mask)
        for factor in [1, *args.factors]:
            image = np.clip(upscale(sample.image, factor, cv2.INTER_CUBIC), 0, 1)
            truth = np.clip(upscale(sample.alpha, factor, cv2.INTER_CUBIC), 0, 1)
            mask = upscale(result.mask, factor, cv2.INTER_NEAREST) > 0.5
            scaled_evidence = upscale(evidence, factor, cv2.INTER_LINEAR)
            for max_side in ([1024, None] if factor <= 2 else [1024]):
                matte = ClassicalMatte(max_side=max_side)
                with _PeakRSS() as memory:
                    started, cpu_started = time.perf_counter(), time.process_time()
                    alpha = matte.matte(image, mask, scaled_evidence).alpha
                    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
                scores = matting_metrics(alpha.astype(np.float64), truth.astype(np.float64))
                lines.append(f"| {sample.name} | {image.shape[1]}x{image.shape[0]} | {max_side} | {scores['sad']:.3f} | "
                             f"{scores['mse']:.5f} | {seconds:.1f} | {cpu_seconds:.1f} | {memory.peak_mib:.0f} |")
                print(lines[-1], flush=True)
    report = "\n".join(["# The classical matte on big images: cost and the error of its size cap", "",
                        provenance(), "", *lines, ""])
    atomic_write_text(args.out / "matte_scale.md", report)
    return report


if __name__ == "__main__":
    main()

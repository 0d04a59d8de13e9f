"""The recorded split of the 18 shared alphamatting.com photographs (``paths.realdata_dir``).

Every threshold, design decision and training image comes from ``TUNE``; figures on ``REPORT`` are
what the benchmarks report as untuned. The halves were fixed by name before any tuning of this split,
balancing content (hair, fur, plants, strands, solid objects) between them. The 9 photographs of the
dataset that ``../shared`` does not hold were never seen by anyone here.
"""

TUNE = ("GT01", "GT05", "GT07", "GT10", "GT14", "GT17", "GT20", "GT24", "GT26")
REPORT = ("GT03", "GT06", "GT09", "GT12", "GT15", "GT18", "GT21", "GT22", "GT27")

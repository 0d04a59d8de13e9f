"""Connectivity error (Rhemann et al. 2009): one union-find pass instead of one labelling per threshold.

The DIM MATLAB code (``compute_connectivity_error.m``) thresholds both mattes at ``t_k = 0, 0.1, ..., 1``,
finds for every ``k >= 1`` the largest 4-connected component ``Omega_k`` of
``B_k = (pred >= t_k) & (gt >= t_k)`` and gives every pixel the level ``l = t_{k-1}`` of the first ``k``
at which it is *not* in ``Omega_k`` (``l = 1`` if it never drops out). Then
``phi(a) = 1 - (a - l) * [a - l >= theta]`` and the error is ``sum |phi(pred) - phi(gt)|``.

Labelling ten binary images is what makes the straightforward ports slow. Here the sets ``B_k`` are
nested (``B_1 ⊇ B_2 ⊇ ...``), so a single union-find that adds pixels from the highest level down
sees the components of every ``B_k`` in turn (a component tree). Its nodes are horizontal runs of
equal level, of which a piecewise-smooth matte has far fewer than pixels (white noise is the worst
case: one run per pixel). Besides the path-compressed parents used for finding roots, a second
parent array is never compressed and stamps each merge with its stage; from it, "was this run in
the largest component at stage k" is answered for every run with a memo over that tree, in
O(runs x depth) with a depth of at most log2(pixels) (union by size).

Exactness details that follow the MATLAB code rather than the popular ports:
- the largest component never includes the background (ports that take ``argmax(bincount(labels))``
  pick label 0 whenever the background is larger);
- ties in size go to the component whose first pixel comes first in MATLAB's column-major order
  (``bwconncomp`` numbering); ``row_major_ties=True`` gives scikit-image's row-major numbering instead;
- a threshold where ``B_k`` is empty assigns no level (MATLAB indexes an empty component list there;
  the Python ports ``continue``), so pixels still unassigned get ``l = 1``.
"""

from __future__ import annotations

import numba
import numpy as np

# Stack depth for the memo walk; union by size bounds the tree depth by log2(number of pixels).
_MAX_DEPTH = 64


@numba.njit(cache=True)
def _padded_levels(pred: np.ndarray, gt: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per pixel, how many thresholds ``t_k`` (k >= 1) both mattes reach: (H + 2, W + 2) uint8.

    The zero border spares the run scan and the union-find any bounds checks (level-0 pixels are
    never added).
    """
    height, width = pred.shape
    n_levels = thresholds.shape[0] - 1
    levels = np.zeros((height + 2, width + 2), np.uint8)
    for row in range(height):
        for col in range(width):
            lowest = min(np.float64(pred[row, col]), np.float64(gt[row, col]))
            if lowest < thresholds[1]:  # background: the common case
                continue
            if lowest >= thresholds[n_levels]:  # opaque foreground: the other common case
                levels[row + 1, col + 1] = n_levels
                continue
            level = 1
            while lowest >= thresholds[level + 1]:
                level += 1
            levels[row + 1, col + 1] = level
    return levels


# Columns of the per-run node table in ``_dropout_stage``.
_TREE, _FAST, _SIZE, _FIRST = 0, 1, 2, 3


@numba.njit(cache=True)
def _runs(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Maximal horizontal runs of equal non-zero level: ``(row_first_run, row, start, end, level)``.

    Runs of row ``r`` are ``row_first_run[r] .. row_first_run[r + 1] - 1``, sorted by column;
    ``start``/``end`` are inclusive columns. A piecewise-smooth matte has far fewer runs than pixels.
    """
    height, width = levels.shape
    n_runs = 0
    for row in range(height):
        for col in range(1, width):
            level = levels[row, col]
            if level > 0 and levels[row, col - 1] != level:
                n_runs += 1
    row_first_run = np.empty(height + 1, np.int64)
    run_row = np.empty(n_runs, np.int32)
    start = np.empty(n_runs, np.int32)
    end = np.empty(n_runs, np.int32)
    run_level = np.empty(n_runs, np.uint8)
    run = 0
    for row in range(height):
        row_first_run[row] = run
        for col in range(1, width):
            level = levels[row, col]
            if level == 0:
                continue
            if levels[row, col - 1] != level:
                run_row[run] = row
                start[run] = col
                run_level[run] = level
                run += 1
            end[run - 1] = col
    row_first_run[height] = run
    return row_first_run, run_row, start, end, run_level


@numba.njit(cache=True)
def _first_overlaps(row_first_run: np.ndarray, start: np.ndarray, end: np.ndarray, offset: int) -> np.ndarray:
    """For each run, the first run of row ``row + offset`` that ends at or after its start (a sweep)."""
    height = row_first_run.shape[0] - 1
    first = np.empty(start.shape[0], np.int64)
    for row in range(height):
        other_row = min(max(row + offset, 0), height - 1)
        candidate, other_end = row_first_run[other_row], row_first_run[other_row + 1]
        for run in range(row_first_run[row], row_first_run[row + 1]):
            while candidate < other_end and end[candidate] < start[run]:
                candidate += 1
            first[run] = candidate
    return first


@numba.njit(cache=True)
def _find(nodes: np.ndarray, node: int) -> int:
    """Root of ``node`` with path halving (on the fast parents only, never on the stage tree)."""
    while nodes[node, _FAST] != node:
        nodes[node, _FAST] = nodes[nodes[node, _FAST], _FAST]
        node = nodes[node, _FAST]
    return node


@numba.njit(cache=True)
def _union(nodes: np.ndarray, edge_stage: np.ndarray, root: int, neighbour: int, stage: int) -> int:
    """Merge ``neighbour``'s set into ``root``'s (union by size); returns the merged set's root."""
    other = _find(nodes, neighbour)
    if other == root:
        return root
    if nodes[other, _SIZE] > nodes[root, _SIZE] or (nodes[other, _SIZE] == nodes[root, _SIZE] and other < root):
        root, other = other, root
    nodes[other, _TREE] = root
    nodes[other, _FAST] = root
    edge_stage[other] = stage
    nodes[root, _SIZE] += nodes[other, _SIZE]
    nodes[root, _FIRST] = min(nodes[root, _FIRST], nodes[other, _FIRST])
    return root


@numba.njit(cache=True)
def _dropout_stage(levels: np.ndarray, n_levels: int, row_major_ties: bool) -> np.ndarray:
    """Per pixel, the stage ``k* in 1..n_levels+1`` whose level ``t_{k*-1}`` the MATLAB code assigns.

    ``levels``: (H, W) uint8 in 0..n_levels with a zero border (see ``_padded_levels``).
    Returns (H, W) uint8.

    The union-find runs over horizontal runs of equal level (a run is connected and always added
    whole), which makes it proportional to the number of runs rather than of pixels.
    """
    height, width = levels.shape
    row_first_run, run_row, start, end, run_level = _runs(levels)
    n_runs = start.shape[0]
    first_above = _first_overlaps(row_first_run, start, end, -1)
    first_below = _first_overlaps(row_first_run, start, end, 1)
    # Counting sort of the runs by level, highest first, raster order within a level.
    counts = np.zeros(n_levels + 1, np.int64)
    for run in range(n_runs):
        counts[run_level[run]] += 1
    stage_first = np.zeros(n_levels + 2, np.int64)
    total = 0
    for level in range(n_levels, 0, -1):
        stage_first[level] = total
        total += counts[level]
    order = np.empty(n_runs, np.int32)
    fill = stage_first.copy()
    for run in range(n_runs):
        order[fill[run_level[run]]] = run
        fill[run_level[run]] += 1

    # ``TREE`` and ``FAST`` always make the same root attachments: ``TREE`` keeps every edge with the
    # stage it was made at (for the queries below), ``FAST`` is path-compressed (for finds).
    # ``SIZE`` counts pixels; ``FIRST`` is a set's first pixel in raster order (the tie-break).
    nodes = np.empty((n_runs, 4), np.int32)
    edge_stage = np.empty(n_runs, np.int8)  # stage at which a root was attached under another
    largest_root = np.full(n_levels + 2, -1, np.int64)
    best_root, best_size, best_first = -1, 0, 0
    max_level = 0
    for stage in range(n_levels, 0, -1):
        for j in range(stage_first[stage], stage_first[stage] + counts[stage]):
            run = order[j]
            row = run_row[run]
            nodes[run, _TREE] = run
            nodes[run, _FAST] = run
            nodes[run, _SIZE] = end[run] - start[run] + 1
            # A run's first pixel in column-major (MATLAB) order is its leftmost one.
            nodes[run, _FIRST] = row * width + start[run] if row_major_ties else start[run] * height + row
            edge_stage[run] = 0
            root = run
            # Neighbours already added: a higher level, or this level earlier in raster order.
            # Same row: the runs just before and after, when they touch.
            for neighbour in (run - 1, run + 1):
                if row_first_run[row] <= neighbour < row_first_run[row + 1] and (
                    end[neighbour] + 1 == start[run] or start[neighbour] == end[run] + 1
                ):
                    level = run_level[neighbour]
                    if level > stage or (level == stage and neighbour < run):
                        root = _union(nodes, edge_stage, root, neighbour, stage)
            # Rows above and below: the runs whose columns overlap this run's (4-connectivity).
            for other_row, first_overlap in ((row - 1, first_above[run]), (row + 1, first_below[run])):
                for neighbour in range(first_overlap, row_first_run[other_row + 1]):
                    if start[neighbour] > end[run]:
                        break
                    level = run_level[neighbour]
                    if level > stage or (level == stage and neighbour < run):
                        root = _union(nodes, edge_stage, root, neighbour, stage)
            root_size, root_first = nodes[root, _SIZE], nodes[root, _FIRST]
            if root_size > best_size or (root_size == best_size and root_first < best_first):
                best_root, best_size, best_first = root, root_size, root_first
        if best_root >= 0:
            largest_root[stage] = best_root
            if max_level == 0:
                max_level = stage

    # fail[x]: first stage k <= level(x) at which run x is outside the largest component (0: none).
    # x is its own root at stages above its edge stage and shares its parent's root from there down,
    # so fail[x] follows from fail[parent] (memoised, walking up at most log2(N) edges).
    fail = np.full(n_runs, -1, np.int8)
    stack = np.empty(_MAX_DEPTH, np.int64)
    for first_node in range(n_runs):
        if fail[first_node] >= 0:
            continue
        depth = 0
        node = first_node
        while True:
            stack[depth] = node
            depth += 1
            if nodes[node, _TREE] == node or fail[nodes[node, _TREE]] >= 0:
                break
            node = nodes[node, _TREE]
        for d in range(depth - 1, -1, -1):
            node = stack[d]
            first_own_stage = 1
            result = 0
            if nodes[node, _TREE] != node:
                attached_at = edge_stage[node]
                parent_fail = fail[nodes[node, _TREE]]
                if parent_fail > 0 and parent_fail <= attached_at:
                    result = parent_fail
                first_own_stage = attached_at + 1
            if result == 0:
                for stage in range(first_own_stage, run_level[node] + 1):
                    if largest_root[stage] != node:
                        result = stage
                        break
            fail[node] = result

    # Level-0 pixels drop out at stage 1, unless every threshold is empty (then nothing is assigned).
    dropout = np.full((height, width), n_levels + 1 if max_level == 0 else 1, np.uint8)
    for run in range(n_runs):
        if fail[run] > 0:
            value = fail[run]
        elif run_level[run] == max_level:  # survived every non-empty threshold
            value = n_levels + 1
        else:
            value = run_level[run] + 1
        dropout[run_row[run], start[run] : end[run] + 1] = value
    return dropout


@numba.njit(cache=True)
def _phi_difference(
    pred: np.ndarray,
    gt: np.ndarray,
    dropout: np.ndarray,
    level_values: np.ndarray,
    theta: float,
) -> np.ndarray:
    """``|phi(pred) - phi(gt)|`` with ``phi(a) = 1 - d [d >= theta]``, ``d = a - l``, in one pass.

    ``dropout`` is the padded output of ``_dropout_stage``.
    """
    height, width = pred.shape
    error = np.empty((height, width), np.float64)
    for row in range(height):
        for col in range(width):
            level = level_values[dropout[row + 1, col + 1] - 1]
            pred_d = np.float64(pred[row, col]) - level
            gt_d = np.float64(gt[row, col]) - level
            pred_phi = 1.0 - pred_d if pred_d >= theta else 1.0
            gt_phi = 1.0 - gt_d if gt_d >= theta else 1.0
            error[row, col] = abs(pred_phi - gt_phi)
    return error


def _check_thresholds(thresholds: np.ndarray) -> np.ndarray:
    thresholds = np.ascontiguousarray(thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or not 2 <= thresholds.shape[0] <= 100 or thresholds[0] != 0.0:
        raise ValueError(f"thresholds: expected 2..100 increasing values starting at 0, got {thresholds!r}")
    if np.any(np.diff(thresholds) <= 0):
        raise ValueError(f"thresholds: must be strictly increasing, got {thresholds!r}")
    return thresholds


def _level_values(thresholds: np.ndarray) -> np.ndarray:
    # Dropout stage k -> t_{k-1}; a pixel that never drops out (stage n_levels + 1) gets 1.
    return np.append(thresholds, 1.0)


def _dropout(pred: np.ndarray, gt: np.ndarray, thresholds: np.ndarray, row_major_ties: bool) -> np.ndarray:
    levels = _padded_levels(pred, gt, thresholds)
    return _dropout_stage(levels, thresholds.shape[0] - 1, row_major_ties)


def connectivity_levels(
    pred: np.ndarray, gt: np.ndarray, thresholds: np.ndarray, *, row_major_ties: bool = False
) -> np.ndarray:
    """The MATLAB code's ``l_map``: (H, W) float64, the level each pixel is assigned.

    ``thresholds``: strictly increasing float64 starting at 0 (at most 100 of them).
    """
    thresholds = _check_thresholds(thresholds)
    dropout = _dropout(np.ascontiguousarray(pred), np.ascontiguousarray(gt), thresholds, row_major_ties)
    return _level_values(thresholds)[dropout[1:-1, 1:-1].astype(np.intp) - 1]


def connectivity_error_map(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    thresholds: np.ndarray,
    theta: float = 0.15,
    row_major_ties: bool = False,
) -> np.ndarray:
    """Per-pixel ``|phi(pred) - phi(gt)|``, (H, W) float64; its sum over a region is the error.

    ``pred``, ``gt``: (H, W) float arrays in [0, 1] (validated by the caller).
    """
    thresholds = _check_thresholds(thresholds)
    pred = np.ascontiguousarray(pred)
    gt = np.ascontiguousarray(gt)
    dropout = _dropout(pred, gt, thresholds, row_major_ties)
    return _phi_difference(pred, gt, dropout, _level_values(thresholds), float(theta))

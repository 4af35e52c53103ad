"""Dask's reference figures for fanout's task-graph rows (issue 17): per-node cost on two graphs.

Run by bench/python-refs.ts with the first Python that imports dask (Debian's /usr/bin/python3
here); prints progress on stderr and one JSON list of rows on the last line of stdout. Exits
non-zero when a graph's result is not exactly the expected value.

    python3 bench/python/graph_dask.py [--schedulers threads,processes,distributed]
                                       [--workloads graph-tree,graph-pipeline]
                                       [--leaves N] [--items N] [--repeat R]

The graphs (a fanout row that mirrors them builds the same nodes with the same functions):

graph-tree (N leaves, 2N - 1 nodes)
    Leaf i (0 <= i < N) is a node computing leaf(i) = i. The tree is built level by level: the
    nodes of a level are paired left to right, each pair (a, b) becoming one node add(a, b) = a + b
    of the next level; an odd node out at the end of a level is carried up unchanged. So there are
    N leaf nodes and N - 1 add nodes, and the root's value is N (N - 1) / 2.

graph-pipeline (N items, 2N + 1 nodes)
    Item i (0 <= i < N) is a node load(i) = i, followed by a node transform(x) = 2 x + 1 that
    depends on it alone; one final node reduce(xs) = sum(xs) takes the list of all N transform
    nodes as its single argument (the spelling `pool.run(reduce, futures)` in fanout). Its value
    is the sum of the first N odd numbers, N².

Every function is a trivial Python call (well under a microsecond), so the time is the engine's.

Timing: `seconds` is building the graph with dask.delayed plus computing it (what a user waits
for; `buildSeconds` and `computeSeconds` split it), and `usPerNode` is seconds / nodes * 1e6.
Each scheduler runs `workers` = os.cpu_count() workers, started and warmed on a small graph
before timing (the processes scheduler gets a ready ProcessPoolExecutor, so process start-up is
not counted). Dask's own defaults apply otherwise; note that the processes scheduler fuses linear
chains (each load -> transform pair becomes one task) before running, as it does for any user:
the figures count the graph's nodes as built, not the tasks after fusing.

Schedulers: `dask-threads` (dask.threaded), `dask-processes` (dask.multiprocessing) and, when
the `distributed` package is importable, `dask-distributed` (a LocalCluster of `workers`
processes with one thread each). Each has its own default size (below), chosen so that one
timed run takes roughly 10-30 s on an idle 2-core machine; --leaves / --items override them all.
"""

import argparse
import concurrent.futures
import json
import logging
import multiprocessing
import os
import statistics
import sys
import time

import dask
from dask import delayed

# Default sizes per scheduler: (tree leaves, pipeline items). Measured on the project's 2-core
# machine (load average ~4): ~110-125 us a node threaded at 100,000, ~145-185 us with processes
# at 50,000, ~2,000 us with distributed at 4,000; Dask's cost per node grows with the graph.
DEFAULT_SIZES = {
    "threads": (100_000, 100_000),
    "processes": (50_000, 50_000),
    "distributed": (4_000, 4_000),
}
WARM_SIZE = 200


# --- the graphs' functions ----------------------------------------------------------------------
def leaf(i):
    return i


def add(a, b):
    return a + b


def load(i):
    return i


def transform(x):
    return 2 * x + 1


def reduce(xs):
    return sum(xs)
# -------------------------------------------------------------------------------------------------


def build_tree(n):
    level = [delayed(leaf)(i) for i in range(n)]
    while len(level) > 1:
        pairs = [delayed(add)(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            pairs.append(level[-1])
        level = pairs
    return level[0]


def build_pipeline(n):
    return delayed(reduce)([delayed(transform)(delayed(load)(i)) for i in range(n)])


def serial_tree(n):
    level = [leaf(i) for i in range(n)]
    while len(level) > 1:
        pairs = [add(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            pairs.append(level[-1])
        level = pairs
    return level[0]


def serial_pipeline(n):
    return reduce([transform(load(i)) for i in range(n)])


WORKLOADS = {
    # name: (build the graph, compute it directly, nodes for n, expected value for n)
    "graph-tree": (build_tree, serial_tree, lambda n: 2 * n - 1, lambda n: n * (n - 1) // 2),
    "graph-pipeline": (build_pipeline, serial_pipeline, lambda n: 2 * n + 1, lambda n: n * n),
}


class WrongResult(Exception):
    pass


def check(workload, library, n, value):
    expected = WORKLOADS[workload][3](n)
    if value != expected:
        raise WrongResult(f"{library} {workload} over {n}: got {value!r}, expected {expected}")
    return expected


def time_graph(workload, n, compute):
    build = WORKLOADS[workload][0]
    start = time.perf_counter()
    graph = build(n)
    built = time.perf_counter()
    (value,) = compute(graph)
    done = time.perf_counter()
    return built - start, done - built, value


def measure(workload, library, version, workers, n, repeat, compute, note):
    nodes = WORKLOADS[workload][2](n)
    runs = []
    for r in range(repeat):
        build_s, compute_s, value = time_graph(workload, n, compute)
        expected = check(workload, library, n, value)
        runs.append((build_s + compute_s, build_s, compute_s))
        print(
            f"  [{library} {workload}] run {r + 1}/{repeat}: {n} -> {nodes} nodes, build {build_s:.2f} s, "
            f"compute {compute_s:.2f} s, {(build_s + compute_s) / nodes * 1e6:.1f} us/node",
            file=sys.stderr,
        )
    seconds, build_s, compute_s = sorted(runs)[len(runs) // 2]
    return {
        "workload": workload,
        "library": library,
        "version": version,
        "workers": workers,
        "items": n,
        "nodes": nodes,
        "seconds": seconds,
        "buildSeconds": build_s,
        "computeSeconds": compute_s,
        "usPerNode": seconds / nodes * 1e6,
        "computeUsPerNode": compute_s / nodes * 1e6,
        "check": value,
        "expected": expected,
        "samples": [run[0] for run in runs],
        "loadAverage": os.getloadavg()[0],
        "note": note,
    }


def serial_row(workload, n):
    _, direct, count, _ = WORKLOADS[workload]
    start = time.perf_counter()
    value = direct(n)
    seconds = time.perf_counter() - start
    expected = check(workload, "python-serial", n, value)
    return {
        "workload": workload,
        "library": "python-serial",
        "version": sys.version.split()[0],
        "workers": 1,
        "items": n,
        "nodes": count(n),
        "seconds": seconds,
        "usPerNode": seconds / count(n) * 1e6,
        "check": value,
        "expected": expected,
        "loadAverage": os.getloadavg()[0],
        "note": "the same functions called directly in one Python loop (no graph): the work itself",
    }


def run_scheduler(name, workloads, sizes, repeat, workers):
    """Rows for one scheduler, its workers started and warmed first (not timed)."""
    library = f"dask-{name}"
    python = f"Python {sys.version.split()[0]}"
    if name == "threads":

        def compute(graph):
            return dask.compute(graph, scheduler="threads", num_workers=workers)

        note = f"dask.threaded, num_workers={workers}; {python}"
        return run_all(library, workloads, sizes, repeat, workers, compute, note)
    if name == "processes":
        context = multiprocessing.get_context(dask.config.get("multiprocessing.context", "spawn"))
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:

            def compute(graph):
                return dask.compute(graph, scheduler="processes", pool=pool)

            note = (
                f"dask.multiprocessing on a ready ProcessPoolExecutor({workers}) ({context.get_start_method()}), "
                f"which fuses linear chains before running; {python}"
            )
            return run_all(library, workloads, sizes, repeat, workers, compute, note)
    if name == "distributed":
        import distributed

        with distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster, distributed.Client(cluster) as client:

            def compute(graph):
                return client.compute([graph], sync=True)

            note = f"distributed {distributed.__version__} LocalCluster, {workers} processes x 1 thread; {python}"
            return run_all(library, workloads, sizes, repeat, workers, compute, note)
    raise SystemExit(f"unknown scheduler {name!r}: expected threads, processes or distributed")


def run_all(library, workloads, sizes, repeat, workers, compute, note):
    for workload in workloads:
        _, _, value = time_graph(workload, WARM_SIZE, compute)
        check(workload, library, WARM_SIZE, value)
    rows = []
    for workload in workloads:
        n = sizes[workload]
        rows.append(measure(workload, library, dask.__version__, workers, n, repeat, compute, note))
    return rows


def distributed_missing():
    try:
        import distributed  # noqa: F401
    except ImportError as error:
        return f"the distributed package is not importable ({error}): apt-get install python3-distributed"
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schedulers", default="threads,processes,distributed")
    parser.add_argument("--workloads", default="graph-tree,graph-pipeline")
    parser.add_argument("--leaves", type=int, help="graph-tree leaves, for every scheduler")
    parser.add_argument("--items", type=int, help="graph-pipeline items, for every scheduler")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    workloads = [w for w in args.workloads.split(",") if w]
    for workload in workloads:
        if workload not in WORKLOADS:
            raise SystemExit(f"unknown workload {workload!r}: expected {', '.join(WORKLOADS)}")
    for size in (args.leaves, args.items):
        if size is not None and size < 1:
            raise SystemExit(f"--leaves and --items must be at least 1, got {size}")
    workers = os.cpu_count() or 1
    rows, skipped = [], []
    largest = {}
    for name in [s for s in args.schedulers.split(",") if s]:
        if name not in DEFAULT_SIZES:
            raise SystemExit(f"unknown scheduler {name!r}: expected {', '.join(DEFAULT_SIZES)}")
        if name == "distributed" and distributed_missing():
            skipped.append({"library": "dask-distributed", "missing": distributed_missing()})
            print(f"  [dask-distributed] skipped: {distributed_missing()}", file=sys.stderr)
            continue
        tree, pipeline = DEFAULT_SIZES[name]
        sizes = {
            "graph-tree": args.leaves if args.leaves is not None else tree,
            "graph-pipeline": args.items if args.items is not None else pipeline,
        }
        for workload in workloads:
            largest[workload] = max(largest.get(workload, 0), sizes[workload])
        rows += run_scheduler(name, workloads, sizes, args.repeat, workers)
    rows = [serial_row(w, largest[w]) for w in workloads if w in largest] + rows
    for entry in skipped:
        rows.append({**entry, "workload": ",".join(workloads)})
    print(json.dumps(rows))


def cli():
    try:
        main()
    except WrongResult as error:
        print(f"graph_dask.py: wrong result: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    cli()

"""mpi4py + numpy reference for fanout's `heat` row (issue 18): the 2-D heat equation by Jacobi
iteration, row blocks with halo exchange between ranks.

    mpirun -np P /usr/bin/python3 bench/python/heat_mpi.py [--nx 2000] [--ny 2000] [--steps 200] [--no-verify]
    /usr/bin/python3 bench/python/heat_mpi.py ...      (one rank: the serial numpy loop)

Open MPI refuses to start as root unless told (--allow-run-as-root) and refuses more ranks than
cores unless told (--oversubscribe); bench/python-refs.ts adds both when they apply. Prints one
JSON object on the last line of stdout (rank 0); exits non-zero if the grid differs from the
serial one.

The problem, precisely (a fanout version reproduces it bit for bit):

- The grid u has NY rows (y = 0 at the top) of NX cells (x = 0 at the left), float64.
- Fixed boundary: row y = 0 is 100.0 in every cell, both corners included; row y = NY - 1 is 0.0;
  columns x = 0 and x = NX - 1 are 0.0 in rows 1 .. NY - 2. Boundary cells never change.
- Interior cells (1 <= y <= NY - 2, 1 <= x <= NX - 2) start at 0.0. One step computes, for every
  interior cell from the previous step's grid only (Jacobi, two buffers),
      new[y][x] = 0.25 * ((u[y-1][x] + u[y+1][x]) + (u[y][x-1] + u[y][x+1]))
  in exactly that order of float64 operations (multiplying by 0.25 is exact, so it equals / 4).
- After STEPS steps the checksum is: `sum`, the correctly rounded sum of all NX * NY cells
  (math.fsum: independent of summation order); `sha256`, the SHA-256 of the grid's cells as
  little-endian float64 in row-major order (y outer, x inner); and `points`, the values at
  (y, x) = (1, 1), (1, NX // 2), (4, NX // 3), (9, NX // 2), (NY // 2, NX // 2), each y capped at
  NY - 1 (heat spreads one row a step, so most are near the hot edge).

Decomposition on P ranks: the NY - 2 interior rows are split into P contiguous blocks, rank r
owning rows 1 + floor(r (NY - 2) / P) up to (not including) 1 + floor((r + 1) (NY - 2) / P).
Each rank holds its rows plus one row above and one below: a fixed boundary row at the plate's
edges, otherwise a halo row refreshed before every step by two MPI Sendrecv calls (first row up
while receiving the lower halo, last row down while receiving the upper halo; PROC_NULL at the
edges). Every cell is computed by the same expression from the same values whatever P is, so the
final grid is identical bit for bit on any number of ranks: with --verify (the default) rank 0
recomputes it serially after the timed part and exits non-zero if any cell differs (`verified`:
true; null on one rank, where the serial loop is the computation itself).

Timing: `seconds` is the slowest rank's wall time for the STEPS steps, from a barrier to the end
of its last step (gathering and checksums are not timed); `exchangeMsPerStep` is the time spent
inside the Sendrecv calls (sending, and waiting for the neighbour) per step, averaged over ranks
(`exchangeMsPerStepByRank` gives each).
"""

import argparse
import hashlib
import json
import math
import os
import sys
import time

import numpy as np

TOP = 100.0


def points(nx, ny):
    return [(min(y, ny - 1), x) for y, x in [(1, 1), (1, nx // 2), (4, nx // 3), (9, nx // 2), (ny // 2, nx // 2)]]


def initial_grid(nx, ny):
    grid = np.zeros((ny, nx), dtype=np.float64)
    grid[0, :] = TOP
    return grid


def step(u, v, a, b):
    """v's interior rows 1..-2 from u (same shape); a and b are scratch of the interior's shape."""
    np.add(u[:-2, 1:-1], u[2:, 1:-1], out=a)
    np.add(u[1:-1, :-2], u[1:-1, 2:], out=b)
    np.add(a, b, out=a)
    np.multiply(a, 0.25, out=v[1:-1, 1:-1])


def serial(nx, ny, steps):
    """The whole plate in one process; returns (final grid, seconds)."""
    u = initial_grid(nx, ny)
    v = u.copy()
    a = np.empty((ny - 2, nx - 2))
    b = np.empty_like(a)
    start = time.perf_counter()
    for _ in range(steps):
        step(u, v, a, b)
        u, v = v, u
    return u, time.perf_counter() - start


def block(nx, ny, size, rank):
    """The interior rows [lo, hi) that `rank` of `size` owns."""
    interior = ny - 2
    return 1 + rank * interior // size, 1 + (rank + 1) * interior // size


def distributed(comm, nx, ny, steps):
    """This rank's part; returns (rows lo..hi-1 of the final grid, seconds, exchange seconds)."""
    from mpi4py import MPI

    rank, size = comm.Get_rank(), comm.Get_size()
    lo, hi = block(nx, ny, size, rank)
    # Local row i is global row lo - 1 + i: the rows lo - 1 .. hi, the two outer ones being
    # a boundary row or a halo.
    u = initial_grid(nx, ny)[lo - 1 : hi + 1].copy()
    v = u.copy()
    a = np.empty((hi - lo, nx - 2))
    b = np.empty_like(a)
    up = rank - 1 if rank > 0 else MPI.PROC_NULL
    down = rank + 1 if rank < size - 1 else MPI.PROC_NULL
    exchange = 0.0
    comm.Barrier()
    start = time.perf_counter()
    for _ in range(steps):
        t = time.perf_counter()
        comm.Sendrecv(u[1], dest=up, sendtag=0, recvbuf=u[-1], source=down, recvtag=0)
        comm.Sendrecv(u[-2], dest=down, sendtag=1, recvbuf=u[0], source=up, recvtag=1)
        exchange += time.perf_counter() - t
        step(u, v, a, b)
        u, v = v, u
    seconds = time.perf_counter() - start
    return u[1:-1], seconds, exchange


def checksum(grid, nx, ny):
    little = grid.astype("<f8", copy=False)
    return {
        "sum": math.fsum(little.ravel().tolist()),
        "sha256": hashlib.sha256(np.ascontiguousarray(little).tobytes()).hexdigest(),
        "points": [{"y": y, "x": x, "value": float(grid[y, x])} for y, x in points(nx, ny)],
    }


def launched_ranks():
    """How many ranks mpirun started, from the variables Open MPI and MPICH set (1 without mpirun)."""
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"):
        if os.environ.get(name):
            return int(os.environ[name])
    return 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nx", type=int, default=2000)
    parser.add_argument("--ny", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    nx, ny, steps = args.nx, args.ny, args.steps
    if nx < 3 or ny < 3 or steps < 0:
        raise SystemExit(f"heat_mpi.py: need --nx >= 3, --ny >= 3, --steps >= 0 (got {nx}, {ny}, {steps})")

    try:
        from mpi4py import MPI
    except ImportError as error:
        if launched_ranks() > 1:
            raise SystemExit(f"heat_mpi.py: started on {launched_ranks()} ranks but mpi4py is missing: {error}")
        MPI = None
    comm = MPI.COMM_WORLD if MPI else None
    size = comm.Get_size() if comm else 1
    rank = comm.Get_rank() if comm else 0
    if size > ny - 2:
        if rank == 0:
            print(f"heat_mpi.py: {size} ranks but only {ny - 2} interior rows", file=sys.stderr)
        sys.exit(2)

    base = {"nx": nx, "ny": ny, "steps": steps, "ranks": size, "numpy": np.__version__}
    if size == 1:
        grid, seconds = serial(nx, ny, steps)
        result = {
            **base,
            "library": "numpy-serial",
            "version": np.__version__,
            "seconds": seconds,
            "secondsByRank": [seconds],
            "exchangeMsPerStep": 0.0,
            "exchangeMsPerStepByRank": [0.0],
            "checksum": checksum(grid, nx, ny),
            "verified": None,
            "note": "serial numpy loop over the whole plate (the 1-rank case: no exchange)",
        }
        if MPI:
            result["mpi4py"] = __import__("mpi4py").__version__
        result["loadAverage"] = os.getloadavg()[0]
        print(json.dumps(result))
        return

    import mpi4py

    rows, seconds, exchange = distributed(comm, nx, ny, steps)
    parts = comm.gather(rows, root=0)
    timings = comm.gather((seconds, exchange), root=0)
    if rank != 0:
        return
    grid = initial_grid(nx, ny)
    grid[1:-1] = np.concatenate(parts)
    verified = False
    if args.verify:
        reference, _ = serial(nx, ny, steps)
        if not np.array_equal(grid, reference):
            differ = int(np.count_nonzero(grid != reference))
            print(f"heat_mpi.py: {size} ranks: {differ} cells differ from the serial grid", file=sys.stderr)
            sys.exit(1)
        verified = True
    per_step = [t[1] / steps * 1e3 if steps else 0.0 for t in timings]
    print(
        json.dumps(
            {
                **base,
                "library": "mpi4py",
                "version": mpi4py.__version__,
                "mpi": MPI.Get_library_version().splitlines()[0].strip().rstrip("\x00"),
                "seconds": max(t[0] for t in timings),
                "secondsByRank": [t[0] for t in timings],
                "exchangeMsPerStep": sum(per_step) / size,
                "exchangeMsPerStepByRank": per_step,
                "checksum": checksum(grid, nx, ny),
                "verified": verified,
                "loadAverage": os.getloadavg()[0],
                "note": f"row blocks on {size} ranks, halo rows by Sendrecv; numpy {np.__version__}",
            }
        )
    )


if __name__ == "__main__":
    main()

"""Seed 002's weather Monte Carlo, as the seed wrote it: a serial loop vs joblib's Parallel(n_jobs=-1).

Run by `npm run bench` (bench/joblib.ts); prints one JSON list of records on the last line.
The simulation functions are the seed's own code, unchanged.

    python3 bench/python/weather_joblib.py [--sims10 N] [--sims100 N] [--repeat R]
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import joblib
import numpy as np
import numpy.random as npr
from joblib import Parallel, delayed


# --- the seed's code -------------------------------------------------------------------------
def weather_at_t_plus_one(temp_at_t, std_dev):
    return npr.normal((72 + temp_at_t) / 2, std_dev)


def simulate_weather(starting_temp, weather_std_dev, steps):
    weather_at_time_t = starting_temp

    for i in range(steps):
        weather_at_time_t = weather_at_t_plus_one(weather_at_time_t, weather_std_dev)

    return weather_at_time_t


def run_simulation_10(i):
    return simulate_weather(75, 5, 10)


def run_simulation_100(i):
    return simulate_weather(75, 5, 100)
# ----------------------------------------------------------------------------------------------

# One timed run longer than this is not repeated (as in the JS runner).
REPEAT_BUDGET_SECONDS = 20
# Items run once before timing, so the worker processes exist and have imported numpy.
WARM_ITEMS = 20_000


def serial(fn, sims):
    results = []
    for run in range(sims):
        results.append(fn(run))
    return results


def parallel(fn, sims):
    return Parallel(n_jobs=-1)(delayed(fn)(i) for i in range(sims))


class WrongResults(Exception):
    """A run's results cannot be the seed's simulation: the script exits non-zero."""


def check(results, sims, steps, what):
    """Check a run's results, element by element where the seed's code allows it.

    The seed's simulations draw from numpy's global generator (one per process, unseeded), so no
    result belongs to a particular item and no two runs agree value by value. What can be checked:
    one result per simulation; each a finite float within ten standard deviations of the process
    (x0 = 75, x(t+1) ~ Normal((72 + x(t)) / 2, 5): mean 72 + 3 / 2**steps, spread at most
    5 / sqrt(1 - 1/4)); and their mean within six standard errors of the expected mean. Raises
    WrongResults otherwise (not an assert, which `python -O` would remove).
    """
    if len(results) != sims:
        raise WrongResults(f"{what}: {len(results)} results, expected {sims}")
    mean = 72 + 3 / 2**steps
    spread = 5 / math.sqrt(1 - 1 / 4)
    for i, value in enumerate(results):
        if not (isinstance(value, float) and math.isfinite(value) and abs(value - mean) <= 10 * spread):
            raise WrongResults(f"{what}: result {i} is {value!r}, not a temperature the simulation can give")
    got = statistics.fmean(results)
    if abs(got - mean) > 6 * spread / math.sqrt(sims):
        raise WrongResults(f"{what}: the mean of {sims} results is {got}, expected {mean}")
    return got


def timed(run, fn, sims, steps, what):
    start = time.perf_counter()
    results = run(fn, sims)
    seconds = time.perf_counter() - start
    return seconds, check(results, sims, steps, what)


def measure(workload, fn, steps, sims, repeat, workers):
    parallel(fn, min(sims, WARM_ITEMS))
    serial(fn, min(sims, WARM_ITEMS))
    serial_runs, parallel_runs = [], []
    for r in range(repeat):
        seconds, serial_mean = timed(serial, fn, sims, steps, f"the serial loop on {workload}")
        serial_runs.append(seconds)
        seconds, parallel_mean = timed(parallel, fn, sims, steps, f"joblib on {workload}")
        parallel_runs.append(seconds)
        print(
            f"  [joblib {workload}] run {r + 1}/{repeat}: serial {serial_runs[-1]:.3f} s, "
            f"joblib {parallel_runs[-1]:.3f} s",
            file=sys.stderr,
        )
        if parallel_runs[-1] > REPEAT_BUDGET_SECONDS:
            break
    serial_s = statistics.median(serial_runs)
    parallel_s = statistics.median(parallel_runs)
    base = {"workload": workload, "workers": workers, "items": sims, "loadAverage": os.getloadavg()[0]}
    note = f"Python {sys.version.split()[0]} ({sys.executable}), numpy {np.__version__}"
    return [
        {
            **base,
            "library": "python-serial",
            "version": sys.version.split()[0],
            "workers": 1,
            "seconds": serial_s,
            "itemsPerSecond": sims / serial_s,
            "speedupVsSerial": 1,
            "efficiency": 1,
            "samples": serial_runs,
            "meanTemperature": serial_mean,
            "note": f"the seed's serial loop; {note}",
        },
        {
            **base,
            "library": "joblib",
            "version": joblib.__version__,
            "seconds": parallel_s,
            "itemsPerSecond": sims / parallel_s,
            "speedupVsSerial": serial_s / parallel_s,
            "efficiency": serial_s / parallel_s / workers,
            "perItemOverheadNs": (parallel_s * workers - serial_s) / sims * 1e9,
            "serialSeconds": serial_s,
            "samples": parallel_runs,
            "meanTemperature": parallel_mean,
            "note": f"Parallel(n_jobs=-1) vs the Python serial loop; {note}",
        },
    ]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims10", type=int, default=2_000_000)
    parser.add_argument("--sims100", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    workers = joblib.cpu_count()
    try:
        records = measure("weather-10", run_simulation_10, 10, args.sims10, args.repeat, workers)
        records += measure("weather-100", run_simulation_100, 100, args.sims100, args.repeat, workers)
    except WrongResults as error:
        sys.exit(f"wrong results: {error}")
    print(json.dumps(records))


if __name__ == "__main__":
    main()

"""Seed 002's weather Monte Carlo, as the seed wrote it: a serial loop vs joblib's Parallel(n_jobs=-1).

Run by `npm run bench` (bench/joblib.ts); prints one JSON list of records on the last line.
The simulation functions are the seed's own code, unchanged.

    python3 bench/python/weather_joblib.py [--sims10 N] [--sims100 N] [--repeat R]
"""

import argparse
import json
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


def timed(run, fn, sims):
    start = time.perf_counter()
    results = run(fn, sims)
    seconds = time.perf_counter() - start
    assert len(results) == sims
    return seconds, statistics.fmean(results)


def measure(workload, fn, sims, repeat, workers):
    parallel(fn, min(sims, WARM_ITEMS))
    serial(fn, min(sims, WARM_ITEMS))
    serial_runs, parallel_runs = [], []
    for r in range(repeat):
        seconds, serial_mean = timed(serial, fn, sims)
        serial_runs.append(seconds)
        seconds, parallel_mean = timed(parallel, fn, sims)
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
    records = measure("weather-10", run_simulation_10, args.sims10, args.repeat, workers)
    records += measure("weather-100", run_simulation_100, args.sims100, args.repeat, workers)
    print(json.dumps(records))


if __name__ == "__main__":
    main()

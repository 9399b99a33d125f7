"""Time ``gdlab.data.load(name)`` in a fresh process, with a cold and a warm disk cache.

For each data set, each round runs a new Python process three ways: ``cold``
(an empty cache folder), ``warm`` (the folder a cold run filled) and ``off``
(``GDLAB_CACHE_DIR=""``). It prints the medians of the rounds: the ``load``
call alone and the whole process (start to exit, imports included), and
whether the process imported scikit-learn.

    python benchmarks/bench_data_load.py                 # moons, boston, mnist; 3 rounds
    python benchmarks/bench_data_load.py --rounds 5 digits circles

The code timed is whatever ``import gdlab`` finds: set ``PYTHONPATH`` to
time another checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, sys, time
import numpy as np
import gdlab.data as data

name = sys.argv[1]
kwargs = {"rng": np.random.default_rng(0)} if name in ("moons", "circles", "spirals", "xor") else {}
start = time.perf_counter()
dataset = data.load(name, **kwargs)
seconds = time.perf_counter() - start
heavy = "sklearn" in sys.modules
print(json.dumps({"load": seconds, "sklearn": heavy, "shape": list(dataset.X.shape)}))
"""


def _run(name: str, cache: str) -> dict:
    env = {**os.environ, "GDLAB_CACHE_DIR": cache}
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, name],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out)
    result["process"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", default=["moons", "boston", "mnist"])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for name in args.names:
        runs: dict[str, list[dict]] = {"cold": [], "warm": [], "off": []}
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="gdlab-bench-cache-") as folder:
                cache = str(Path(folder) / "cache")
                runs["cold"].append(_run(name, cache))
                runs["warm"].append(_run(name, cache))
            runs["off"].append(_run(name, ""))
        for kind, results in runs.items():
            rows.append(
                (
                    name,
                    kind,
                    statistics.median(r["load"] for r in results),
                    statistics.median(r["process"] for r in results),
                    any(r["sklearn"] for r in results),
                )
            )
            print(f"{name:8} {kind:5} load {rows[-1][2]:7.3f} s  process {rows[-1][3]:7.3f} s")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nmedians of {args.rounds} fresh processes; load average {load:.2f} at the end\n")
    print("| data set | cache | `load()` (s) | process (s) | imports scikit-learn |")
    print("|---|---|---:|---:|---|")
    for name, kind, seconds, process, heavy in rows:
        print(f"| {name} | {kind} | {seconds:.3f} | {process:.3f} | {'yes' if heavy else 'no'} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Wall time of `portmatrix compile --host` for one or more builds, side by
side: the builds take turns, run after run, so that a change of the
machine's speed during the round affects them alike.

Usage: bench/one-host.py RUNS INVENTORY HOST BINARY [BINARY ...]
e.g.   bench/one-host.py 40 /tmp/big.yaml acd-0 /tmp/portmatrix-before target/release/portmatrix

Prints, per build, the minimum, median and 90th percentile in ms of the
whole process (start-up, load, plan, render, writing two files, exit).
"""

import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> int:
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    runs, inventory, host, binaries = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
    times = {b: [] for b in binaries}
    with tempfile.TemporaryDirectory(prefix="one-host-") as scratch:
        out = f"{scratch}/out"
        for _ in range(runs):
            for b in binaries:
                shutil.rmtree(out, ignore_errors=True)
                start = time.perf_counter()
                subprocess.run(
                    [b, "compile", "-i", inventory, "-t", "nftables", "--host", host, "-d", out],
                    capture_output=True,
                    check=True,
                )
                times[b].append(time.perf_counter() - start)
    for b in binaries:
        t = sorted(times[b])
        ms = lambda s: s * 1e3  # noqa: E731
        p90 = t[min(len(t) - 1, int(len(t) * 0.9))]
        print(f"{b:<40} min {ms(t[0]):6.1f}  median {ms(statistics.median(t)):6.1f}  p90 {ms(p90):6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Wall time of several commands run in alternation, round after round.

On a machine whose speed drifts (a shared VM), running each command's runs
back to back (as hyperfine does) puts the drift between the commands;
alternating spreads it over all of them.

    python3 benches/alternate.py ROUNDS LABEL=COMMAND [LABEL=COMMAND ...]

Prints each label's median, min and max wall seconds.
"""
import statistics
import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 3 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    rounds = int(sys.argv[1])
    commands = []
    for arg in sys.argv[2:]:
        label, sep, command = arg.partition("=")
        if not sep or not label or not command:
            print(f"alternate.py: expected LABEL=COMMAND, got {arg!r}", file=sys.stderr)
            return 2
        commands.append((label, command))
    times = {label: [] for label, _ in commands}
    for _ in range(rounds):
        for label, command in commands:
            start = time.perf_counter()
            done = subprocess.run(command, shell=True, stdout=subprocess.DEVNULL)
            if done.returncode != 0:
                print(f"alternate.py: {label} failed ({done.returncode}): {command}", file=sys.stderr)
                return 1
            times[label].append(time.perf_counter() - start)
    for label, samples in times.items():
        print(
            f"{label}: median {statistics.median(samples):.3f} "
            f"min {min(samples):.3f} max {max(samples):.3f} (n={len(samples)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run one command and write its wall time and wait4 rusage as JSON: `measure.py OUT CMD...`.

Started as a small process of its own because Linux carries the forking parent's peak RSS into
the child's ru_maxrss: forked straight from a big harness, every client would inherit its size.
"""

import json
import os
import subprocess
import sys
import time


def main() -> None:
    out, command = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    result = {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
        "returncode": os.waitstatus_to_exitcode(status),
    }
    with open(out, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()

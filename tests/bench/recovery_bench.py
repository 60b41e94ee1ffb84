"""Recovery after a dependency returns (run by tests/bench/recovery.sh from `make bench`).
Prints a table; never asserts. The measurement itself is tests/e2e/recovery_support.py, the
same one tests/e2e/test_recovery.py runs with a short outage."""
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))
from conftest import read_env  # noqa: E402
from recovery_support import PROBES, measure  # noqa: E402
from tasks_bench import table  # noqa: E402

OUTAGE = float(os.environ.get("RECOVERY_OUTAGE", "30"))
RUNS = int(os.environ.get("RECOVERY_RUNS", "2"))


def main(parts):
    env = read_env()
    rows = []
    for part in parts or list(PROBES):
        got = {}
        for _ in range(RUNS):
            times, names = measure(env, part, OUTAGE)
            for name in names:  # a probe not normal within the deadline shows as "-"
                got.setdefault(name, []).append(times.get(name))
        for name in sorted(got):
            xs = [x for x in got[name] if x is not None]
            rows.append((part, name, f"{len(xs)}/{len(got[name])}",
                         f"{min(xs):.2f}" if xs else "-", f"{max(xs):.2f}" if xs else "-"))
        print(f"{part}: done", flush=True)
    table(f"seconds from the dependency answering again to the service being normal "
          f"(outage {OUTAGE:.0f} s, {RUNS} runs)", ("dependency", "service", "normal", "min", "max"), rows)


if __name__ == "__main__":
    main(sys.argv[1:])

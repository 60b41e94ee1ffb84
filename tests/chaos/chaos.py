"""make chaos: fault-injection runs against the real local stack, checked by independent
clients, with the figures written to RELIABILITY.md (tests/chaos/run.sh runs this).

  CHAOS_SCENARIOS="kafka_stop redis_hang"   run only these (names below; default: all);
                                            the table then goes to .run/chaos/RELIABILITY.md
                                            and the committed RELIABILITY.md is left alone
  CHAOS_REPORT=PATH                         write the table there instead
  CHAOS_SOAK_SECONDS=…, CHAOS_KAFKA_OUTAGE=… the knobs of chaos_scenarios.KNOBS

Each scenario restores the stack in `finally`; between scenarios the runner checks that the
stack is whole and runs the release builds again. A figure that misses its goal, or a
scenario that could not run to its end, makes the run exit 1 and is named at the end.
Exit codes: 0 every goal met, 1 a goal missed, 2 bad usage or no stack.
"""
import datetime
import os
import pathlib
import platform
import signal
import subprocess
import sys
import time
import traceback

from chaos_scenarios import KNOBS, SCENARIOS, Ctx, Figure
from chaos_stack import ROOT, RUN, ensure_services, load_average, read_env

BUDGET_S = 20 * 60


def machine():
    cpu = "?"
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(pathlib.Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    try:
        distro = [l.split("=", 1)[1].strip('"') for l in
                  pathlib.Path("/etc/os-release").read_text().splitlines()
                  if l.startswith("PRETTY_NAME=")][0]
    except (OSError, IndexError):
        distro = "?"
    return f"{distro}, Linux {platform.release()}, {os.cpu_count()} CPUs ({cpu}), {mem:.0f} GiB RAM"


def commit():
    def git(*a):
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "?"
    return head + (" (with uncommitted changes)" if git("status", "--porcelain") else "")


def command(names):
    """The command line as run: the settings given, then make chaos."""
    given = [f"{k}={os.environ[k]}" for k in ("STACK_PORT_OFFSET", "CHAOS_SCENARIOS", *KNOBS)
             if os.environ.get(k)]
    return " ".join(given + ["make chaos"])


def verdict(f):
    return "—" if f.ok is None else ("pass" if f.ok else "**MISS**")


def render(rows, started, finished, names, total_s, at):
    """RELIABILITY.md: the machine, the date, the command, one table."""
    cell = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    out = ["# Reliability: fault-injection runs (`make chaos`)", "",
           "Written by `make chaos` (tests/chaos/); what each scenario does and how the figures",
           "are measured: README.md \"Fault-injection runs\" and ARCHITECTURE.md §8a. Every figure",
           "comes from independent clients — the answers the load received, a Kafka consumer of",
           "the checker's own, rows read from the databases, probes — except where a row says",
           "otherwise. A figure without a goal is reported (—).", "",
           f"- Machine: {machine()}; shared with other work while it ran (load average per",
           "  scenario in the table: 1-minute value at its start → at its end)",
           f"- Date: {started:%Y-%m-%d %H:%M}–{finished:%H:%M} UTC, {total_s / 60:.1f} min in all"
           + ("" if total_s <= BUDGET_S else f" (over the {BUDGET_S // 60}-minute budget)"),
           f"- Command: `{command(names)}` at commit {at}",
           "- Builds: release (`bin/`) for every scenario but the soak (ASan+UBSan, `build/asan/bin`)",
           "", "| scenario | figure | goal | measured | result |", "|---|---|---|---|---|"]
    for (name, title, load0, load1, secs), figs in rows:
        first = True
        for f in figs:
            scen = f"**{cell(title)}** (`{name}`, {secs:.0f} s, load {load0:.1f} → {load1:.1f})" \
                if first else ""
            out.append(f"| {scen} | {cell(f.name)} | {cell(f.goal or '—')} | {cell(f.measured)} "
                       f"| {verdict(f)} |")
            first = False
    missed = [(name, f) for (name, *_), figs in rows for f in figs if f.ok is False]
    out.append("")
    if missed:
        out.append(f"**Missed goals ({len(missed)}):**")
        out += [f"- `{n}`: {f.name} — goal {f.goal}, measured {f.measured}" for n, f in missed]
    else:
        out.append("Every goal was met.")
    return "\n".join(out) + "\n", missed


def interrupted(signum, frame):
    """SIGTERM as Ctrl-C: the scenarios' `finally` blocks run (a SIGSTOPped part is resumed,
    changed settings restored) instead of the process just ending."""
    raise KeyboardInterrupt


def main():
    names_given = os.environ.get("CHAOS_SCENARIOS", "").replace(",", " ").split()
    known = [s[0] for s in SCENARIOS]
    unknown = [n for n in names_given if n not in known]
    if unknown:
        print(f"chaos: unknown scenario {', '.join(unknown)} (scenarios: {' '.join(known)})",
              file=sys.stderr)
        return 2
    for k in KNOBS:
        if k in os.environ:
            try:
                type(KNOBS[k][0])(os.environ[k])
            except ValueError:
                print(f"chaos: {k}={os.environ[k]!r} is not a number ({KNOBS[k][1]})", file=sys.stderr)
                return 2
    chosen = [s for s in SCENARIOS if not names_given or s[0] in names_given]
    full = len(chosen) == len(SCENARIOS) and not any(k in os.environ for k in KNOBS)
    out = pathlib.Path(os.environ.get("CHAOS_REPORT") or
                       (ROOT / "RELIABILITY.md" if full else RUN / "chaos" / "RELIABILITY.md"))

    signal.signal(signal.SIGTERM, interrupted)
    at = commit()  # what was built and run (the tree may change while the run goes on)
    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.monotonic()
    print(f"chaos: {len(chosen)} scenario(s): {' '.join(s[0] for s in chosen)}; "
          "bringing the stack up (release builds)", flush=True)
    try:
        ensure_services(asan=False)
    except Exception as e:
        print(f"chaos: the stack is not up: {e}", file=sys.stderr)
        return 2
    ctx = Ctx(read_env(), {k: os.environ[k] for k in KNOBS if k in os.environ})
    rows = []
    for name, title, fn, _ in chosen:
        title = title.format(**ctx.knobs())
        print(f"\n== {title} ({name})", flush=True)
        load0, t0 = load_average(), time.monotonic()
        try:
            figs = fn(ctx)
        except KeyboardInterrupt:
            print("chaos: interrupted; the scenario restored what it changed", file=sys.stderr)
            return 1
        except Exception as e:
            traceback.print_exc()
            figs = [Figure("the scenario ran to its end", f"error: {type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else ''}", "yes", False)]
        try:
            ensure_services(asan=False)
            ctx.env = read_env()
        except Exception as e:
            figs.append(Figure("the stack whole again afterwards", f"error: {e}", "yes", False))
        secs = time.monotonic() - t0
        rows.append(((name, title, load0, load_average(), secs), figs))
        for f in figs:
            print(f"  {verdict(f):9} {f.name}: {f.measured}" + (f"  (goal {f.goal})" if f.goal else ""),
                  flush=True)
        if secs > 0 and time.monotonic() - t_start > BUDGET_S:
            print(f"chaos: past the {BUDGET_S // 60}-minute budget", flush=True)
    total = time.monotonic() - t_start
    text, missed = render(rows, started, datetime.datetime.now(datetime.timezone.utc),
                          [s[0] for s in chosen], total, at)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print("\n" + text)
    print(f"chaos: table written to {out}" + ("" if full else
          " (a partial run: RELIABILITY.md is written by a full `make chaos` only)"))
    if missed:
        print(f"chaos: {len(missed)} goal(s) missed: " +
              "; ".join(f"{n}: {f.name}" for n, f in missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

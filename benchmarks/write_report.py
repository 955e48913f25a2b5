"""Run every ``benchmarks/bench_*.py`` and write what each printed to one Markdown page (``make bench``:
docs/benchmarks.md), headed by the date, the CPU model, the core count and the load average before and after each
benchmark, so that every figure stays next to the machine and the moment it was measured on.

Run: ``python benchmarks/write_report.py [--out docs/benchmarks.md] [--only NAME ...]`` (each benchmark with its
defaults).
The page is written atomically once every benchmark has run; a benchmark that fails is reported on the page with
its exit code and the run goes on, then the script exits 1.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what `platform` says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(script: Path) -> tuple[str, int, float, str, str]:
    """``(output, exit code, seconds, load before, load after)`` of one benchmark."""
    before, t0 = load(), time.perf_counter()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=HERE.parent)
    return done.stdout + done.stderr, done.returncode, time.perf_counter() - t0, before, load()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE.parent / "docs" / "benchmarks.md"))
    ap.add_argument("--only", nargs="+", default=None, help="benchmark names (e.g. bench_retrieval)")
    args = ap.parse_args(argv)
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        unknown = set(args.only) - {s.stem for s in scripts}
        if unknown:
            ap.error(f"no benchmark named {sorted(unknown)}; there are {[s.stem for s in scripts]}")
        scripts = [s for s in scripts if s.stem in args.only]
    lines = ["# Benchmarks", "",
             f"Written by `make bench` on {time.strftime('%Y-%m-%d %H:%M %Z')}: {cpu_model()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}. Each section is one benchmark's own "
             "output; synthetic arrays in them are for timing only, as each benchmark says. The load average "
             "(1, 5, 15 min) before and after each tells how quiet the machine was."
             + ("" if not args.only else f" Only {', '.join(args.only)} ran (`--only`)."), ""]
    failed = 0
    for script in scripts:
        print(f"== {script.name}", flush=True)
        output, code, seconds, before, after = run(script)
        print(output, flush=True)
        failed += code != 0
        lines += [f"## {script.stem}", "",
                  f"{seconds:.0f} s, load {before} before, {after} after" + ("" if code == 0 else
                                                                            f"; **failed with exit code {code}**"),
                  "", "```", output.rstrip(), "```", ""]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(out)
    print(f"written {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Where a report's time goes: each notebook's wall time and peak memory, kept for the next run's ETA.

``<out>/timings.json`` keeps, per notebook and set of parameters, the last successful run's seconds and peak
resident memory (bytes, the process tree: report, kernel and its children), and whether it computed what it needed
(the store gained entries: a cold run) or read everything back (a warm run), with the seconds of the last run of
each sort. A notebook runs many times faster warm than cold, so the next report's ETA is the last warm run's time
when the store still holds at least what it held then, and otherwise the last run's, said to be an upper bound when
that run computed what the store now holds (`expected_seconds`). `NotebookProgress` shows the ETA on a tqdm bar
over notebooks (ticking while a notebook runs) and `timing_table` prints the summary.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from ..atomic import atomic_write_bytes
from ..store import entries

TIMINGS_FILE = "timings.json"


def parameters_key(name: str, parameters: dict[str, Any]) -> str:
    """``name`` plus a short hash of its parameters: two runs share a key when they run the same work."""
    digest = hashlib.sha256(json.dumps(parameters, sort_keys=True, default=repr).encode()).hexdigest()[:12]
    return f"{name}@{digest}"


def read_timings(out_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """``{key: {"seconds", "peak_pss", "peak_rss", "finished"}}`` of earlier runs in ``out_dir`` (``{}`` when none or
    unreadable: an ETA is a convenience, never a reason to fail)."""
    path = Path(out_dir) / TIMINGS_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    runs = data.get("runs") if isinstance(data, dict) else None
    return {k: v for k, v in runs.items() if isinstance(v, dict) and isinstance(v.get("seconds"), (int, float))} \
        if isinstance(runs, dict) else {}


def stored_entries() -> int | None:
    """How many entries the store holds now (`vlr_viz.store.entries`, every kind); ``None`` when it cannot be
    listed (an ETA is a convenience, never a reason to fail)."""
    try:
        return len(entries())
    except (OSError, ValueError):
        return None


def write_timings(out_dir: str | os.PathLike, runs) -> Path:
    """Add the successful ``runs`` (`NotebookRun`) to ``out_dir/timings.json``, replacing their keys (the seconds of
    the last cold and warm runs are carried over from the entry replaced)."""
    known = read_timings(out_dir)
    finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for r in runs:
        if r.status != "ok":
            continue
        key, seconds = parameters_key(r.name, r.parameters), round(r.seconds, 2)
        before, after = getattr(r, "stored_before", None), getattr(r, "stored_after", None)
        computed = None if before is None or after is None else after > before
        old = known.get(key, {})
        entry = {"seconds": seconds, "peak_pss": r.peak_pss, "peak_rss": r.peak_rss, "finished": finished}
        if computed is not None:
            entry.update(computed=computed, stored_after=after,
                         cold=seconds if computed else old.get("cold"), warm=old.get("warm") if computed else seconds)
        known[key] = {k: v for k, v in entry.items() if v is not None}
    path = Path(out_dir) / TIMINGS_FILE
    atomic_write_bytes(path, json.dumps({"runs": known}, indent=1, sort_keys=True).encode())
    return path


def expected_seconds(plans, timings: dict[str, dict[str, Any]], stored_now: int | None = None
                     ) -> tuple[dict[str, float], str]:
    """``({notebook: seconds}, source)``: each plan's expected time from earlier runs with the same parameters
    (absent: no such run), and how the ETA should name its source.

    A run that read everything back (warm) is the estimate while the store holds at least the entries it held
    after that run (``stored_now``); otherwise the last run's time. When that last run computed what the store
    still holds, the next one reads it back and the ETA is an upper bound, and ``source`` says so. (Notebooks run
    side by side, ``--jobs``, each count what the others store too, so a warm one can be taken for cold: its ETA
    is then too long, never too short.)
    """
    out, bound = {}, False
    for p in plans:
        entry = timings.get(parameters_key(p.name, p.parameters))
        if entry is None:
            continue
        kept = stored_now is not None and stored_now >= entry.get("stored_after", float("inf"))
        if kept and isinstance(entry.get("warm"), (int, float)):
            out[p.name] = float(entry["warm"])
        else:
            out[p.name] = float(entry["seconds"])
            bound = bound or (kept and entry.get("computed") is True)
    return out, ("previous run, which computed what is stored now: at most this" if bound else "previous run")


def format_seconds(seconds: float) -> str:
    """``"42.0 s"`` under a minute, else ``"3:07"`` (``"1:02:03"`` past an hour)."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    h, m = divmod(s, 3600)
    return f"{h}:{m // 60:02d}:{m % 60:02d}" if h else f"{m // 60}:{m % 60:02d}"


MEMORY_NOTE = ("peak memory: the largest PSS of the report process, the kernel and the kernel's children together "
               "(each shared page counted once); summed RSS: their resident sets added up, shared pages once per "
               "process")
"""How the console and the index page describe their memory columns (`vlr_viz.resources`)."""


def format_bytes(n: int) -> str:
    return f"{n / 2**30:.2f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def remaining_seconds(names: Sequence[str], current: int, elapsed_current: float,
                      expected: dict[str, float]) -> float | None:
    """Seconds left: the rest of notebook ``current`` (at least 0) and every later one, from ``expected``;
    ``None`` when a notebook still to run has no previous run."""
    todo = names[current:]
    if any(n not in expected for n in todo):
        return None
    return max(expected[todo[0]] - elapsed_current, 0.0) + sum(expected[n] for n in todo[1:]) if todo else 0.0


class NotebookProgress:
    """A tqdm bar over notebooks whose postfix names the running notebook and the ETA from the previous run,
    refreshed by a background thread every ``tick`` seconds (every second on a terminal, every 30 s in a log)."""

    def __init__(self, names: Sequence[str], expected: dict[str, float], tick: float | None = None,
                 file=None, jobs: int = 1, source: str = "previous run"):
        from tqdm.auto import tqdm

        self.names, self.expected, self.jobs = list(names), dict(expected), max(int(jobs), 1)
        self.source = source
        self.file = file or sys.stderr
        self.tick = tick if tick is not None else (1.0 if getattr(self.file, "isatty", lambda: False)() else 30.0)
        self.current, self.started = 0, time.perf_counter()
        self.bar = tqdm(total=len(self.names), desc="notebooks", unit="nb", file=self.file,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._ticker, daemon=True)
        self._refresh()
        self._thread.start()

    def postfix(self) -> str:
        if self.current >= len(self.names):
            return ""
        todo = self.names[self.current:]
        if self.jobs > 1:  # notebooks run side by side: the previous run's work left, shared by the jobs
            left = (sum(self.expected[n] for n in todo) / self.jobs if all(n in self.expected for n in todo)
                    else None)
            running, source = f"{min(self.jobs, len(todo))} running", f"{self.source}, {self.jobs} at a time"
        else:
            left = remaining_seconds(self.names, self.current, time.perf_counter() - self.started, self.expected)
            running, source = todo[0], self.source
        if left is None:
            return f"{running} · no ETA: no previous run with these parameters"
        return f"{running} · ETA {'about ' if self.jobs > 1 else ''}{format_seconds(left)} ({source})"

    def _refresh(self) -> None:
        self.bar.set_postfix_str(self.postfix(), refresh=True)

    def _ticker(self) -> None:
        while not self._stop.wait(self.tick):
            self._refresh()

    def start(self, index: int) -> None:
        """Notebook ``index`` starts now."""
        self.current, self.started = index, time.perf_counter()
        self._refresh()

    def done(self, line: str) -> None:
        """The current notebook finished: print ``line`` above the bar and advance."""
        self.bar.write(line, file=self.file)
        self.current += 1
        self.started = time.perf_counter()
        self.bar.update(1)
        self._refresh()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.bar.close()


def notebook_line(run, previous: float | None) -> str:
    """``01_modal_imbalance: ok in 23.4 s, peak memory 1.52 GB (previous run 25.1 s)`` for the console (the peak
    PSS of the process tree, `vlr_viz.resources`)."""
    text = f"{run.name}: {run.status} in {format_seconds(run.seconds)}, peak memory {format_bytes(run.peak_pss)}"
    return text + (f" (previous run {format_seconds(previous)})" if previous is not None else "")


def load_average() -> tuple[float, float, float] | None:
    """The 1, 5 and 15 minute load averages (``None`` where the platform has none)."""
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return None


def format_load(load: tuple[float, float, float] | None) -> str:
    return "n/a" if load is None else " ".join(f"{x:.2f}" for x in load)


def timing_table(runs, load_before=None, load_after=None, total_seconds: float | None = None) -> str:
    """The console summary: one line per notebook (status, wall time, peak memory of the process tree as PSS and
    as summed RSS, `vlr_viz.resources`), the total and the machine's load average before and after."""
    width = max([len(r.name) for r in runs] + [len("notebook")])
    lines = [f"{'notebook':<{width}}  status  {'wall time':>9}  {'peak memory':>11}  {'summed RSS':>10}"]
    for r in runs:
        lines.append(f"{r.name:<{width}}  {r.status:<6}  {format_seconds(r.seconds):>9}  "
                     f"{format_bytes(r.peak_pss):>11}  {format_bytes(r.peak_rss):>10}")
    total = sum(r.seconds for r in runs) if total_seconds is None else total_seconds
    pss, rss = (max((getattr(r, k) for r in runs), default=0) for k in ("peak_pss", "peak_rss"))
    lines.append(f"{'total':<{width}}  {'':<6}  {format_seconds(total):>9}  {format_bytes(pss):>11}  "
                 f"{format_bytes(rss):>10} (largest)")
    lines.append(MEMORY_NOTE + f"; load average {format_load(load_before)} before, {format_load(load_after)} after")
    return "\n".join(lines)

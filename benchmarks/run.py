"""Run every benchmark and regenerate benchmarks/RESULTS.md.

    python benchmarks/run.py            # the full set (< 30 min on 2 cores)
    python benchmarks/run.py --quick    # a smoke run (< 3 min); what CI runs

Each benchmark script that exists (bench_tabular.py, bench_cost.py, bench_peers.py,
bench_hyperband.py, bench_budget.py, bench_tracking.py, bench_distributed.py,
bench_jobs.py, study.py, study_budget.py)
runs as a subprocess with `--out DIR` (and `--quick`), and writes its JSON there.
This script then renders one markdown file from every JSON in DIR: benchmarks/RESULTS.md
(tables, plots, machine and date), and the same text with links from the repository root
(DIR/README_section.md) for the README. With the markers
`<!-- benchmarks:start -->` and `<!-- benchmarks:end -->` in README.md, a
full run also replaces what lies between them.

The full run writes to benchmarks/results/ (committed) and copies its plots
to docs/benchmark-*.png; `--quick` writes everything to a temporary
directory, so CI never dirties the committed results. The exit
status is 0 when every benchmark ran, 1 when one crashed or hung; timings
never fail it.

A benchmark's JSON may hold `markdown` (its own section; `@@OUT@@/` stands
for the results directory in image links), `title`, and `plots`; without
`markdown`, its `rows` (a list of flat dicts) render as a table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCHMARKS_DIR.parent
RESULTS_DIR = BENCHMARKS_DIR / "results"
RESULTS_MD = BENCHMARKS_DIR / "RESULTS.md"
README = REPO_DIR / "README.md"
START_MARKER = "<!-- benchmarks:start -->"
END_MARKER = "<!-- benchmarks:end -->"

# In the order they run (cheapest first, so a quick run fails fast).
SCRIPTS = (
    "bench_tabular.py",
    "bench_cost.py",
    "bench_peers.py",
    "bench_hyperband.py",
    "bench_budget.py",
    "bench_tracking.py",
    "bench_distributed.py",
    "bench_jobs.py",
    "study.py",
    "study_budget.py",
)
# A guard against a hung benchmark, not a timing check.
TIMEOUT_S = {"quick": 900, "full": 3600}
OUT_TOKEN = "@@OUT@@/"
PLOTS_DIR = REPO_DIR / "docs"
PLOT_PREFIX = "benchmark-"


def _log(message: str) -> None:
    print(f"[run.py {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_script(script: Path, out: Path, quick: bool) -> dict[str, Any]:
    command = [sys.executable, str(script), "--out", str(out)]
    if quick:
        command.append("--quick")
    environment = dict(
        os.environ,
        MLFLOW_DISABLE_TELEMETRY="true",
        TF_CPP_MIN_LOG_LEVEL="3",
        LRDECAY_BENCH_OUT=str(out),
    )
    _log(f"running {' '.join(Path(part).name for part in command[1:2])} ...")
    started = time.perf_counter()
    # Logs stay out of the committed results.
    log_dir = (
        Path(tempfile.gettempdir()) / "lrdecay-benchmarks-logs"
        if out == RESULTS_DIR
        else out
    )
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{script.stem}.log"
    with open(log_path, "w") as log_file:
        try:
            completed = subprocess.run(
                command,
                cwd=REPO_DIR,
                env=environment,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                timeout=TIMEOUT_S["quick" if quick else "full"],
                check=False,
            )
            status = (
                "ok" if completed.returncode == 0 else f"exit {completed.returncode}"
            )
        except subprocess.TimeoutExpired:
            status = "timed out"
    elapsed = time.perf_counter() - started
    _log(f"{script.name}: {status} in {elapsed:.0f} s (log: {log_path})")
    if status != "ok":
        tail = log_path.read_text(errors="replace").splitlines()[-25:]
        print("\n".join(f"    {line}" for line in tail), flush=True)
    return {"script": script.name, "status": status, "wall_time_s": elapsed}


# -- rendering -------------------------------------------------------------------


def _format(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_format(item) for item in value)
    if value is None:
        return ""
    return str(value).replace("|", "\\|")


def table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    if not rows:
        return "_(no rows)_\n"
    columns = columns or [
        key
        for key in rows[0]
        if not isinstance(rows[0][key], (dict, list)) or key == "command"
    ]
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_format(row.get(key)) for key in columns) + " |")
    return "\n".join(lines) + "\n"


def _section(name: str, payload: dict[str, Any]) -> str:
    title = payload.get("title") or name
    if "markdown" in payload:
        text = str(payload["markdown"])
        return text if text.lstrip().startswith("#") else f"### {title}\n\n{text}"
    parts = [f"### {title}\n"]
    if isinstance(payload.get("rows"), list):
        parts.append(table(payload["rows"]))
    for plot in payload.get("plots", []) or []:
        parts.append(f"![{Path(plot).stem}]({OUT_TOKEN}{Path(plot).name})\n")
    if len(parts) == 1:
        summary = {
            key: value
            for key, value in payload.items()
            if not isinstance(value, (dict, list))
        }
        parts.append("```json\n" + json.dumps(summary, indent=1) + "\n```\n")
    return "\n".join(parts)


def _machine_line(payloads: dict[str, dict[str, Any]]) -> str:
    for payload in payloads.values():
        machine = payload.get("machine")
        if isinstance(machine, dict):
            load = machine.get("load_average")
            load_text = (
                f", load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
                " (1/5/15 min) when it started"
                if isinstance(load, list) and len(load) == 3
                else ""
            )
            get = machine.get
            return (
                f"Measured {get('date', '?')} on {get('processor', '?')}"
                f" ({get('cpus', '?')} CPUs, {get('memory_gib', '?')} GiB,"
                f" no GPU), Python {get('python', '?')}{load_text}."
            )
    return ""


def render(out: Path, runs: list[dict[str, Any]], quick: bool) -> str:
    payloads: dict[str, dict[str, Any]] = {}
    for path in sorted(out.glob("*.json")):
        if path.name == "run.json":
            continue
        try:
            payloads[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            payloads[path.stem] = {"error": f"unreadable JSON: {error}"}
    order = {"cost": 0, "peers": 1, "tracking": 2, "distributed": 3, "study": 4,
             "study_budget": 5}  # fmt: skip
    names = sorted(payloads, key=lambda name: (order.get(name, 9), name))
    header = [
        "## Benchmarks",
        "",
        "_Generated by `python benchmarks/run.py`"
        + (
            " --quick (a smoke run: tiny budgets, figures not meaningful)"
            if quick
            else ""
        )
        + "; do not edit by hand._",
        "",
        _machine_line(payloads),
        "",
    ]
    body = [_section(name, payloads[name]) for name in names]
    footer = ["### How long the benchmarks took", ""]
    footer.append(
        table(
            [
                {
                    "script": run["script"],
                    "status": run["status"],
                    "wall time (s)": run["wall_time_s"],
                }
                for run in runs
            ]
            + [
                {
                    "script": "total",
                    "status": "",
                    "wall time (s)": sum(run["wall_time_s"] for run in runs),
                }
            ]
        )
    )
    sections = [*body, "\n".join(footer)]
    return (
        "\n".join(header) + "\n" + "\n\n".join(part.strip() for part in sections) + "\n"
    )


def _with_links(text: str, prefix: str, plot_prefix: str | None = None) -> str:
    """Point `@@OUT@@/` links at `prefix`; PNGs at `plot_prefix` when given."""
    if plot_prefix is not None:
        text = re.sub(
            re.escape(OUT_TOKEN) + r"([\w.-]+\.png)",
            lambda match: f"{plot_prefix}{PLOT_PREFIX}{match.group(1)}",
            text,
        )
    return text.replace(OUT_TOKEN, prefix)


def publish_plots(out: Path) -> list[Path]:
    """Copy the PNGs of a full run to docs/ (the only PNGs git keeps)."""
    PLOTS_DIR.mkdir(exist_ok=True)
    published = []
    for plot in sorted(out.glob("*.png")):
        target = PLOTS_DIR / f"{PLOT_PREFIX}{plot.name}"
        shutil.copyfile(plot, target)
        published.append(target)
    return published


def update_readme(section: str, readme: Path = README) -> bool:
    """Replace the README's text between the benchmark markers; False if none."""
    if not readme.exists():
        return False
    text = readme.read_text()
    pattern = re.compile(
        re.escape(START_MARKER) + r".*?" + re.escape(END_MARKER), re.DOTALL
    )
    if not pattern.search(text):
        return False
    replacement = f"{START_MARKER}\n{section.strip()}\n{END_MARKER}"
    readme.write_text(pattern.sub(lambda _: replacement, text, count=1))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run lrdecay's benchmarks and regenerate benchmarks/RESULTS.md."
    )
    parser.add_argument("--quick", action="store_true", help="smoke run (< 3 min)")
    parser.add_argument(
        "--only", nargs="+", metavar="SCRIPT", help="run only these (e.g. study.py)"
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="do not run anything; re-render RESULTS.md from the JSON in --out",
    )
    parser.add_argument("--out", help="results directory (default: see above)")
    parser.add_argument(
        "--no-readme", action="store_true", help="leave README.md alone"
    )
    args = parser.parse_args(argv)

    if args.out:
        out = Path(args.out).resolve()
    elif args.quick:
        out = Path(tempfile.gettempdir()) / "lrdecay-benchmarks-quick"
    else:
        out = RESULTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    runs: list[dict[str, Any]] = []
    run_record = out / "run.json"
    if args.render_only:
        if run_record.exists():
            runs = json.loads(run_record.read_text()).get("runs", [])
    else:
        wanted = set(args.only or SCRIPTS)
        unknown = wanted - set(SCRIPTS)
        if unknown:
            print(
                f"run.py: unknown benchmark {sorted(unknown)}; choose from {SCRIPTS}",
                file=sys.stderr,
            )
            return 2
        previous: dict[str, dict[str, Any]] = {}
        if run_record.exists() and args.only:
            previous = {
                run["script"]: run
                for run in json.loads(run_record.read_text()).get("runs", [])
            }
        for name in SCRIPTS:
            script = BENCHMARKS_DIR / name
            if name not in wanted:
                if name in previous:
                    runs.append(previous[name])
                continue
            if not script.exists():
                _log(f"{name}: not present, skipped")
                continue
            runs.append(run_script(script, out, args.quick))
        run_record.write_text(json.dumps({"quick": args.quick, "runs": runs}, indent=2))

    text = render(out, runs, args.quick)
    full_run = not args.quick and out == RESULTS_DIR
    if full_run:
        # Committed results: the plots go to docs/ (.gitignore keeps only
        # docs/*.png), the markdown to benchmarks/RESULTS.md.
        publish_plots(out)
        results_md = RESULTS_MD
        local_text = _with_links(
            text,
            os.path.relpath(out, BENCHMARKS_DIR) + "/",
            os.path.relpath(PLOTS_DIR, BENCHMARKS_DIR) + "/",
        )
        readme_text = _with_links(
            text,
            os.path.relpath(out, REPO_DIR) + "/",
            os.path.relpath(PLOTS_DIR, REPO_DIR) + "/",
        )
    else:
        results_md = out / "RESULTS.md"
        local_text = _with_links(text, "")
        readme_text = local_text
    results_md.write_text(local_text)
    (out / "README_section.md").write_text(readme_text)
    _log(f"wrote {results_md} and {out / 'README_section.md'}")
    if full_run and not args.no_readme and update_readme(readme_text):
        _log("updated the benchmarks section of README.md")

    failed = [run["script"] for run in runs if run["status"] != "ok"]
    _log(
        f"done in {time.perf_counter() - started:.0f} s; "
        + (f"FAILED: {', '.join(failed)}" if failed else "every benchmark ran")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Does the product read well and start fast? The codebase's own figures, from any checkout.

    python -m benchmarks.codebase.run                       # this checkout
    python -m benchmarks.codebase.run --root /tmp/old --name before --python /tmp/old/.venv/bin/python

Measures, for the checkout at ``--root``:
- the README's size, and the guide's pages in ``docs/`` outside the reference;
- every function in ``src/whyrec`` longer than 60 and 100 lines (decorators to last line);
- ``# fmt: skip`` markers in ``src/``, and names of benchmark runs in ``src/`` (``Table 1``, data set runs);
- docstrings in ``src/`` that quote a measured value (a number with a unit of time or a speed-up);
- the command line's start: ``whyrec --help``, ``whyrec train --help`` and an argument error, each the
  median of ``--repeat`` fresh processes, and whether ``python -X importtime -m whyrec --help`` imports torch;
- the subjects of the commits since ``--since`` (their length).

Writes ``results/codebase_NAME.json``. Run it on a quiet machine: the start-up times are wall-clock.
"""

from __future__ import annotations

import argparse
import ast
import re
import statistics
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, results_dir
from benchmarks.provenance import write_result

RESULTS = results_dir("codebase")
BENCHMARK_NAMES = ("Table 1", "ml-1m-half", "frontier", "softmax_floor", "tuning_budget", "restore_stud")
# a measured value: a time ("221 s", "15.7 ms"), a speed-up ("1.7x"), a profile, or a named benchmark run
MEASURED = re.compile(r"\b\d+(\.\d+)?\s?(ms|s|µs)\b|\b\d+(\.\d+)?x\b|\bprofiled\b|ml-1m-half|Table 1")


def functions(root: Path) -> list[dict[str, Any]]:
    """Every function and method in ``src/whyrec``: file, name and length in lines (decorators included)."""
    out = []
    for path in sorted((root / "src" / "whyrec").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                length = (node.end_lineno or node.lineno) - first + 1
                out.append({"file": str(path.relative_to(root)), "name": node.name, "lines": length})
    return out


def measured_docstrings(root: Path) -> list[dict[str, str]]:
    """Docstrings in ``src/whyrec`` that quote a measured value, with the phrase that does."""
    found = []
    for path in sorted((root / "src" / "whyrec").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                text = ast.get_docstring(node) or ""
                match = MEASURED.search(text)
                if match:
                    name = getattr(node, "name", path.stem)
                    found.append({"file": str(path.relative_to(root)), "name": name, "phrase": match.group(0)})
    return found


def source_counts(root: Path) -> dict[str, Any]:
    """fmt-skip markers and benchmark names in ``src/``."""
    texts = {p: p.read_text(encoding="utf-8") for p in (root / "src" / "whyrec").rglob("*.py")}
    names = {n: sum(t.count(n) for t in texts.values()) for n in BENCHMARK_NAMES}
    return {"fmt_skip": sum(t.count("# fmt: skip") for t in texts.values()), "benchmark_names": names}


def timed_runs(command: Sequence[str], repeat: int, root: Path) -> dict[str, Any]:
    """Median wall time of `command` over `repeat` fresh processes (after one warm-up run)."""
    subprocess.run(command, cwd=root, capture_output=True, check=False)
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, cwd=root, capture_output=True, check=False)
        seconds.append(time.perf_counter() - start)
    return {"command": " ".join(command), "median_s": statistics.median(seconds), "runs_s": seconds}


def imports_torch(python: str, root: Path) -> bool:
    """Whether ``python -X importtime -m whyrec --help`` imports torch."""
    done = subprocess.run(
        [python, "-X", "importtime", "-m", "whyrec", "--help"], cwd=root, capture_output=True, text=True, check=False
    )
    return any(line.split("|")[-1].strip().split(".")[0] == "torch" for line in done.stderr.splitlines())


def commit_subjects(root: Path, since: str | None) -> dict[str, Any]:
    """The lengths of the commit subjects after `since` (all commits when None)."""
    span = [f"{since}..HEAD"] if since else []
    done = subprocess.run(["git", "log", "--format=%s", *span], cwd=root, capture_output=True, text=True, check=True)
    lengths = [len(line) for line in done.stdout.splitlines()]
    if not lengths:
        return {"commits": 0}
    return {"commits": len(lengths), "median": statistics.median(lengths), "max": max(lengths)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure")
    parser.add_argument("--python", help="its interpreter (default: ROOT/.venv/bin/python)")
    parser.add_argument("--name", default="now", help="name in the result file")
    parser.add_argument("--since", help="count commit subjects after this revision")
    parser.add_argument("--repeat", type=int, default=7, help="fresh processes per start-up timing")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    python = args.python or str(root / ".venv" / "bin" / "python")
    whyrec = [python, "-m", "whyrec"]
    found = functions(root)
    guide = [p for p in (root / "docs").rglob("*.md") if "reference" not in p.parts]
    results = {
        "readme_bytes": (root / "README.md").stat().st_size,
        "guide_pages": len(guide),
        "functions": len(found),
        "functions_over_60_lines": sorted((f for f in found if f["lines"] > 60), key=lambda f: -f["lines"]),
        "functions_over_100_lines": sum(f["lines"] > 100 for f in found),
        "measured_docstrings": measured_docstrings(root),
        **source_counts(root),
        "cli": {
            "help": timed_runs([*whyrec, "--help"], args.repeat, root),
            "train_help": timed_runs([*whyrec, "train", "--help"], args.repeat, root),
            "argument_error": timed_runs([*whyrec, "train", "--no-such-option"], args.repeat, root),
            "help_imports_torch": imports_torch(python, root),
        },
        "commit_subjects": commit_subjects(root, args.since),
    }
    revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    path = write_result(
        RESULTS / f"codebase_{args.name}.json",
        data=str(root),
        seed=None,
        results=results,
        measured_revision=revision.stdout.strip(),
    )
    cli = results["cli"]
    print(
        f"README {results['readme_bytes']:,} B; {results['guide_pages']} guide pages; "
        f"{len(results['functions_over_60_lines'])} functions over 60 lines, "
        f"{results['functions_over_100_lines']} over 100; {results['fmt_skip']} fmt: skip; "
        f"{len(results['measured_docstrings'])} docstrings quote measurements; "
        f"whyrec --help {cli['help']['median_s']:.2f} s (torch imported: {cli['help_imports_torch']})"
    )
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()

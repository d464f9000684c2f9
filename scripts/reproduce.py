"""Reproduce both documents: every experiment, its figures, and a claim-by-claim report.

A loop over ``jaxnet.experiments.REGISTRY``: each experiment at ``--quick`` scale (a few
minutes on a 2-core CPU; OUT defaults to figures/quick/) or ``--full`` scale (the
documents' trial counts and more; OUT defaults to figures/), its results and figures
under ``OUT/<experiment>/``, then ``OUT/REPORT.md``: one row per claim (``jaxnet.claims``)
with the documents' statement, the measured value with its uncertainty and trial
count, the scale, a computed verdict and the figure.

Finished experiments are reused: ``OUT/<experiment>/cache.json`` holds the fingerprint
of the experiment's config (scale included), the fingerprint of the jaxnet sources it
was computed (or last audited) with (``jaxnet.runtime.io.source_fingerprint``) and the SHA-256
of its results. A changed config, a missing record or a file that no longer matches
its hash reruns the experiment, which itself resumes from its checkpoints; changed code
reruns it unless its audit passes. ``--force`` reruns everything. A failing experiment
is reported with its traceback and the others still run.

``--audit`` computes nothing new: for every experiment of OUT (default figures/) it
recomputes ``--audit-trials`` random stored trials of every cell of every part and
re-derives its results and arrays (``jaxnet.audit``), then re-derives REPORT.md from the
results files and compares it with the file. One line per experiment; exit status 0
only if everything matches.

Example:
  python scripts/reproduce.py --quick
  python scripts/reproduce.py --audit
"""

from __future__ import annotations

import _runtime  # noqa: E402  (scripts/ is on sys.path when a script runs)

_runtime.configure()

import argparse  # noqa: E402
import sys
import time
import traceback
from pathlib import Path

from jaxnet import claims, runtime  # noqa: E402
from jaxnet.experiments import REGISTRY, module  # noqa: E402
from jaxnet.runtime import io, plugins  # noqa: E402

DESCRIPTION = __doc__.split("\n\n")[0]


def parse_args(argv):
    plugins.preparse(argv)  # their experiments join --only's choices
    p = argparse.ArgumentParser(description=DESCRIPTION)
    plugins.add_argument(p)
    scale = p.add_mutually_exclusive_group()
    scale.add_argument("--quick", dest="scale", action="store_const", const="quick")
    scale.add_argument("--full", dest="scale", action="store_const", const="full")
    p.add_argument(
        "--out",
        default=None,
        help="default: figures/ for --full, figures/quick/ for --quick",
    )
    p.add_argument(
        "--only",
        nargs="+",
        default=None,
        choices=sorted(REGISTRY),
        help="run only these experiments (the report covers what exists)",
    )
    p.add_argument("--force", action="store_true", help="ignore cached results")
    p.add_argument(
        "--report",
        action="store_true",
        help="only rewrite OUT/REPORT.md from the results files there",
    )
    p.add_argument(
        "--docs",
        action="store_true",
        help="only rewrite docs/experiments/<module>.md from the experiment modules "
        "and the full-scale results in OUT (default OUT: figures/)",
    )
    p.add_argument(
        "--audit",
        action="store_true",
        help="recompute a sample of every stored experiment's trials and "
        "re-derive its results and REPORT.md (default OUT: figures/)",
    )
    p.add_argument(
        "--audit-trials",
        type=int,
        default=1,
        metavar="K",
        help="--audit: trials recomputed per cell of every part (default 1)",
    )
    p.add_argument(
        "--audit-parts",
        type=int,
        default=6,
        metavar="P",
        help="--audit: recompute trials of at most P random parts per experiment "
        "(every part's identity is checked and every stored output re-derives the "
        "results regardless; 0: all parts; default 6)",
    )
    p.add_argument(
        "--audit-seed",
        type=int,
        default=0,
        help="--audit: seed of the trial sample (default 0)",
    )
    a = p.parse_args(argv)
    if a.audit_trials < 1:
        p.error(f"--audit-trials must be a positive integer; got {a.audit_trials}")
    if a.audit_parts < 0:
        p.error(f"--audit-parts must be a non-negative integer; got {a.audit_parts}")
    if a.audit_seed < 0:
        p.error(f"--audit-seed must be a non-negative integer; got {a.audit_seed}")
    a.scale = a.scale or ("full" if a.audit or a.report or a.docs else "quick")
    a.out = a.out or ("figures" if a.scale == "full" else "figures/quick")
    return a


def _load_code() -> None:
    """Import every jaxnet module and fingerprint the sources now, before anything
    runs: a long run computes with, and records (``io.provenance``), the code it
    started with. (Spawned host-pool workers import from disk: run long jobs from a
    checkout that does not change under them, such as a ``git worktree``.)"""
    import importlib
    import pkgutil

    import jaxnet

    for info in pkgutil.walk_packages(jaxnet.__path__, "jaxnet."):
        importlib.import_module(info.name)
    io.provenance()


def _options(name: str, out: Path) -> runtime.Options:
    return runtime.Options(out=str(out / name), progress=False)


# Runner options an experiment's command line gained after results were recorded
# (gradient_descent's multi-process flags). This script runs every experiment with
# their defaults (one process), so a record without them is the same config.
ADDED_OPTIONS = ("coordinator", "num_processes", "process_id")


def _cache(name: str, scale: str, out: Path) -> io.ResultsCache | None:
    entry = REGISTRY[name]
    config = entry.config(scale)
    if config is None:
        return None
    record = runtime.config_dict(module(entry.module), config, _options(name, out))
    key = lambda rec: {  # noqa: E731
        "config": {**rec, "out": None},
        "experiment": entry.module,
        "scale": scale,
    }
    older = {k: v for k, v in record.items() if k not in ADDED_OPTIONS}
    return io.ResultsCache(
        out / name,
        key(record),
        code=io.provenance()["source_fingerprint"],
        same_as=[key(older)] if older != record else [],
    )


def _audit_one(name: str, out: Path, a) -> bool:
    """Audit ``out/name``; print its line; True if it matches."""
    from jaxnet import audit

    try:
        res = audit.audit_run(
            out / name,
            per_cell=a.audit_trials,
            seed=a.audit_seed,
            max_parts=a.audit_parts,
        )
    except audit.AuditError as err:
        print(f"[audit] {name}: CANNOT AUDIT: {err}", flush=True)
        return False
    except Exception:  # a crash in the audit is a failure of that experiment only
        traceback.print_exc()
        print(f"[audit] {name}: ERROR while auditing (traceback above)", flush=True)
        return False
    print(res.line(), flush=True)
    return res.ok


def run_experiments(a, out: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    status = {}
    for name in a.only or REGISTRY:
        entry, cache = REGISTRY[name], _cache(name, a.scale, out)
        if cache is None:
            status[name] = "not run at this scale"
            continue
        if not a.force and cache.valid():
            if cache.same_code():
                status[name] = "cached"
                print(f"[reproduce] {name}: reusing finished results", flush=True)
                continue
            print(
                f"[reproduce] {name}: the code changed since it was computed; "
                "auditing it",
                flush=True,
            )
            if _audit_one(name, out, a):
                cache.commit()  # audited at today's code
                status[name] = "cached (audit passed)"
                continue
        config = entry.config(a.scale)
        print(f"[reproduce] {name}: {entry.module} {config}", flush=True)
        cache.invalidate()
        t0 = time.perf_counter()
        try:
            result = runtime.run(module(entry.module), config, _options(name, out))
        except Exception:  # a failed experiment is reported; the others still run
            traceback.print_exc()
            status[name] = "FAILED"
            print(f"[reproduce] {name}: FAILED", flush=True)
            continue
        print(module(entry.module).report(result.results), flush=True)
        cache.commit()
        status[name] = f"ran in {time.perf_counter() - t0:.0f} s"
    return status


def _computed_at(res: dict) -> str:
    """Where a result comes from: commit, tree state, date and wall time."""
    prov, meta = res.get("provenance") or {}, res.get("metadata") or {}
    commit = prov.get("commit") or meta.get("git_commit")
    text = f"commit {commit[:10]}" if commit else "no commit recorded"
    if prov.get("dirty"):
        text += " (uncommitted changes)"
    if not prov:
        text += " (before provenance was recorded: not auditable)"
    if meta.get("finished_at"):
        text += f", {meta['finished_at'][:10]}"
    if meta.get("wall_time_s") is not None:
        text += f", {meta['wall_time_s']:.0f} s"
    return (
        text
        + f" on {meta.get('device_count', '?')} {meta.get('backend', '?')} device(s)"
    )


def report_text(out: Path, scale: str) -> str:
    """REPORT.md, derived from the results files in ``out`` alone."""
    loaded = {}
    for name in REGISTRY:
        cache = _cache(name, scale, out)
        loaded[name] = cache.load() if cache is not None and cache.valid() else None
    rows = [row for claim in claims.ALL for row in claim(loaded)]
    lines = [
        "# jaxnet: claims of the two documents, checked",
        "",
        f"Scale: `--{scale}`. Generated by `python scripts/reproduce.py --{scale}`; every "
        "number below is read from the `results.json` beside its figure (config, seed, "
        "versions and devices are recorded there). Intervals are 95% Wilson intervals "
        "unless stated. `python scripts/reproduce.py --audit` recomputes a sample of "
        "the stored trials and re-derives this file.",
        "",
        "| claim | documents | jaxnet (measured) | trials | verdict | figure |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for claim, doc, measured, trials, verdict, fig in rows:
        link = f"[{Path(fig).name}]({fig})" if fig and (out / fig).exists() else fig
        cells = [claim, doc, measured, trials, f"**{verdict}**", link]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    lines += ["", "## Experiments: the code each was computed with", ""]
    lines += [
        f"- `{name}`: "
        + (_computed_at(loaded[name]) if loaded[name] is not None else "not run")
        for name in REGISTRY
    ]
    return "\n".join(lines) + "\n"


TOPICS = {  # the narrative page of each experiment's family
    "full_rank": "figure4.md",
    "threshold": "threshold_law.md",
    "threshold_1d": "threshold_law.md",
    "global_minima": "regions.md",
    "region_rank": "regions.md",
    "binary_singularity": "regions.md",
    "region_figures": "regions.md",
    "condensation": "teacher_student.md",
    "condensation_sweep": "teacher_student.md",
    "minnorm_phase": "teacher_student.md",
    "deep_rank": "further_topics.md",
    "gradient_descent": "further_topics.md",
    "init_regions": "further_topics.md",
}
DOCS_DIR = Path(__file__).parents[1] / "docs" / "experiments"


def _example(mod) -> str:
    """The ``Example:`` block of the module's notebook call (its doctest), dedented."""
    import inspect
    import textwrap

    for _, fn in inspect.getmembers(mod, inspect.isfunction):
        doc = fn.__doc__ or ""
        if fn.__module__ == mod.__name__ and "Example" in doc and ">>>" in doc:
            block = doc.split("Example", 1)[1].split("\n", 1)[1]
            lines = []
            for line in block.splitlines():
                if not line.strip():
                    break
                lines.append(line)
            return textwrap.dedent("\n".join(lines))
    return ""


def _table(header, rows) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    out += ["| " + " | ".join(str(c).replace("|", "/") for c in r) + " |" for r in rows]
    return out


def docs_pages(out: Path) -> dict[str, str]:
    """``{file name: text}`` of ``docs/experiments/``: one page per experiment module,
    derived from the module (what it computes, its notebook call and command line),
    the registry (its entries and their configs) and the full-scale results in
    ``out`` (the REPORT rows of its entries, their cost and commit)."""
    import inspect

    loaded = {}
    for name in REGISTRY:
        cache = _cache(name, "full", out)
        loaded[name] = cache.load() if cache is not None and cache.valid() else None
    rows = [row for claim in claims.ALL for row in claim(loaded)]
    pages = {}
    mods = dict.fromkeys(e.module for e in REGISTRY.values() if "." not in e.module)
    for mod_name in mods:
        mod = module(mod_name)
        entries = [n for n, e in REGISTRY.items() if e.module == mod_name]
        doc = inspect.getdoc(mod).split("\nLength (")[0].rstrip()
        lines = [
            f"# `{mod_name}`: {mod.SPEC.document}",
            "",
            "<!-- Generated by `python scripts/reproduce.py --docs` from "
            f"`jaxnet/experiments/{mod_name}.py`, the registry and `figures/`; "
            "tests/test_docs.py checks it is current. -->",
            "",
            "## What it computes",
            "",
            doc,
            "",
            f"More: [{TOPICS[mod_name]}](../topics/{TOPICS[mod_name]}).",
            "",
            "## How to run it",
            "",
            "In a notebook (these lines run as a doctest; their output is real):",
            "",
            "```python",
            _example(mod),
            "```",
            "",
            f"On the command line: `python -m jaxnet {mod_name} --help` "
            f"(or `scripts/{mod_name}.py`). In the registry "
            f"(`python scripts/reproduce.py --only NAME`):",
            "",
        ]
        cfg_rows = []
        for n in entries:
            e = REGISTRY[n]
            cfg_rows.append(
                [
                    f"`{n}`",
                    ", ".join(f"{k}={v}" for k, v in e.common.items()) or "defaults",
                    ", ".join(f"{k}={v}" for k, v in e.scales.get("quick", {}).items())
                    if "quick" in e.scales
                    else "not run",
                    ", ".join(f"{k}={v}" for k, v in e.scales.get("full", {}).items())
                    if "full" in e.scales
                    else "not run",
                ]
            )
        lines += _table(["entry", "config", "--quick", "--full"], cfg_rows)
        lines += ["", "## Expected results (`figures/`, full scale)", ""]
        mine = [r for r in rows if r[5] and r[5].split("/")[0] in entries]
        if mine:
            lines += _table(
                ["claim", "measured (95% intervals)", "trials", "verdict"],
                [[r[0], r[2], r[3], f"**{r[4]}**"] for r in mine],
            )
        else:
            lines.append("No REPORT row reads these results (figures only).")
        lines += ["", "## Cost", ""]
        cost = []
        for n in entries:
            res = loaded[n]
            cost.append([f"`{n}`", _computed_at(res) if res else "not computed"])
        lines += _table(["entry", "computed at (full scale)"], cost)
        lines += [
            "",
            "Times are whole runs on the machine named in each `results.json` (the "
            "committed ones: a 2-core CPU, shared with other work while they ran).",
        ]
        pages[f"{mod_name}.md"] = "\n".join(lines) + "\n"
    return pages


def write_docs(out: Path) -> list[Path]:
    DOCS_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in docs_pages(out).items():
        io.write_text(DOCS_DIR / name, text)
        written.append(DOCS_DIR / name)
    return written


def write_report(out: Path, scale: str) -> Path:
    path = out / "REPORT.md"
    io.write_text(path, report_text(out, scale))
    return path


def audit(a, out: Path) -> int:
    """``--audit``: every stored experiment of ``out`` and REPORT.md; 0 iff all match."""
    names = [n for n in (a.only or REGISTRY) if REGISTRY[n].config(a.scale) is not None]
    ok = True
    for name in names:
        if not (out / name / "results.json").exists():
            print(
                f"[audit] {name}: MISSING: no {out / name / 'results.json'}", flush=True
            )
            ok = False
            continue
        ok &= _audit_one(name, out, a)
    report = out / "REPORT.md"
    want = report_text(out, a.scale)
    have = report.read_text() if report.exists() else ""
    if want == have:
        print(f"[audit] {report}: OK (re-derived from the results files)")
    else:
        ok = False
        import difflib

        diff = [
            d
            for d in difflib.unified_diff(
                have.splitlines(), want.splitlines(), lineterm="", n=0
            )
            if d[:1] in "+-" and d[:3] not in ("+++", "---")
        ]
        print(
            f"[audit] {report}: MISMATCH: {len(diff)} lines differ from the "
            f"re-derived report; first: {diff[0][:200] if diff else ''}"
        )
    print(f"[audit] {'everything matches' if ok else 'FAILED'}")
    return 0 if ok else 1


def main(argv=None) -> int:
    a = parse_args(argv)
    try:
        out = io.check_writable_dir(a.out)
    except ValueError as err:
        print(f"reproduce.py: error: {err}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    _load_code()
    if a.report:
        print(f"[reproduce] wrote {write_report(out, a.scale)}")
        return 0
    if a.docs:
        for path in write_docs(out):
            print(f"[reproduce] wrote {path}")
        return 0
    if a.audit:
        status = audit(a, out)
        print(f"[audit] {time.perf_counter() - t0:.0f} s")
        return status
    status = run_experiments(a, out)
    path = write_report(out, a.scale)
    failed = [n for n, s in status.items() if s.startswith("FAILED")]
    for name, s in status.items():
        print(f"[reproduce] {name}: {s}")
    print(
        f"[reproduce] wrote {path} in {time.perf_counter() - t0:.0f} s"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

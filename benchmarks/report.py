"""Tables, result files and plots of a benchmark run."""

from __future__ import annotations

import json
import pathlib
from collections import defaultdict

from turbo.cli import format_seconds as fmt_time

from .suite import Result

SYSTEMS = ("turbo", "turbo-py", "numba", "numpy", "torch")  # turbo-py: the Numba loops under @turbo





def _cell(r: Result | None, turbo: Result | None, peak: float | None) -> str:
    if r is None:
        return "—"
    if r.seconds is None:
        return r.status.split(":")[0]
    if r.unit == "call":
        text = fmt_time(r.seconds)
    else:
        text = f"{r.rate:.2f}" + (" Ge/s" if r.unit == "elem" else "")
        if r.system == "turbo" and peak and r.unit == "flop":
            text += f" ({100 * r.rate / peak:.0f}%)"
    if r.system != "turbo" and turbo is not None and turbo.seconds is not None:
        text += f" [{r.seconds / turbo.seconds:.2f}x]"
    return text


def rows(results: list[Result]):
    grouped: dict[tuple, dict[str, Result]] = defaultdict(dict)
    for r in results:
        grouped[(r.kernel, r.dtype, r.n)][r.system] = r
    return grouped


def table(results: list[Result], peaks: dict[str, float]) -> str:
    """One line per kernel, dtype and size. Figures are GFLOP/s (G elements/s for
    `Ge/s`, time per call for call overhead); turbo's share of the measured peak in
    (); for peers, [turbo's speedup over that peer] = peer time / turbo time."""
    lines = ["| kernel | dtype | n | turbo | @turbo | numba | numpy | torch |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for (kernel, dtype, n), by_sys in rows(results).items():
        t = by_sys.get("turbo")
        cells = [_cell(by_sys.get(s), t, peaks.get(dtype)) for s in SYSTEMS]
        lines.append(f"| {kernel} | {dtype} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(results: list[Result], peaks: dict[str, float], dtype: str = "f32") -> str:
    """Per kernel, at the largest size run and at 16 (or the nearest): turbo's rate,
    % of peak, and speedup over each peer."""
    grouped = rows(results)
    by_kernel: dict[str, list[int]] = defaultdict(list)
    for (kernel, dt, n) in grouped:
        if dt == dtype:
            by_kernel[kernel].append(n)
    lines = [f"| kernel ({dtype}) | n | turbo | % peak | × NumPy | × Numba | × PyTorch |", "|---|---:|---:|---:|---:|---:|---:|"]
    for kernel, sizes in by_kernel.items():
        picks = sorted({min(sizes, key=lambda s: abs(s - 16)), max(sizes)})
        for n in picks:
            by_sys = grouped[(kernel, dtype, n)]
            t = by_sys.get("turbo")
            if t is None or t.seconds is None:
                lines.append(f"| {kernel} | {n} | {t.status if t else '—'} | | | | |")
                continue
            if t.unit == "call":
                rate, pct = fmt_time(t.seconds), ""
            else:
                rate = f"{t.rate:.2f}" + (" Ge/s" if t.unit == "elem" else " GF/s")
                pct = f"{100 * t.rate / peaks[dtype]:.0f}%" if t.unit == "flop" and peaks.get(dtype) else ""

            def speed(system, by_sys=by_sys, t=t):
                p = by_sys.get(system)
                if p is None:
                    return "—"
                if p.seconds is None:
                    return p.status.split(":")[0]
                return f"{p.seconds / t.seconds:.2f}"

            lines.append(f"| {kernel} | {n} | {rate} | {pct} | {speed('numpy')} | {speed('numba')} | {speed('torch')} |")
    return "\n".join(lines)


def write(outdir: pathlib.Path, name: str, meta: dict, results: list[Result], peaks: dict, latency: dict | None,
          pullbacks: list[dict] | None = None, parallel: dict | None = None) -> pathlib.Path:
    outdir.mkdir(parents=True, exist_ok=True)
    from .suite import result_dicts

    (outdir / f"{name}.json").write_text(json.dumps({"meta": meta, "peaks": peaks, "compile_latency": latency,
                                                      "pullbacks": pullbacks, "threads": parallel,
                                                      "results": result_dicts(results)}, indent=1))
    md = [f"# turbo benchmarks — {meta['cpu']}", "",
          f"{meta['date']}; {meta['threads']} thread(s); Python {meta['python']}, turbo {meta['turbo']}, "
          f"NumPy {meta['numpy']}, Numba {meta.get('numba', '—')}, PyTorch {meta.get('torch', '—')}; "
          f"target {meta['triple']} {meta['cpu']} ({meta['vector']})." + (" **--quick run: not for timing.**" if meta.get("quick") else ""),
          "", "## Measured peak", "",
          "Best turbo-compiled kernel of independent multiply-add chains held in registers (a mul and an add "
          "count 2 flops; the language has no fused multiply-add yet):", ""]
    for dt, p in peaks.items():
        md.append(f"- {dt}: {p:.1f} GFLOP/s per thread")
    if latency:
        runs = next((d["runs"] for d in latency.values() if "runs" in d), 1)
        md += ["", "## Compile latency (gemm f32 64×64, fresh process)", "",
               "`import` is the package alone (NumPy already loaded); `define` is `turbo.compile(source)` — "
               "parsing, plus the first import of Lark and llvmlite, which turbo loads lazily — or "
               "`numba.njit(f)`; `first call` compiles and runs. An empty cache also lacks Lark's analysed "
               "grammar (built once per machine, ~70 ms); \"grammar cached, no kernels\" is every later new "
               f"kernel. Median of {runs} fresh processes each, with Python's bytecode compiled as for an "
               "installed package.", "",
               "| system | import | define | first call | total |", "|---|---:|---:|---:|---:|"]
        for label, d in latency.items():
            if "error" in d:
                md.append(f"| {label} | error | | | |")
            else:
                total = d["import"] + d["define"] + d["first_call"]
                md.append(f"| {label} | {fmt_time(d['import'])} | {fmt_time(d['define'])} | "
                          f"{fmt_time(d['first_call'])} | {fmt_time(total)} |")
    if pullbacks:
        from .pullback import markdown

        md += markdown(pullbacks)
    if parallel:
        from .threads import markdown as threads_markdown

        md += threads_markdown(parallel)
    for dt in sorted({r.dtype for r in results}):
        md += ["", f"## Summary, {dt}", "", summary(results, peaks, dt)]
    md += ["", "## All results", "", table.__doc__.replace("\n    ", " ").strip(), "", table(results, peaks), ""]
    if meta.get("notes"):
        md += ["## Notes", ""] + [f"- {n}" for n in meta["notes"]] + [""]
    path = outdir / f"{name}.md"
    path.write_text("\n".join(md))
    return path


def plots(outdir: pathlib.Path, name: str, results: list[Result], peaks: dict) -> list[pathlib.Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    families = sorted({r.family for r in results if r.unit != "call"})
    for family in families:
        for dtype in sorted({r.dtype for r in results}):
            kernels = sorted({r.kernel for r in results if r.family == family and r.dtype == dtype})
            if not kernels:
                continue
            cols = min(3, len(kernels))
            nrows = (len(kernels) + cols - 1) // cols
            fig, axes = plt.subplots(nrows, cols, figsize=(5 * cols, 3.8 * nrows), squeeze=False)
            for ax, kernel in zip(axes.flat, kernels):
                unit = "GFLOP/s"
                for system in SYSTEMS:
                    pts = sorted((r.n, r.rate) for r in results if r.kernel == kernel and r.dtype == dtype
                                 and r.system == system and r.rate)
                    if pts:
                        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=system)
                    if any(r.unit == "elem" for r in results if r.kernel == kernel):
                        unit = "G elements/s"
                if unit == "GFLOP/s" and peaks.get(dtype):
                    ax.axhline(peaks[dtype], color="grey", ls="--", lw=0.8, label="measured peak")
                ax.set_xscale("log", base=2)
                ax.set_yscale("log")
                ax.set_title(f"{kernel} ({dtype})")
                ax.set_xlabel("n")
                ax.set_ylabel(unit)
                ax.grid(True, which="both", alpha=0.3)
                ax.legend(fontsize=7)
            for ax in list(axes.flat)[len(kernels):]:
                ax.axis("off")
            fig.tight_layout()
            path = outdir / f"{name}-{family}-{dtype}.png"
            fig.savefig(path, dpi=90)
            plt.close(fig)
            written.append(path)
    return written


def rerender(json_path: pathlib.Path, with_plots: bool = True) -> pathlib.Path:
    """Write the markdown (and plots) of a run again from its JSON, without re-timing."""
    data = json.loads(json_path.read_text())
    fields = set(Result.__dataclass_fields__)
    results = [Result(**{k: v for k, v in r.items() if k in fields}) for r in data["results"]]
    name = json_path.stem
    path = write(json_path.parent, name, data["meta"], results, data["peaks"], data.get("compile_latency"), data.get("pullbacks"),
                 data.get("threads"))
    if with_plots:
        plots(json_path.parent, name, results, data["peaks"])
    return path


if __name__ == "__main__":
    import sys

    for arg in sys.argv[1:]:
        print(rerender(pathlib.Path(arg)))

"""docs/benchmarks.md and its charts from a bench run's JSON (bench/run.py calls it)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

REFERENCE = "llama-server"
# metric, label, unit, higher is better
METRICS = [
    ("prefill_tps", "prefill (~480-token prompt)", "tok/s", True),
    ("decode_tps", "decode (128 tokens)", "tok/s", True),
    ("tiny_ms", "tiny request (n_predict=1, cached prompt)", "ms", False),
    ("stream_overhead_pct", "streamed vs unstreamed 128 tokens, extra wall time", "%", False),
    ("stream_overhead_cpu_pct", "streamed vs unstreamed 128 tokens, extra CPU time", "%", False),
    ("iterator_overhead_pct", "iterator vs unstreamed 128 tokens, extra wall time", "%", False),
    ("iterator_overhead_cpu_pct", "iterator vs unstreamed 128 tokens, extra CPU time", "%", False),
    ("async_overhead_pct", "asyncio vs unstreamed 128 tokens, extra wall time", "%", False),
    ("async_overhead_cpu_pct", "asyncio vs unstreamed 128 tokens, extra CPU time", "%", False),
    ("stream_tps_1", "1 stream of 128 tokens, asyncio where there is one", "tok/s", True),
    ("stream_tps_16", "16 concurrent streams, aggregate", "tok/s", True),
    ("aggregate_tps_1", "1 client, aggregate", "tok/s", True),
    ("aggregate_tps_2", "2 clients, aggregate", "tok/s", True),
    ("aggregate_tps_4", "4 clients, aggregate", "tok/s", True),
    ("aggregate_tps_8", "8 clients, aggregate", "tok/s", True),
    ("load_s", "model load", "s", False),
    ("peak_rss_mib", "peak RSS", "MiB", False),
    ("import_ms", "import xllamacpp (cumulative, -X importtime)", "ms", False),
]


def fmt(v) -> str:
    if v is None:
        return "–"
    return f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"


def _load(doc: dict) -> str:
    start, end = doc.get("load_at_start"), doc.get("load_at_end")
    if not start or not end:
        return ""
    return f", 1-minute load average {start[0]:.2f} at the start and {end[0]:.2f} at the end"


def write_report(doc: dict, out_dir: Path) -> None:
    med = doc["median"]
    names = list(med)
    ref = med.get(REFERENCE, {})
    lines = [
        "# Benchmarks",
        "",
        f"Measured {doc['date']} on {doc['machine']['cpu']} ({doc['machine']['cores']} cores), "
        f"Python {doc['machine']['python']}, `{doc['model']}`, {doc['threads']} threads, greedy, `ignore_eos`.",
        f"Command: `{doc['command']}` ({doc['duration_s']} s){_load(doc)}. Each figure is the median of {doc['reps']} "
        f"repetitions (30 for the tiny request, {doc['pairs']} alternating rounds for streaming), the systems "
        "interleaved, with a 0.2 s pause between them, so that machine noise hits all alike. `llama-server` is built from the same vendored "
        "llama.cpp with the same CMake flags (`cmake --build build/cpu --target llama-server`).",
        "Prefill and decode speeds are the server's own timings; concurrency runs N clients, each asking "
        "64 tokens, with `n_parallel = N`. The raw samples are in `benchmarks.json`.",
        "Streaming rows pair each streamed form with an unstreamed request, in an order that rotates from round "
        "to round; CPU time is the serving process's (all threads). Over HTTP the streamed form is a streaming "
        "client; in-process it is the callback, and for xllamacpp also `Server.stream_completions` (iterator) "
        "and `AsyncServer.stream_completions` (asyncio). Concurrent streams: on one asyncio loop where the "
        "package has it, else a thread each with a callback, or HTTP streaming clients.",
        "",
        "| metric | " + " | ".join(names) + " |",
        "| --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for key, label, unit, _ in METRICS:
        row = [f"{label} ({unit})"]
        for n in names:
            v = med[n].get(key)
            cell = fmt(v)
            r = ref.get(key)
            if v is not None and r not in (None, 0) and n != REFERENCE and unit != "%":
                cell += f" ({v / r:.2f}×)"
            row.append(cell)
        lines.append("| " + " | ".join(row) + " |")
    for name, failed in doc.get("errors", {}).items():
        for workload, message in failed.items():
            lines.append(f"\n{name} failed the {workload} workload, left out of it: `{message}`")
    lines += ["", "Ratios (×) are to llama-server; for tok/s higher is better, for times lower is better.",
              "", "![single stream](bench_single.png)", "", "![concurrency](bench_concurrency.png)", ""]
    # sections that bench/backends.py wrote stay, after this run's figures
    old = out_dir / "benchmarks.md"
    kept = old.read_text() if old.exists() else ""
    marker = "<!-- bench/backends.py: "
    if marker in kept:
        lines += [kept[kept.index(marker):].rstrip("\n"), ""]
    old.write_text("\n".join(lines))
    _charts(doc, out_dir)


def _charts(doc: dict, out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    med = doc["median"]
    names = list(med)
    fig, ax = plt.subplots(figsize=(8, 4))
    keys = [("prefill_tps", "prefill"), ("decode_tps", "decode")]
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        vals = [med[n].get(k) or 0 for k, _ in keys]
        ax.bar([x + i * width for x in range(len(keys))], vals, width, label=n)
    ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(keys))], [label for _, label in keys])
    ax.set_ylabel("tokens / s")
    ax.set_title("Single stream, gemma3 270M Q4_K_M, 2 threads")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "bench_single.png", dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    levels = [1, 2, 4, 8]
    for n in names:
        ys = [med[n].get(f"aggregate_tps_{c}") for c in levels]
        if any(y is not None for y in ys):
            ax.plot(levels, ys, marker="o", label=n)
    ax.set_xscale("log", base=2)
    ax.set_xticks(levels, [str(c) for c in levels])
    ax.set_xlabel("concurrent clients (n_parallel = clients)")
    ax.set_ylabel("aggregate generated tokens / s")
    ax.set_title("Continuous batching")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "bench_concurrency.png", dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    write_report(json.loads((root / "docs" / "benchmarks.json").read_text()), root / "docs")
    sys.exit(0)

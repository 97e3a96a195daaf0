"""xllamacpp's reliability suite (`make stress`): bad inputs, load, lifecycle, close, API keys.

Every case runs in a child process (stress/child.py via stress/supervise.py), so
an abort or a segfault is counted as a crash and a stuck call as a hang, and the
run goes on. Prints a table and writes it, with the machine and the command, to
docs/reliability.md.

    .venv/bin/python stress/run.py [--quick] [--only bad_inputs,load,...] [--no-doc]

Exit status 0 when the run meets the bar: no crash, no hang, no 5xx for a client
mistake, no error under load, RSS growth under 20 MB over 30 cycles, close()
under 2 s with everything in flight.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from supervise import run_cases  # noqa: E402

REFUSED_EXCEPTIONS = {"exception:InvalidArgumentError", "exception:InvalidTypeError"}


def classify(value: str) -> str:
    """The outcome class of one transport's answer to a bad input."""
    if value.startswith("exception:"):
        return "refused (exception)" if value in REFUSED_EXCEPTIONS else "unexpected exception"
    if value.startswith("http-error:"):
        return "connection error"
    if value.isdigit():
        code = int(value)
        if 200 <= code < 300:
            return "accepted (2xx)"
        if code == 501:
            return "not supported (501)"
        if 400 <= code < 500:
            return "refused (4xx)"
        return "5xx"
    return value


def bad_inputs(quick: bool, match: str = "") -> dict:
    import bad_inputs as bi

    cases = bi.request_cases() + bi.callback_cases()
    if match:
        cases = [c for c in cases if match in c["id"]]
    if quick:
        cases = cases[::7]
    print(f"bad inputs: {len(cases)} cases, each in-process and over HTTP", flush=True)
    failures = []

    def progress(r):
        bad = r["outcome"] in ("crash", "hang", "harness-error") if "outcome" in r else False
        if not bad and "in_process" in r:
            bad = any(classify(r[k]) in ("5xx", "unexpected exception", "connection error")
                      for k in ("in_process", "http") if r[k] != "-")
        if bad:
            failures.append(r)
            print(f"  ! {r['id'][:90]}: {json.dumps({k: r.get(k) for k in ('outcome', 'detail', 'in_process', 'http')})[:200]}",
                  flush=True)

    t0 = time.perf_counter()
    results = run_cases("bad_inputs", "run_case", cases, timeout=180, progress=progress)
    classes: Counter = Counter()
    crashes = hangs = fivexx = 0
    for r in results:
        if r.get("outcome") == "crash":
            crashes += 1
            classes["crash"] += 1
        elif r.get("outcome") == "hang":
            hangs += 1
            classes["hang"] += 1
        elif r.get("outcome") == "harness-error":
            classes["harness error"] += 1
        elif r.get("http") == "-":  # callbacks
            classes["callback: " + r["in_process"]] += 1
        else:
            for k in ("in_process", "http"):
                c = classify(r[k])
                classes[c] += 1
                fivexx += c == "5xx"
    return {"cases": len(cases), "answers": sum(classes.values()), "classes": dict(classes), "crashes": crashes,
            "hangs": hangs, "5xx": fivexx, "failures": failures[:20], "seconds": round(time.perf_counter() - t0),
            "results": results}


def scenario(name: str, timeout: float, **args) -> dict:
    print(f"{name} ...", flush=True)
    t0 = time.perf_counter()
    r = run_cases("scenarios", "run", [{"id": name, "scenario": name, **args}], timeout=timeout)[0]
    r["seconds"] = round(time.perf_counter() - t0)
    print(f"  {json.dumps(r)[:400]}", flush=True)
    return r


def machine() -> str:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0]
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), load average {load:.1f}"


def table(results: dict) -> list:
    rows = [("part", "cases", "outcome classes", "crashes", "hangs", "5xx", "figures")]
    b = results.get("bad_inputs")
    if b:
        classes = ", ".join(f"{k} {v}" for k, v in sorted(b["classes"].items(), key=lambda kv: -kv[1]))
        rows.append(("bad inputs (in-process + HTTP)", f"{b['cases']} ({b['answers']} answers)", classes,
                     b["crashes"], b["hangs"], b["5xx"], f"{b['seconds']} s"))
    for name, r in results.items():
        if name == "bad_inputs":
            continue
        crash = int(r.get("outcome") == "crash")
        hang = int(r.get("outcome") == "hang")
        if name == "load":
            lat = r.get("latency_s", {})
            rows.append(("load: 32 HTTP clients, no retries", r.get("requests", "-"),
                         f"errors {r.get('errors', '-')} {r.get('error_kinds') or ''}".rstrip(),
                         crash, hang,
                         "-", f"wall {r.get('wall_s')} s; latency p50 {lat.get('p50')} p95 {lat.get('p95')} "
                              f"p99 {lat.get('p99')} max {lat.get('max')} s"))
        elif name == "cycles":
            rows.append(("create/close cycles", r.get("cycles", "-"), r.get("outcome"), crash, hang, "-",
                         f"RSS {r.get('rss_first_mb')} -> {r.get('rss_last_mb')} MB (growth {r.get('rss_growth_mb')} MB, "
                         f"{r.get('rss_growth_after_5_mb')} MB after cycle 5); cycle p50 {r.get('cycle_s', {}).get('p50')} s"))
        elif name == "close":
            c, e = r.get("close_s", {}), r.get("requests_ended_s", {})
            rows.append(("close() with 7 kinds in flight", r.get("rounds", "-"), f"not ended {r.get('not_ended', '-')}",
                         crash, hang, "-", f"close() max {c.get('max')} s (p50 {c.get('p50')}); requests ended "
                                           f"max {e.get('max')} s after close() began"))
        elif name == "api_keys":
            rows.append(("API keys on every route", r.get("requests", "-"), f"wrong answers {r.get('errors', '-')}",
                         crash, hang, "-", f"{r.get('routes')} routes x 4 key cases"))
        elif name == "starvation":
            rows.append(("idle/half-sent connections", "16, 32, 64", r.get("outcome"), crash, hang, "-",
                         "normal request max latency " + ", ".join(f"{k}: {v} s" for k, v in r.get("max_latency_s", {}).items())))
        elif name == "params":
            rows.append(("parameter edges (params_fuzz)", r.get("cases"), ", ".join(f"{k} {v}" for k, v in r["classes"].items()),
                         r["classes"].get("crash", 0), r["classes"].get("hang", 0), "-", f"{r['seconds']} s"))
    return rows


def render(rows: list) -> str:
    out = ["| " + " | ".join(str(c) for c in rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows[1:]]
    return "\n".join(out)


def passed(results: dict) -> list:
    problems = []
    b = results.get("bad_inputs")
    if b and (b["crashes"] or b["hangs"] or b["5xx"] or b["classes"].get("unexpected exception") or
              b["classes"].get("connection error") or b["classes"].get("harness error")):
        problems.append("bad inputs: crashes, hangs, 5xx or unexpected exceptions")
    if "load" in results and results["load"].get("errors", 1):
        problems.append("errors under load")
    if "cycles" in results and not results["cycles"].get("rss_growth_mb", 99) < 20:
        problems.append("RSS growth over 30 cycles >= 20 MB")
    if "close" in results and (results["close"].get("outcome") != "ok" or
                               not results["close"].get("close_s", {}).get("max", 99) < 2.0):
        problems.append("close() took 2 s or more, or left a request running")
    for name in ("api_keys", "starvation"):
        if name in results and results[name].get("outcome") != "ok":
            problems.append(name)
    if "params" in results and set(results["params"]["classes"]) - {"ok", "refused"}:
        problems.append("a parameter value crashed, hung or failed a request")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a seventh of the bad inputs, fewer rounds")
    ap.add_argument("--only", default="")
    ap.add_argument("--match", default="", help="only the bad inputs whose id contains this")
    ap.add_argument("--params", action="store_true", help="also try every numeric parameter at its edges (long)")
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else None
    want = lambda name: only is None or name in only  # noqa: E731
    results: dict = {}
    t0 = time.perf_counter()
    if want("bad_inputs"):
        results["bad_inputs"] = bad_inputs(args.quick, args.match)
    if want("load"):
        results["load"] = scenario("load", 3600, requests=200 if args.quick else 1000, clients=32)
    if want("cycles"):
        results["cycles"] = scenario("cycles", 1800, cycles=30)
    if want("close"):
        results["close"] = scenario("close", 1800, rounds=2 if args.quick else 5)
    if want("api_keys"):
        results["api_keys"] = scenario("api_keys", 900)
    if want("starvation"):
        results["starvation"] = scenario("starvation", 900)
    if args.params or (only and "params" in only):
        import params_fuzz
        import xllamacpp as xlc

        cases = params_fuzz.cases_for(xlc.CommonParams.fields(), None)
        print(f"params: {len(cases)} cases", flush=True)
        tp = time.perf_counter()
        res = run_cases("params_fuzz", "run_case", cases, timeout=120, memory_gib=8)
        results["params"] = {"cases": len(cases), "classes": dict(Counter(r["outcome"] for r in res)),
                             "seconds": round(time.perf_counter() - tp),
                             "bad": [r for r in res if r["outcome"] not in ("ok", "refused")][:20]}
    rows = table(results)
    text = render(rows)
    problems = passed(results)
    print()
    print(text)
    print()
    print("PASS" if not problems else "FAIL: " + "; ".join(problems))
    if not args.no_doc and not args.quick and not args.match and only is None:
        write_doc(text, results, problems, time.perf_counter() - t0)
    (ROOT / "stress" / "last_run.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    return 0 if not problems else 1


def write_doc(table_text: str, results: dict, problems: list, seconds: float) -> None:
    doc = ROOT / "docs" / "reliability.md"
    head = doc.read_text().split("<!-- stress:begin -->")[0] if doc.exists() else "# Reliability\n\n"
    body = [
        "<!-- stress:begin -->",
        f"Last run: {time.strftime('%Y-%m-%d')}, `make stress`, {round(seconds / 60)} min, on {machine()}.",
        f"Result: **{'PASS' if not problems else 'FAIL: ' + '; '.join(problems)}**.",
        "",
        table_text,
        "",
        "<!-- stress:end -->",
    ]
    doc.write_text(head + "\n".join(body) + "\n")


if __name__ == "__main__":
    sys.exit(main())

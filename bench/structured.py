"""Per-token cost of constrained decoding: LLGuidance vs llama.cpp's GBNF, same schemas.

For each schema, greedy generation under the constraint is timed by the
server's own decode timings, then the same number of tokens unconstrained;
the difference per token is the mask (and grammar-advance) cost.

    make bench-structured
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import xllamacpp as xlc  # noqa: E402
from structured_schemas import SCHEMAS  # noqa: E402

MODEL = str(ROOT / "models" / "gemma-3-270m-q4_k_m.gguf")
REPS = 3


def per_token_ms(server, body: dict) -> tuple[float, int]:
    r = server.handle_completions(dict(body, prompt="Answer in JSON.\nJSON:", temperature=0))
    t = r["timings"]
    return t["predicted_per_token_ms"], t["predicted_n"]


def main() -> int:
    p = xlc.CommonParams()
    p.model.path = MODEL
    p.n_ctx = 2048
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = 2
    p.sampling.temp = 0.0
    rows = []
    with xlc.Server(p) as server:
        for name, schema in SCHEMAS.items():
            row = {"schema": name}
            for engine in ("llguidance", "gbnf"):
                xlc.set_structured_output_engine(engine)
                constrained, plain, n = [], [], 0
                for _ in range(REPS):
                    ms, n = per_token_ms(server, {"max_tokens": 96, "json_schema": schema})
                    constrained.append(ms)
                    if n > 1:
                        plain.append(per_token_ms(server, {"max_tokens": n, "ignore_eos": True})[0])
                row[engine] = statistics.median(constrained) - (statistics.median(plain) if plain else 0.0)
                row[f"{engine}_tokens"] = n
            rows.append(row)
    xlc.set_structured_output_engine("llguidance")
    print(f"{'schema':20} {'tokens':>6} {'llguidance ms/tok':>18} {'gbnf ms/tok':>12}")
    for r in rows:
        print(f"{r['schema']:20} {r['llguidance_tokens']:>6} {r['llguidance']:>18.3f} {r['gbnf']:>12.3f}")
    llg = statistics.median(r["llguidance"] for r in rows)
    gbnf = statistics.median(r["gbnf"] for r in rows)
    print(f"{'median':20} {'':>6} {llg:>18.3f} {gbnf:>12.3f}")
    (ROOT / "docs" / "structured_bench.json").write_text(json.dumps({"rows": rows, "median_llguidance_ms": llg,
                                                                     "median_gbnf_ms": gbnf}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

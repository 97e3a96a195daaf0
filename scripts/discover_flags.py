"""Maintenance tool: find which llama-server flag sets each common_params field.

Runs every flag of llama.cpp's argument table through CommonParams.from_args
with a sample value and sees which field changes; prints `field<TAB>flag`
for fields set by exactly one option, and with --write fills the flag column
of cshim/src/xlc_params_table.inc where it is still nullptr. Run it after
moving llama.cpp, then rebuild.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "cshim" / "src" / "xlc_params_table.inc"
SKIP = re.compile(r"^(--log|-lv$|--verbosity|-v$|--verbose|--rpc|--list|--version|-cl$|--cache-list|-h$|--help|--usage|--completion)")
SAMPLES = ["7", "0.5", "q8_0", "last", "none", "x", "1,2", "a=b"]


def main() -> int:
    from xllamacpp import _params

    lib, call_out = _params.lib, _params.call_out
    # what llama-server's own defaults are (its parser changes a few, e.g. n_parallel = -1)
    defaults = orjson.loads(call_out(lib.xlc_params_from_args, b"{}", b"[]"))
    schema = _params._SCHEMA
    found: dict[str, str] = {}
    for opt in schema["options"]:
        args = opt["args"] + opt["args_neg"]
        if not args or any(SKIP.match(a) for a in args):
            continue
        flag = max(opt["args"] or opt["args_neg"], key=len) if opt["args"] else opt["args_neg"][0]
        short = [a for a in opt["args"] if not a.startswith("--")]
        flag = short[0] if short else flag
        tries = [[a] for a in args] if not opt["value_hint"] else [[args[0], v] for v in SAMPLES]
        changed: set[str] = set()
        for argv in tries:
            try:
                got = orjson.loads(call_out(lib.xlc_params_from_args, b"{}", orjson.dumps(argv)))
            except ValueError:
                continue
            changed |= {k for k in got if got[k] != defaults[k] and k != "sampling.user_sampling_config"}
        for name in changed:
            found.setdefault(name, flag)
    for name, flag in sorted(found.items()):
        print(f"{name}\t{flag}")
    if "--write" in sys.argv:
        text = TABLE.read_text()
        for name, flag in found.items():
            text = re.sub(rf'^XLC_FIELD\("{re.escape(name)}", ([^,]+), nullptr,', rf'XLC_FIELD("{name}", \1, "{flag}",',
                          text, flags=re.M)
        TABLE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

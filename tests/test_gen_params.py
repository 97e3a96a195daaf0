"""cshim/gen_params.py, which writes the parameter table from the vendored tree at build time."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "cshim"))
sys.path.insert(0, str(ROOT / "scripts"))
import gen_params  # type: ignore[import-not-found]  # noqa: E402
import common_params_fields  # type: ignore[import-not-found]  # noqa: E402
from common_params_fields import LLAMA_DIR  # type: ignore[import-not-found]  # noqa: E402

DATA = json.loads((ROOT / "cshim" / "params_table.json").read_text())


def _rows(text: str) -> dict[str, tuple[str, ...]]:
    out = {}
    for line in text.splitlines():
        m = re.match(r'XLC_(FIELD|EXCLUDED|VIEW)\("([^"]+)", (.*)\)$', line)
        if m:
            out[m.group(2)] = (m.group(1), m.group(3))
    return out


def test_the_library_holds_the_table_generated_from_its_tree():
    from xllamacpp import _params

    rows = _rows(gen_params.render(LLAMA_DIR, DATA, []))
    assert [n for n, r in rows.items() if r[0] != "EXCLUDED"] == list(_params.FIELDS), "a stale build"
    assert {n for n, r in rows.items() if r[0] == "EXCLUDED"} == set(_params.EXCLUDED)


def test_flags_come_from_the_handlers_that_set_the_member():
    flags = gen_params.flags_by_field(list(common_params_fields.fields()), LLAMA_DIR / "common" / "arg.cpp")
    assert flags["n_ctx"][0] == "-c"
    assert "-c" not in flags["fit_params_min_ctx"]  # -c sets it only as a consequence, to a constant
    assert flags["timeout_read"][0] == flags["timeout_write"][0] == "-to"
    assert "sampling.n_prev" not in flags  # derived from penalty_last_n, never set from an argument


def test_an_entry_naming_a_member_the_tree_lacks_is_skipped_with_a_note(tmp_path):
    data = {**DATA, "excluded": {**DATA["excluded"], "no_such_member": "gone"},
            "views": DATA["views"] + [{"name": "v", "before": "gone_too", "help": "h", "fn": "rpc_servers"}],
            "flags": {"no_such_either": "-x"}}
    data_file = tmp_path / "data.json"
    data_file.write_text(json.dumps(data))
    out = tmp_path / "table.inc"
    r = subprocess.run([sys.executable, str(ROOT / "cshim" / "gen_params.py"), str(out), str(LLAMA_DIR), str(data_file)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for name in ("no_such_member", "gone_too", "no_such_either"):
        assert re.search(rf"gen_params.py: note: .*'{name}'", r.stderr), r.stderr
    rows = _rows(out.read_text())
    assert "no_such_member" not in rows and rows["v"][0] == "VIEW" and list(rows)[-1] == "v"

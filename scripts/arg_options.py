"""Read llama.cpp's argument table (common/arg.cpp) as source text: each
`add_opt(common_arg(...))` with its flags and the code of its handler.

Used at build time by cshim/gen_params.py (which flag sets which field) and by
tests/test_drift.py (which handlers exit the process). Standard library only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# a string literal (raw ones too) or a comment
TOKENS = re.compile(r'(R"(\w*)\(.*?\)\2"|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\')|//[^\n]*|/\*.*?\*/', re.S)
_FLAGS = re.compile(r'\s*\{([^{}]*)\}')
_PARAMS_PATH = re.compile(r"\bparams\s*\.\s*([A-Za-z_]\w*(?:\s*\.\s*[A-Za-z_]\w*)*)")


def strip_comments(text: str) -> str:
    """C/C++ source without comments; string literals kept whole."""
    return TOKENS.sub(lambda m: m.group(1) or " ", text)


@dataclass
class Option:
    args: list[str]      # the flags that set it ("-c", "--ctx-size")
    args_neg: list[str]  # the flags that unset a bool option ("--no-perf")
    code: str            # the whole add_opt(...) call without comments or string literals

    def flag(self) -> str:
        """The flag that names it: its first short form, else its longest long form."""
        short = [a for a in self.args if not a.startswith("--")]
        if short:
            return short[0]
        return max(self.args, key=len) if self.args else self.args_neg[0]

    def params_uses(self) -> list[tuple[str, bool]]:
        """The `params.a.b` paths its handler names, in order, each once (not those its help shows), and
        whether a statement naming it takes the handler's own argument (`params.n_ctx = value`)."""
        lam = re.search(r"\[[^\]]*\]\s*\(\s*common_params\s*&\s*params\s*([^)]*)\)", self.code)
        if not lam:
            return []
        arguments = re.findall(r"(\w+)\s*(?:,|$)", lam.group(1))
        out: dict[str, bool] = {}
        for m in _PARAMS_PATH.finditer(self.code, lam.end()):
            path = re.sub(r"\s+", "", m.group(1))
            start = max(self.code.rfind(c, lam.end(), m.start()) for c in ";{}") + 1
            end = self.code.find(";", m.end())
            statement = self.code[start:end if end >= 0 else len(self.code)]
            takes = any(re.search(rf"\b{a}\b", statement) for a in arguments)
            out[path] = out.get(path, False) or takes
        return list(out.items())


def options(arg_cpp: Path) -> list[Option]:
    """Every option of the argument table, in the order llama.cpp adds them."""
    text = strip_comments(arg_cpp.read_text(encoding="utf-8"))
    out = []
    for m in re.finditer(r"add_opt\s*\(\s*common_arg\s*\(", text):
        depth, i = 2, m.end()
        while depth and i < len(text):
            literal = TOKENS.match(text, i)
            if literal and literal.group(1):
                i = literal.end()  # parentheses inside strings do not count
                continue
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        block = text[m.end():i]
        lists = []
        rest = block
        for _ in range(2):  # {"-x", "--xx"} and, for a bool option, {"--no-xx"}
            first = _FLAGS.match(rest)
            if not first or not re.fullmatch(r'\s*"[^"]*"(?:\s*,\s*"[^"]*")*\s*', first.group(1)):
                break
            lists.append(re.findall(r'"([^"]*)"', first.group(1)))
            rest = rest[first.end():].lstrip().lstrip(",")
        if not lists:
            continue
        out.append(Option(args=lists[0], args_neg=lists[1] if len(lists) > 1 else [], code=TOKENS.sub('""', block)))
    return out

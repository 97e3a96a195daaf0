"""upstream xllamacpp's documented behaviour, run on ours and on upstream's wheel (conftest.py)."""

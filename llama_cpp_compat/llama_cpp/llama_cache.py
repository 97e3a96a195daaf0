"""llama-cpp-python's prompt caches. llama-server keeps each slot's last prompt and reuses its longest
common prefix by itself (cache_prompt), so these are accepted by Llama.set_cache and hold nothing."""
from __future__ import annotations

from typing import Any, Optional


class BaseLlamaCache:
    def __init__(self, capacity_bytes: int = (2 << 30)):
        self.capacity_bytes = capacity_bytes

    @property
    def cache_size(self) -> int:
        return 0

    def __contains__(self, key: Any) -> bool:
        return False

    def __getitem__(self, key: Any) -> Any:
        raise KeyError("the server's own prompt cache holds the state")

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


class LlamaRAMCache(BaseLlamaCache):
    pass


class LlamaDiskCache(BaseLlamaCache):
    def __init__(self, cache_dir: str = ".cache/llama_cache", capacity_bytes: int = (2 << 30)):
        super().__init__(capacity_bytes)
        self.cache_dir: Optional[str] = cache_dir


LlamaCache = LlamaRAMCache

__all__ = ["BaseLlamaCache", "LlamaCache", "LlamaDiskCache", "LlamaRAMCache"]

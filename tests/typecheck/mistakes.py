# mypy: enable-error-code="deprecated"
# pyright: reportDeprecated=error
"""Mistakes a type checker must report, each at its line (tests/test_stubs.py).

Every line marked ``# mistake`` must get an error from mypy and from pyright, and no other
line may get one. Never run: some of these lines raise at run time, which is the point.
"""
from __future__ import annotations

import xllamacpp as xlc
from xllamacpp import memory

params = xlc.CommonParams()
params.model.path = "models/gemma-3-270m-q4_k_m.gguf"
params.n_ctxx = 4096  # mistake: a misspelt field
params.sampling.tempp = 0.5  # mistake: a misspelt field of a nested struct
print(params.speculative.draft.n_maxx)  # mistake: a misspelt field, read
params.n_ctx = "4096"  # mistake: a str where an int goes
params.sampling.temp = "hot"  # mistake: a str where a float goes
params.embedding = "yes"  # mistake: a str where a bool goes
params.model.path = 7  # mistake: an int where a path goes
params.hostnames = "localhost"  # mistake: a str where a list of str goes
params.lora_adapters = ["adapter.gguf"]  # mistake: a path where a CommonAdapterLoraInfo goes
params.pooling_type = xlc.llama_rope_type.LLAMA_ROPE_TYPE_NONE  # mistake: a member of the wrong enum
params.pooling_type = xlc.llama_pooling_type.LLAMA_POOLING_TYPE_RANKED  # mistake: no such member
params.pooling_type = "LLAMA_POOLING_TYPE_RANKED"  # mistake: no member by that name
params.pooling_type = 99  # mistake: no member with that value
params.speculative.types = [xlc.llama_pooling_type.LLAMA_POOLING_TYPE_RANK]  # mistake: wrong enum in a list
params.sampling = params.model  # mistake: the wrong nested struct
params.speculative.n_max = 8  # mistake: a deprecated older name (speculative.draft.n_max)
context: str = params.n_ctx  # mistake: an int read as a str
adapter = xlc.CommonAdapterLoraInfo("adapter.gguf", scale="full")  # mistake: a str where a float goes

server = xlc.Server("models/gemma-3-270m-q4_k_m.gguf")  # mistake: a path where CommonParams goes
server = xlc.Server(params)
server.handle_completions(["Once upon a time"])  # mistake: a list is no completion request
server.handle_completions({"prompt": "Hi", "stream": True}, lambda chunk, more: None)  # mistake: a two-argument callback
server.handle_completions({"prompt": "Hi", "stream": True}, 5)  # mistake: a callback that is not callable
server.handle_completion({"prompt": "Hi"})  # mistake: a misspelt method
server.handle("POST")  # mistake: no path
server.stream_completions({"prompt": "Hi"}, max_pending="10")  # mistake: a str where an int goes
server.listening_address = "http://127.0.0.1:1"  # mistake: a read-only property
address: int = server.listening_address  # mistake: a str read as an int


async def forgets_to_await(aserver: xlc.AsyncServer) -> None:
    aserver.handle_completions({"prompt": "Hi"})  # mistake: a coroutine never awaited
    for chunk in aserver.stream_completions({"prompt": "Hi"}):  # mistake: an async iterator in a plain for
        print(chunk)


xlc.estimate_gpu_layers([], "m.gguf", [], "4096", 512, 1, "f16")  # mistake: a str where an int goes
memory.estimate_gpu_layers([], "m.gguf", [], 4096, 512, 1)  # mistake: a missing argument
xlc.RpcServer(port="50052")  # mistake: a str where an int goes
xlc.set_log_level(2.5)  # mistake: a float where a level goes
xlc.json_schema_to_grammar(["not", "a", "schema"])  # mistake: a list where a schema goes
xlc.get_device_info()[0].memory_free  # mistake: a dict read as an object
xlc.NoSuchName  # mistake: a name the package does not have

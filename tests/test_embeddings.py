"""Embeddings and rerank on the kit's BERT models, in-process and over HTTP."""
from __future__ import annotations

import math

import pytest
import requests

import xllamacpp as xlc
from conftest import make_params

N_EMBD = 32  # tests/modelkit/bert.py
POOLING = xlc.llama_pooling_type
TEXTS = ["the cat sat on the mat", "a quick brown fox", "embeddings are vectors"]


def _embedder(model: str, **fields) -> xlc.Server:
    return xlc.Server(make_params(model, embedding=True, n_ctx=512, n_batch=128, n_ubatch=128, n_parallel=2, **fields))


def _norm(v) -> float:
    return math.sqrt(sum(x * x for x in v))


def _close(a, b, tol=1e-4) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


@pytest.fixture(scope="module")
def embedder(embedding_model):
    with _embedder(embedding_model) as s:  # pooling from the file: mean
        yield s


@pytest.fixture(scope="module")
def reranker(reranker_model):
    with _embedder(reranker_model, pooling_type=POOLING.LLAMA_POOLING_TYPE_RANK) as s:
        yield s


# --- embeddings ------------------------------------------------------------------------------

def test_v1_embeddings_one_unit_vector_per_input(embedder):
    r = embedder.handle_embeddings({"input": TEXTS})
    assert r["object"] == "list" and [d["index"] for d in r["data"]] == [0, 1, 2]
    for d in r["data"]:
        assert d["object"] == "embedding" and len(d["embedding"]) == N_EMBD
        assert abs(_norm(d["embedding"]) - 1.0) < 1e-5
    assert r["usage"]["prompt_tokens"] > len(TEXTS)
    assert not _close(r["data"][0]["embedding"], r["data"][1]["embedding"])


def test_the_same_text_gives_the_same_vector_in_a_batch_and_alone(embedder):
    batch = embedder.handle_embeddings({"input": ["first", TEXTS[0], "last one here"]})["data"]
    alone = embedder.handle_embeddings({"input": TEXTS[0]})["data"]
    assert len(alone) == 1
    assert _close(batch[1]["embedding"], alone[0]["embedding"], 1e-5)


def test_native_route_normalises_as_asked(embedder):
    unit = embedder.handle("POST", "/embedding", {"content": TEXTS[0]})
    raw = embedder.handle("POST", "/embedding", {"content": TEXTS[0], "embd_normalize": -1})
    assert unit[0]["index"] == 0 and len(unit[0]["embedding"]) == 1  # one pooled vector
    u, v = unit[0]["embedding"][0], raw[0]["embedding"][0]
    assert abs(_norm(u) - 1.0) < 1e-5 and abs(_norm(v) - 1.0) > 1e-3
    assert _close(u, [x / _norm(v) for x in v], 1e-5)


def test_pooling_mean_cls_last_none_agree_with_the_token_vectors(embedding_model):
    """Each pooled vector is the normalised mean, first ([CLS]) or last row of the per-token output."""
    text = TEXTS[1]
    pooled = {}
    for name in ("MEAN", "CLS", "LAST", "NONE"):
        with _embedder(embedding_model, pooling_type=getattr(POOLING, f"LLAMA_POOLING_TYPE_{name}")) as s:
            pooled[name] = s.handle("POST", "/embedding", {"content": text})[0]["embedding"]
            n_tokens = len(s.handle("POST", "/tokenize", {"content": text, "add_special": True})["tokens"])
            if name == "NONE":
                refused = s.handle_embeddings({"input": text})
                assert refused["error"]["code"] == 400 and "not OAI compatible" in refused["error"]["message"]
    rows = pooled["NONE"]
    assert len(rows) == n_tokens and all(len(r) == N_EMBD for r in rows)

    def unit(v):
        n = _norm(v)
        return [x / n for x in v]

    mean = [sum(col) / len(rows) for col in zip(*rows)]
    assert _close(pooled["MEAN"][0], unit(mean))
    assert _close(pooled["CLS"][0], unit(rows[0]))
    assert _close(pooled["LAST"][0], unit(rows[-1]))
    assert not _close(pooled["CLS"][0], pooled["LAST"][0])


def test_input_longer_than_a_batch_is_a_400_naming_the_limit(embedder):
    long_text = "word " * 300  # > n_ubatch = 128 tokens
    for route in ("/v1/embeddings", "/embedding"):
        r = embedder.handle("POST", route, {"input" if route == "/v1/embeddings" else "content": long_text})
        assert r["error"]["code"] == 400, r
        assert "too large" in r["error"]["message"] and "128" in r["error"]["message"]
    assert embedder.handle_embeddings({"input": "still serving"})["data"]


def test_empty_input_list_is_a_400(embedder):
    r = embedder.handle_embeddings({"input": []})
    assert r["error"]["code"] == 400 and r["error"]["message"]


def test_embeddings_over_http_and_the_openai_client(embedder):
    from openai import OpenAI

    base = embedder.listening_address
    r = requests.post(base + "/v1/embeddings", json={"input": TEXTS[:2]}, timeout=60)
    assert r.status_code == 200
    over_http = r.json()["data"][0]["embedding"]
    assert _close(over_http, embedder.handle_embeddings({"input": TEXTS[0]})["data"][0]["embedding"], 1e-5)
    client = OpenAI(base_url=base + "/v1", api_key="unused")
    out = client.embeddings.create(model="kit", input=TEXTS)
    assert [len(d.embedding) for d in out.data] == [N_EMBD] * 3
    assert requests.post(base + "/embedding", json={"content": "hi"}, timeout=60).status_code == 200


# --- rerank ----------------------------------------------------------------------------------

QUERY = "where do cats sleep"
DOCS = ["cats sleep on the mat", "the stock market fell", "dogs bark at night", "a kitten naps in the sun",
        "cats sleep on the mat"]


def test_rerank_scores_every_document_best_first(reranker):
    r = reranker.handle_rerank({"query": QUERY, "documents": DOCS})
    results = r["results"]
    assert sorted(x["index"] for x in results) == list(range(len(DOCS)))
    scores = [x["relevance_score"] for x in results]
    assert scores == sorted(scores, reverse=True)
    by_index = {x["index"]: x["relevance_score"] for x in results}
    assert abs(by_index[0] - by_index[4]) < 1e-5  # the same document scores the same
    assert len(set(round(s, 5) for s in scores)) >= 4


def test_rerank_top_n_keeps_the_best(reranker):
    full = reranker.handle_rerank({"query": QUERY, "documents": DOCS})["results"]
    top = reranker.handle_rerank({"query": QUERY, "documents": DOCS, "top_n": 2})["results"]
    assert top == full[:2]


def test_rerank_routes_over_http(reranker):
    base = reranker.listening_address
    expected = reranker.handle_rerank({"query": QUERY, "documents": DOCS, "top_n": 3})["results"]
    for route in ("/v1/rerank", "/rerank", "/v1/reranking"):
        r = requests.post(base + route, json={"query": QUERY, "documents": DOCS, "top_n": 3}, timeout=60)
        assert r.status_code == 200
        got = r.json()["results"]
        assert [x["index"] for x in got] == [x["index"] for x in expected]


def test_rerank_bad_requests_are_400(reranker):
    assert reranker.handle_rerank({"documents": DOCS})["error"]["code"] == 400
    assert reranker.handle_rerank({"query": QUERY, "documents": []})["error"]["code"] == 400
    assert reranker.handle_rerank({"query": 3, "documents": DOCS})["error"]["code"] == 400


def test_a_reranker_refuses_embeddings(reranker):
    """With pooling rank llama-server would copy n_embd floats out of a one-float score."""
    for route in ("/v1/embeddings", "/embedding"):
        r = reranker.handle("POST", route, {"input": "x", "content": "x"})
        assert r["error"]["code"] == 501 and "reranker" in r["error"]["message"]


def test_an_embedder_refuses_rerank(embedder):
    r = embedder.handle_rerank({"query": QUERY, "documents": DOCS})
    assert r["error"]["code"] == 501 and "rerank" in r["error"]["message"]

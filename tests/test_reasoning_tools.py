"""Reasoning and tool calls on gemma3 270M with tests/templates/gemma-chat.jinja, a template
llama.cpp's autoparser reads for both (gemma's turn markers, <think>, Hermes-style calls).

The model is a small base model, so each test leads it where an instruction-tuned model
would go by itself: a grammar writes the thought, earlier turns show the tool-call pattern.
"""
from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

import xllamacpp as xlc
from conftest import make_params

QUESTION: list[Any] = [{"role": "user", "content": "Is the sky blue?"}]
THINKING_OFF = {"chat_template_kwargs": {"enable_thinking": False}}
# thought and answer in lower-case words, short enough that both always fit in 80 tokens
# (a token is at least one character), so the thought is closed whatever the model writes
THINK_THEN_ANSWER = 'root ::= "<think>" [a-z ]{1,30} "</think>" [a-z ]{1,20}'

CITY = {"type": "string", "enum": ["Paris", "London", "Tokyo", "Rome"]}
WEATHER_TOOL: dict[str, Any] = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": CITY}, "required": ["city"]}}}


@pytest.fixture(scope="module")
def chat(model_path, gemma_chat_template):
    with xlc.Server(make_params(model_path, chat_template=gemma_chat_template, n_ctx=4096, n_parallel=1)) as s:
        yield s


@pytest.fixture(scope="module")
def end_of_turn(chat) -> int:
    (token,) = chat.handle("POST", "/tokenize", {"content": "<end_of_turn>"})["tokens"]
    return token


def _message(reply: dict) -> dict:
    assert "error" not in reply, reply
    return reply["choices"][0]["message"]


# --- reasoning -------------------------------------------------------------------------------

def test_template_opens_the_thought_when_thinking_is_on(chat):
    on = chat.handle("POST", "/apply-template", {"messages": QUESTION})["prompt"]
    off = chat.handle("POST", "/apply-template", {"messages": QUESTION, **THINKING_OFF})["prompt"]
    assert on.endswith("<start_of_turn>model\n<think>") and off.endswith("<start_of_turn>model\n")


def test_deepseek_format_moves_the_thought_to_reasoning_content(chat):
    m = _message(chat.handle_chat_completions({"messages": QUESTION, "grammar": THINK_THEN_ANSWER, "max_tokens": 80,
                                               "reasoning_format": "deepseek", **THINKING_OFF}))
    assert m["reasoning_content"].strip() and "<think>" not in m["reasoning_content"]
    assert m["content"].strip() and "think>" not in m["content"]


def test_none_format_leaves_the_thought_in_content(chat):
    m = _message(chat.handle_chat_completions({"messages": QUESTION, "grammar": THINK_THEN_ANSWER, "max_tokens": 80,
                                               "reasoning_format": "none", **THINKING_OFF}))
    assert not m.get("reasoning_content")
    assert m["content"].startswith("<think>") and "</think>" in m["content"]


def test_streamed_thought_arrives_as_reasoning_deltas(chat):
    chunks: list = []
    chat.handle_chat_completions({"messages": QUESTION, "grammar": THINK_THEN_ANSWER, "max_tokens": 80, "stream": True,
                                  "reasoning_format": "deepseek", **THINKING_OFF}, chunks.append)
    deltas = [c["choices"][0]["delta"] for c in chunks if c.get("choices")]
    reasoning = "".join(d.get("reasoning_content") or "" for d in deltas)
    content = "".join(d.get("content") or "" for d in deltas)
    assert reasoning.strip() and content.strip() and "<think>" not in reasoning + content
    whole = _message(chat.handle_chat_completions({"messages": QUESTION, "grammar": THINK_THEN_ANSWER,
                                                   "max_tokens": 80, "reasoning_format": "deepseek", **THINKING_OFF}))
    assert (reasoning, content) == (whole["reasoning_content"], whole["content"])


def test_the_reasoning_budget_cuts_the_thought_short(chat):
    # thinking on: the prompt opens <think>; the grammar writes the thought and the answer,
    # and "<"/"</" are made unlikely so the thought would not end by itself
    grammar = 'root ::= [a-z ]{1,300} "</think>" [a-z ]{1,40}'
    request = {"messages": QUESTION, "grammar": grammar, "max_tokens": 40, "reasoning_format": "deepseek",
               "logit_bias": [["</", -30], ["<", -30]]}
    unbounded = _message(chat.handle_chat_completions(request))
    cut = _message(chat.handle_chat_completions({**request, "thinking_budget_tokens": 5}))

    def n_tokens(text):
        return len(chat.handle("POST", "/tokenize", {"content": text})["tokens"])

    assert n_tokens(unbounded["reasoning_content"]) > 20 and not unbounded["content"]
    assert n_tokens(cut["reasoning_content"]) <= 5 and cut["content"].strip()
    assert unbounded["reasoning_content"].startswith(cut["reasoning_content"])


def test_reasoning_over_http_with_the_openai_client(chat):
    from openai import OpenAI

    client = OpenAI(base_url=chat.listening_address + "/v1", api_key="unused")
    reply = client.chat.completions.create(model="gemma", messages=QUESTION, max_tokens=80,
                                           extra_body={"grammar": THINK_THEN_ANSWER, "reasoning_format": "deepseek",
                                                       **THINKING_OFF})
    message = reply.choices[0].message
    assert message.model_extra is not None and message.content is not None
    assert message.model_extra["reasoning_content"].strip() and message.content.strip()


# --- tool calls ------------------------------------------------------------------------------

def _call(i: int, city: str) -> list:
    call = {"id": f"call_{i}", "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}
    return [{"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"call_{i}", "content": "12 C, rain"}]


# two earlier turns show the pattern "question, tool call" that a base model then follows
HISTORY = [{"role": "user", "content": "What is the weather in London?"}, *_call(1, "London"),
           {"role": "user", "content": "And in Tokyo?"}, *_call(2, "Tokyo"),
           {"role": "user", "content": "And in Paris?"}]


def _tool_request(end_of_turn: int, **extra) -> dict:
    # end the turn once the grammar allows it: a base model has no habit of ending turns
    return {"messages": HISTORY, "tools": [WEATHER_TOOL], "tool_choice": "required", "max_tokens": 60,
            "logit_bias": [[end_of_turn, 10.0]], **THINKING_OFF, **extra}


def _check_call(call: dict) -> dict:
    assert call["type"] == "function" and call["id"] and call["function"]["name"] == "get_weather"
    arguments = json.loads(call["function"]["arguments"])
    jsonschema.validate(arguments, WEATHER_TOOL["function"]["parameters"])
    return arguments


def test_required_tool_call_parses_and_matches_the_schema(chat, end_of_turn):
    reply = chat.handle_chat_completions(_tool_request(end_of_turn))
    assert reply["choices"][0]["finish_reason"] == "tool_calls", reply
    calls = _message(reply)["tool_calls"]
    assert len(calls) == 1
    assert _check_call(calls[0]) == {"city": "Paris"}


def test_streamed_tool_call_deltas_rebuild_the_call(chat, end_of_turn):
    chunks: list = []
    chat.handle_chat_completions(_tool_request(end_of_turn, stream=True), chunks.append)
    name, arguments = "", ""
    for c in chunks:
        for d in (c.get("choices") or [{}])[0].get("delta", {}).get("tool_calls", []):
            assert d["index"] == 0
            name += d.get("function", {}).get("name") or ""
            arguments += d.get("function", {}).get("arguments") or ""
    assert name == "get_weather" and json.loads(arguments) == {"city": "Paris"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_call_over_http_with_the_openai_client(chat, end_of_turn):
    from openai import OpenAI

    client = OpenAI(base_url=chat.listening_address + "/v1", api_key="unused")
    request = _tool_request(end_of_turn)
    reply = client.chat.completions.create(
        model="gemma", messages=request["messages"], tools=request["tools"], tool_choice="required",
        max_tokens=60, logit_bias={str(end_of_turn): 10}, extra_body=THINKING_OFF)
    (call,) = reply.choices[0].message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_TOOL["function"]["parameters"])


def test_the_template_renders_tools_and_tool_history(chat):
    prompt = chat.handle("POST", "/apply-template", {"messages": HISTORY, "tools": [WEATHER_TOOL],
                                                     **THINKING_OFF})["prompt"]
    assert '"name": "get_weather"' in prompt
    assert prompt.count("<tool_call>") == 3 and prompt.count("<tool_response>") == 2  # one in the instructions

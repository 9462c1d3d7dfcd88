"""Chat templates for GGUF files that carry none (``tokenizer.chat_template`` absent), by architecture.

Gemma GGUFs (e.g. Gemma 3 270M) ship without a template. ``GEMMA_CHAT_TEMPLATE`` is Gemma 3's official
template (its ``tokenizer_config.json``): turns are ``<start_of_turn>{role}\\n{content}<end_of_turn>\\n``,
the assistant's role is written ``model``, a system message is prepended to the first user turn, roles
must alternate user/assistant, and the prompt starts with ``<bos>`` (the tokenizer then adds no second
one). Gemma and Gemma 2 use the same turn format; their own templates refuse a system message, this one
accepts it.
"""

from __future__ import annotations

GEMMA_CHAT_TEMPLATE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{ '<start_of_turn>model\\n' }}
{%- endif -%}
"""
"""Gemma 3's chat template (Jinja2, rendered by ``tokenizer._compile_template``)."""

BUILTIN_CHAT_TEMPLATES: dict[str, str] = {
    "gemma": GEMMA_CHAT_TEMPLATE,
    "gemma2": GEMMA_CHAT_TEMPLATE,
    "gemma3": GEMMA_CHAT_TEMPLATE,
}
"""GGUF ``general.architecture`` -> the chat template used when the file has none."""


def builtin_chat_template(architecture: str | None) -> str | None:
    """The built-in chat template for a GGUF architecture, or None when there is none."""
    return BUILTIN_CHAT_TEMPLATES.get(architecture or "")

"""``Tokenizer``: a fast (Rust ``tokenizers``) tokenizer plus the model's chat template.

Built either from a GGUF file's metadata (byte-level BPE from ``tokenizer.ggml.tokens/merges``, or
SentencePiece from tokens/scores/types, see ``sentencepiece_gguf``) or from a Hugging Face folder
(``tokenizer.json`` + ``tokenizer_config.json``). The chat template is a Jinja2 template rendered the way
``transformers`` renders it (sandboxed, ``trim_blocks``/``lstrip_blocks``); a GGUF without one gets its
architecture's built-in template (``chat_templates``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from tokenizers import AddedToken, Regex, decoders, models, pre_tokenizers
from tokenizers import Tokenizer as _FastTokenizer

from splitsecond.serving.loader.chat_templates import builtin_chat_template
from splitsecond.serving.loader.sentencepiece_gguf import build_sentencepiece_tokenizer

logger = logging.getLogger(__name__)

# GGUF token types (llama.cpp's llama_token_type).
_TOKEN_CONTROL = 3
_TOKEN_USER_DEFINED = 4

SUPPORTED_TOKENIZER_MODELS = ("gpt2", "llama")
"""GGUF ``tokenizer.ggml.model`` values ``Tokenizer.from_gguf_metadata`` builds."""

# Token texts llama.cpp treats as end of generation (llama_vocab::load, special_eog_ids).
_END_OF_GENERATION_TEXTS = frozenset(
    {
        "<|eot_id|>",
        "<|im_end|>",
        "<|end|>",
        "<end_of_turn>",
        "<|endoftext|>",
        "<|eom_id|>",
        "<EOT>",
        "_<EOT>",
        "<|end_of_text|>",
        "<end_of_utterance>",
    }
)

_GPT2_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _pre_tokenizer_for(pre: str | None):
    """The pre-tokenizer llama.cpp uses for a ``tokenizer.ggml.pre`` value (GPT-2's split by default)."""
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    if pre in ("llama3", "llama-v3", "llama-bpe", "smaug-bpe", "dbrx", "falcon3"):
        split = _LLAMA3_SPLIT
    elif pre in ("qwen2", "deepseek-r1-qwen"):
        split = _QWEN2_SPLIT
    elif pre == "smollm":
        # SmolLM's tokenizer.json (and llama.cpp's "smollm" pre-type): digits one by one, then GPT-2's split.
        return pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
        )
    else:
        split = _GPT2_SPLIT
    return pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(split), behavior="isolated"), byte_level])


class Tokenizer:
    """Text <-> token ids, special tokens and chat template of one model.

    ``encode(text)`` adds BOS only when the model asks for it (``add_bos_token``); special tokens written
    in the text (e.g. ``<|im_start|>``) are recognised. ``decode`` skips special tokens by default.
    """

    def __init__(
        self,
        fast: _FastTokenizer,
        *,
        bos_token_id: int | None,
        eos_token_ids: Sequence[int],
        add_bos_token: bool,
        chat_template: str | None,
        pad_token_id: int | None = None,
    ) -> None:
        self._tok = fast
        self.bos_token_id = bos_token_id
        self.eos_token_ids: list[int] = list(dict.fromkeys(eos_token_ids))
        self.pad_token_id = pad_token_id
        self.add_bos_token = add_bos_token
        self.chat_template = chat_template
        self.vocab_size = fast.get_vocab_size(with_added_tokens=True)
        self._compiled_template = None

    # --- basic API -------------------------------------------------------------------------------
    @property
    def eos_token_id(self) -> int | None:
        """The first EOS token id (None when the model has none)."""
        return self.eos_token_ids[0] if self.eos_token_ids else None

    def id_to_token(self, token_id: int) -> str | None:
        """The vocabulary string of a token id (byte-level spelling for BPE vocabularies)."""
        return self._tok.id_to_token(token_id)

    def token_to_id(self, token: str) -> int | None:
        """The id of a vocabulary string, or None."""
        return self._tok.token_to_id(token)

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text``; prepends BOS when the model wants it and ``add_special_tokens``."""
        ids = self._tok.encode(text, add_special_tokens=False).ids
        bos = self.bos_token_id
        if add_special_tokens and self.add_bos_token and bos is not None and (not ids or ids[0] != bos):
            ids = [bos, *ids]
        return ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        """Text of token ids (special tokens dropped unless ``skip_special_tokens=False``)."""
        return self._tok.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def get_vocab(self) -> dict[str, int]:
        """Token string -> id, including added tokens."""
        return self._tok.get_vocab(with_added_tokens=True)

    @property
    def backend(self) -> _FastTokenizer:
        """The underlying ``tokenizers.Tokenizer``."""
        return self._tok

    def apply_chat_template(
        self,
        messages: list[dict],
        add_generation_prompt: bool = True,
        tools: list[dict] | None = None,
        **kwargs,
    ) -> str:
        """Render chat ``messages`` ([{"role": ..., "content": ...}]) with the model's template."""
        if self.chat_template is None:
            raise ValueError("this model has no chat template; send a plain prompt instead")
        if self._compiled_template is None:
            self._compiled_template = _compile_template(self.chat_template)
        special = {
            "bos_token": self._tok.id_to_token(self.bos_token_id) if self.bos_token_id is not None else "",
            "eos_token": self._tok.id_to_token(self.eos_token_id) if self.eos_token_id is not None else "",
        }
        return self._compiled_template.render(
            messages=messages, add_generation_prompt=add_generation_prompt, tools=tools, **special, **kwargs
        )

    # --- constructors ----------------------------------------------------------------------------
    @classmethod
    def from_gguf_metadata(cls, meta: dict) -> Tokenizer:
        """Build from GGUF metadata (``tokenizer.ggml.*``): byte-level BPE (``gpt2``) or SentencePiece
        (``llama``). Without ``tokenizer.chat_template``, an architecture's built-in template is used."""
        kind = meta.get("tokenizer.ggml.model")
        if kind == "gpt2":
            fast = _byte_level_bpe(meta)
            add_bos_default = False
        elif kind == "llama":
            fast = build_sentencepiece_tokenizer(meta)
            # llama.cpp's defaults for SentencePiece vocabularies: BOS added, <s> = 1, </s> = 2
            meta = {"tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2, **meta}
            add_bos_default = True
        else:
            raise ValueError(
                f"GGUF tokenizer model {kind!r} is not supported; supported: "
                "'gpt2' (byte-level BPE), 'llama' (SentencePiece)"
            )
        tokens: list[str] = meta["tokenizer.ggml.tokens"]
        template = meta.get("tokenizer.chat_template") or builtin_chat_template(
            meta.get("general.architecture")
        )
        return cls(
            fast,
            bos_token_id=_opt_int(meta.get("tokenizer.ggml.bos_token_id")),
            eos_token_ids=_end_of_generation_ids(meta, tokens),
            add_bos_token=bool(meta.get("tokenizer.ggml.add_bos_token", add_bos_default)),
            chat_template=template,
            pad_token_id=_opt_int(meta.get("tokenizer.ggml.padding_token_id")),
        )

    @classmethod
    def from_hf_folder(cls, folder: str | Path) -> Tokenizer:
        """Build from a Hugging Face folder with ``tokenizer.json`` (and ``tokenizer_config.json``)."""
        folder = Path(folder)
        tj = folder / "tokenizer.json"
        if not tj.exists():
            raise FileNotFoundError(f"{tj} not found: a fast tokenizer file is required")
        fast = _FastTokenizer.from_file(str(tj))
        fast.no_padding()
        fast.no_truncation()
        cfg = _read_json(folder / "tokenizer_config.json")
        gen = _read_json(folder / "generation_config.json")
        model_cfg = _read_json(folder / "config.json")

        def tok_id(value) -> int | None:
            if value is None:
                return None
            if isinstance(value, dict):
                value = value.get("content")
            return fast.token_to_id(value)

        bos = tok_id(cfg.get("bos_token"))
        if bos is None:
            bos = _opt_int(model_cfg.get("bos_token_id"))
        eos_ids: list[int] = []
        for source in (gen.get("eos_token_id"), model_cfg.get("eos_token_id")):
            if isinstance(source, int):
                eos_ids.append(source)
            elif isinstance(source, list):
                eos_ids.extend(int(x) for x in source)
        eos_cfg = tok_id(cfg.get("eos_token"))
        if eos_cfg is not None:
            eos_ids.insert(0, eos_cfg)
        template = cfg.get("chat_template")
        jinja = folder / "chat_template.jinja"
        if template is None and jinja.exists():
            template = jinja.read_text()
        if isinstance(template, list):  # [{"name": "default", "template": ...}, ...]
            template = next(
                (t["template"] for t in template if t.get("name") == "default"), template[0]["template"]
            )
        add_bos = bool(cfg.get("add_bos_token", False))
        return cls(
            fast,
            bos_token_id=bos,
            eos_token_ids=eos_ids,
            add_bos_token=add_bos,
            chat_template=template,
            pad_token_id=tok_id(cfg.get("pad_token")),
        )


def _opt_int(value) -> int | None:
    return None if value is None else int(value)


def _byte_level_bpe(meta: dict) -> _FastTokenizer:
    """A GGUF's byte-level BPE vocabulary (``tokenizer.ggml.tokens/merges``) as a fast tokenizer."""
    tokens: list[str] = meta["tokenizer.ggml.tokens"]
    merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
    types: list[int] = meta.get("tokenizer.ggml.token_type") or [1] * len(tokens)
    vocab = {t: i for i, t in enumerate(tokens)}
    bpe = models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False)
    fast = _FastTokenizer(bpe)
    fast.pre_tokenizer = _pre_tokenizer_for(meta.get("tokenizer.ggml.pre"))
    fast.decoder = decoders.ByteLevel()
    control = [
        AddedToken(t, special=True, normalized=False)
        for t, ty in zip(tokens, types, strict=False)
        if ty == _TOKEN_CONTROL
    ]
    user = [
        AddedToken(t, special=False, normalized=False)
        for t, ty in zip(tokens, types, strict=False)
        if ty == _TOKEN_USER_DEFINED
    ]
    if control:
        fast.add_special_tokens(control)
    if user:
        fast.add_tokens(user)
    return fast


def _end_of_generation_ids(meta: dict, tokens: list[str]) -> list[int]:
    """EOS first, then EOT/EOM and every token llama.cpp recognises by its text as ending generation
    (Gemma's ``<end_of_turn>`` next to its ``<eos>``; Qwen's ``<|endoftext|>`` next to ``<|im_end|>``)."""
    ids = [
        int(meta[key])
        for key in (
            "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.eot_token_id",
            "tokenizer.ggml.eom_token_id",
        )
        if meta.get(key) is not None
    ]
    ids.extend(i for i, t in enumerate(tokens) if t in _END_OF_GENERATION_TEXTS)
    return list(dict.fromkeys(ids))


def _read_json(path: Path) -> dict:
    if not path.exists():
        return {}
    with open(path) as f:
        return json.load(f)


def _compile_template(source: str):
    """Compile a chat template the way transformers does (sandboxed Jinja2 with its helpers)."""
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env.from_string(source)

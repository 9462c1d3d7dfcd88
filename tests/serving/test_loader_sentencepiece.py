"""SentencePiece ("llama") GGUF tokenizers: a hand-checked toy vocabulary, and Gemma 3's real one against
transformers' GGUF conversion and against llama.cpp's SPM algorithm (ported below); Gemma's chat template;
a grammar choice over Gemma's vocabulary."""

from __future__ import annotations

import heapq
import random
import time

import pytest
import torch

from splitsecond.serving import StructuredOutput
from splitsecond.serving.constrained.grammar import GrammarCompiler, bitmask_to_ids
from splitsecond.serving.loader.gguf_file import GGUFFile
from splitsecond.serving.loader.registry import resolve_model
from splitsecond.serving.loader.tokenizer import Tokenizer

# --- a reference: llama.cpp's SPM tokenizer (llama-vocab.cpp), ported line by line ----------------------


class LlamaCppSpm:
    """llama.cpp's ``tokenizer_st_partition`` (parse_special=true) + ``llm_tokenizer_spm_session``."""

    def __init__(self, tokens: list[str], scores: list[float], types: list[int], add_space_prefix: bool):
        self.tokens, self.scores, self.add_space_prefix = tokens, scores, add_space_prefix
        self.ids = {t: i for i, t in enumerate(tokens)}
        self.byte_ids = {
            int(t[3:5], 16): i for i, (t, ty) in enumerate(zip(tokens, types, strict=True)) if ty == 6
        }
        # control, user-defined and unknown tokens, longest first
        self.special = sorted(
            (i for i, ty in enumerate(types) if ty in (2, 3, 4)), key=lambda i: -len(tokens[i])
        )

    def encode(self, text: str) -> list[int]:
        fragments: list[str | int] = [text]
        for sid in self.special:
            cut: list[str | int] = []
            for f in fragments:
                if isinstance(f, int):
                    cut.append(f)
                    continue
                for k, part in enumerate(f.split(self.tokens[sid])):
                    cut.extend(([sid] if k else []) + ([part] if part else []))
            fragments = cut
        out: list[int] = []
        for f in fragments:
            if isinstance(f, int):
                out.append(f)
            else:  # every text fragment follows the start or a special token
                out.extend(self._spm((" " + f if self.add_space_prefix else f).replace(" ", "\u2581")))
        return out

    def _spm(self, text: str) -> list[int]:
        sym = [
            [i, 1, i - 1, i + 1 if i + 1 < len(text) else -1] for i in range(len(text))
        ]  # start, n, prev, next
        queue: list = []
        rev_merge: dict[str, tuple[int, int]] = {}

        def try_add_bigram(left: int, right: int) -> None:
            if left == -1 or right == -1:
                return
            piece = text[sym[left][0] : sym[left][0] + sym[left][1] + sym[right][1]]
            if piece in self.ids:
                heapq.heappush(queue, (-self.scores[self.ids[piece]], left, right, len(piece)))
                rev_merge[piece] = (left, right)

        for i in range(1, len(sym)):
            try_add_bigram(i - 1, i)
        while queue:
            _, left, right, size = heapq.heappop(queue)
            a, b = sym[left], sym[right]
            if a[1] == 0 or b[1] == 0 or a[1] + b[1] != size:
                continue
            a[1], b[1] = a[1] + b[1], 0
            a[3] = b[3]
            if b[3] != -1:
                sym[b[3]][2] = left
            try_add_bigram(a[2], left)
            try_add_bigram(left, a[3])
        out: list[int] = []

        def resegment(i: int) -> None:
            piece = text[sym[i][0] : sym[i][0] + sym[i][1]]
            if piece in self.ids:
                out.append(self.ids[piece])
            elif piece in rev_merge:
                resegment(rev_merge[piece][0])
                resegment(rev_merge[piece][1])
            else:
                out.extend(self.byte_ids[b] for b in piece.encode("utf-8"))

        i = 0 if sym else -1
        while i != -1:
            resegment(i)
            i = sym[i][3]
        return out


# --- a toy vocabulary, hand-checked -------------------------------------------------------------------

_SPECIAL = [
    ("<pad>", 3),
    ("<eos>", 3),
    ("<bos>", 3),
    ("<unk>", 2),
    ("<start_of_turn>", 3),
    ("<end_of_turn>", 3),
]
_USER = ["\n", "  "]  # user-defined, like Gemma's newline and space runs
_BYTE0 = len(_SPECIAL) + len(_USER)
_MERGED = [  # (token, score): higher score merges first
    ("bc", -1.0),
    ("ab", -2.0),
    ("ll", -4.0),
    ("he", -5.0),
    ("llo", -6.0),
    ("hello", -7.0),
    ("\u2581w", -8.0),
    ("or", -9.0),
    ("\u2581wor", -10.0),
    ("ld", -11.0),
    ("\u2581world", -12.0),
    ("\u2581hello", -13.0),
    ("yz", -14.0),
    ("xy", -15.0),
    ("xyz", -16.0),
]
_CHARS = ["\u2581", "a", "b", "c", "h", "e", "l", "o", "w", "r", "d", "x", "y", "z"]


def _toy_meta(add_space_prefix: bool) -> dict:
    tokens = [t for t, _ in _SPECIAL] + _USER + [f"<0x{b:02X}>" for b in range(256)]
    types = [ty for _, ty in _SPECIAL] + [4] * len(_USER) + [6] * 256
    scores = [0.0] * len(tokens)
    tokens += [t for t, _ in _MERGED] + _CHARS
    scores += [s for _, s in _MERGED] + [-20.0 - i for i in range(len(_CHARS))]
    types += [1] * (len(_MERGED) + len(_CHARS))
    return {
        "general.architecture": "llama",
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.scores": scores,
        "tokenizer.ggml.token_type": types,
        "tokenizer.ggml.bos_token_id": 2,
        "tokenizer.ggml.eos_token_id": 1,
        "tokenizer.ggml.unknown_token_id": 3,
        "tokenizer.ggml.add_space_prefix": add_space_prefix,
    }


@pytest.fixture(scope="module")
def toy() -> Tokenizer:
    return Tokenizer.from_gguf_metadata(_toy_meta(add_space_prefix=False))


def _ids(tok: Tokenizer, *pieces: str) -> list[int]:
    return [tok.token_to_id(p) for p in pieces]


def _enc(tok: Tokenizer, text: str) -> list[int]:
    return tok.encode(text, add_special_tokens=False)


def test_toy_merges_follow_scores_not_leftmost_longest(toy):
    assert _enc(toy, "hello world") == _ids(toy, "hello", "\u2581world")
    # "bc" outscores "ab": [a, bc], where a longest-match tokenizer would say [ab, c]
    assert _enc(toy, "abc") == _ids(toy, "a", "bc")
    # "xyz" is reached through y+z first, then x+yz: needs the merge (x, yz), not only (xy, z)
    assert _enc(toy, "xyz") == _ids(toy, "xyz")
    assert _enc(toy, "xyzxy") == _ids(toy, "xyz", "xy")


def test_toy_byte_fallback_spaces_and_special_tokens(toy):
    # é is not in the vocabulary: its two UTF-8 bytes, as byte tokens
    assert _enc(toy, "h\u00e9") == [toy.token_to_id("h"), _BYTE0 + 0xC3, _BYTE0 + 0xA9]
    assert _enc(toy, "a b") == _ids(toy, "a", "\u2581", "b")
    assert _enc(toy, "a  b") == _ids(toy, "a", "  ", "b")  # the user-defined space run is cut out first
    assert _enc(toy, "<start_of_turn>hello\n<end_of_turn>") == [4, *_ids(toy, "hello"), 6, 5]
    assert _enc(toy, "<unk>") == [3]
    assert toy.encode("hello") == [2, *_ids(toy, "hello")]  # BOS: llama.cpp's default for SentencePiece
    assert toy.eos_token_ids == [1, 5]  # <end_of_turn> ends generation too


def test_toy_decode_round_trip(toy):
    for text in [
        "hello world",
        "h\u00e9 \U0001f44b",
        "a  b\n\nc",
        "<start_of_turn>xyz<end_of_turn>",
        " lead",
    ]:
        assert toy.decode(_enc(toy, text), skip_special_tokens=False) == text
    assert toy.decode([2, 4, *_ids(toy, "hello"), 6, 5]) == "hello\n"  # control tokens skipped


def test_toy_space_prefix_before_every_text_fragment():
    tok = Tokenizer.from_gguf_metadata(_toy_meta(add_space_prefix=True))
    assert _enc(tok, "hello world") == _ids(tok, "\u2581hello", "\u2581world")
    # as llama.cpp: the space goes before every text fragment, also after a special token
    assert _enc(tok, "<start_of_turn>hello") == [4, *_ids(tok, "\u2581hello")]
    assert tok.decode(_enc(tok, "hello world")) == "hello world"


@pytest.mark.parametrize("add_space_prefix", [False, True])
def test_toy_matches_llama_cpp_on_random_text(add_space_prefix):
    meta = _toy_meta(add_space_prefix)
    tok = Tokenizer.from_gguf_metadata(meta)
    ref = LlamaCppSpm(
        meta["tokenizer.ggml.tokens"],
        meta["tokenizer.ggml.scores"],
        meta["tokenizer.ggml.token_type"],
        add_space_prefix,
    )
    rng = random.Random(0)
    alphabet = list("abcxyzhelowrd ") + ["\u00e9", "\n", "  ", "<eos>", "\u2581"]
    for _ in range(400):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        assert _enc(tok, text) == ref.encode(text), text


def test_unsupported_kind_is_one_clear_line():
    with pytest.raises(ValueError) as err:
        Tokenizer.from_gguf_metadata({"tokenizer.ggml.model": "bert"})
    assert "'gpt2'" in str(err.value) and "'llama'" in str(err.value) and "\n" not in str(err.value)


# --- Gemma 3's real vocabulary ------------------------------------------------------------------------

STRINGS = [
    "Hello world, how are you?",
    "Distance: 120 px (in range of LK). Opponent: recovering (12 frames).",
    "Opponent: jumping. Your HP: 87/100, meter 2.5 bars.",
    "Choose one action: LP, MP, HP, LK, walk_forward, walk_back, block high, block low.",
    "def step(state):\n    return max(state.hp - 12, 0)  # clamp\n",
    "for (int i = 0; i < n; ++i) { x[i] = i * 2; }",
    '{"action": "walk_forward", "frames": 12, "ok": true}',
    "12345678901234567890 3.14159 -0.5e-3",
    "  two leading spaces",
    "trailing spaces   ",
    "a  b   c    d     e",
    "tabs\tand\t\tdouble\ttabs",
    "line one\nline two\n\n\nafter three newlines",
    "windows\r\nline endings\r\n",
    "emoji \U0001f44b\U0001f3fd and \U0001f9d1\u200d\U0001f680 astronaut \U0001f977",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u4e2d\u6587\u6587\u672c\uff0c\ud55c\uad6d\uc5b4\ub3c4.",
    "na\u00efve caf\u00e9 \u2014 \u201cquotes\u201d and \u2018single\u2019 \u2026",
    "\u00dcn\u00efc\u00f6d\u00e9 \u00c0\u00c9\u00ce\u00d5\u00dc \u00df \u017f \ufb01",
    "e\u0301 combining accent, \u200b zero width",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5. \u0645\u0631\u062d\u0628\u0627",
    "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
    "<|im_start|>user\nhi<|im_end|>\n",
    "literal <0x0A> byte name",
    "x" * 40,
    "SELECT id, name FROM fighters WHERE hp > 50 ORDER BY speed DESC;",
    "https://example.com/path?query=1&b=2#frag",
    "snake_case_identifier camelCaseIdentifier SCREAMING_CASE",
    "\u03a9\u2248\u00e7\u221a\u222b\u02dc\u00b5\u2264\u2265\u00f7 \u00a1\u2122\u00a3\u00a2\u221e\u00a7\u00b6\u2022",
    "   ",
    "\n",
    "",
]
# A literal '▁' next to spaces: transformers' GGUF conversion respells Gemma's space-run tokens as '▁▁'...
# and so reads a literal '▁' as a space ("   ▁x" -> the 4-space token); llama.cpp keeps it a '▁'.
LITERAL_METASPACE = ["   \u2581x", "two  \u2581spaces", "\u2581already\u2581escaped", "a \u2581\u2581 b"]


def _gguf_or_skip(name: str) -> str:
    try:
        return str(resolve_model(name).path)
    except FileNotFoundError as e:
        pytest.skip(f"{name} is not installed: {e}")


@pytest.fixture(scope="module")
def gemma_meta() -> dict:
    return GGUFFile(_gguf_or_skip("gemma3-270m")).metadata


@pytest.fixture(scope="module")
def gemma_build(gemma_meta) -> tuple[Tokenizer, float]:
    start = time.perf_counter()
    tok = Tokenizer.from_gguf_metadata(gemma_meta)
    return tok, time.perf_counter() - start


@pytest.fixture(scope="module")
def gemma(gemma_build) -> Tokenizer:
    return gemma_build[0]


def test_gemma_builds_in_seconds(gemma_build):
    tok, seconds = gemma_build
    assert tok.vocab_size == 262144
    assert seconds < 10, f"building Gemma's tokenizer took {seconds:.1f} s (it runs on every engine start)"


def test_gemma_matches_transformers_and_llama_cpp(gemma, gemma_meta, transformers_gguf_tokenizer):
    reference = transformers_gguf_tokenizer(gemma_meta)
    llama_cpp = LlamaCppSpm(
        gemma_meta["tokenizer.ggml.tokens"],
        gemma_meta["tokenizer.ggml.scores"],
        gemma_meta["tokenizer.ggml.token_type"],
        add_space_prefix=False,
    )
    for text in STRINGS:
        ids = gemma.encode(text, add_special_tokens=False)
        assert ids == reference.encode(text, add_special_tokens=False).ids, text
        assert ids == llama_cpp.encode(text), text
        assert gemma.decode(ids, skip_special_tokens=False) == text
    for text in LITERAL_METASPACE:
        assert gemma.encode(text, add_special_tokens=False) == llama_cpp.encode(text), text


def test_gemma_special_tokens_and_end_of_turn(gemma):
    assert gemma.bos_token_id == 2 and gemma.add_bos_token
    assert gemma.eos_token_ids == [1, 106]  # <eos>, and <end_of_turn> closes an assistant turn
    assert gemma.encode("<start_of_turn>user\nhi") == [2, 105, 2364, 107, 2202]
    assert gemma.decode([2, 105, 2364, 107, 2202, 106]) == "user\nhi"
    assert gemma.decode([248]) == "\n"  # the byte token <0x0A>


def test_gemma_chat_template_and_a_single_bos(gemma):
    messages = [
        {"role": "system", "content": "You are a fighter."},
        {"role": "user", "content": "Distance: 120 px."},
        {"role": "assistant", "content": "LP"},
        {"role": "user", "content": "Now? "},
    ]
    text = gemma.apply_chat_template(messages)
    assert text == (
        "<bos><start_of_turn>user\nYou are a fighter.\n\nDistance: 120 px.<end_of_turn>\n"
        "<start_of_turn>model\nLP<end_of_turn>\n"
        "<start_of_turn>user\nNow?<end_of_turn>\n"
        "<start_of_turn>model\n"
    )
    ids = gemma.encode(text)
    assert ids[:2] == [2, 105] and ids.count(2) == 1
    with pytest.raises(Exception, match="alternate"):
        gemma.apply_chat_template([{"role": "assistant", "content": "x"}])


def test_gemma_choice_grammar_yields_exactly_an_option(gemma):
    # "walk_forward" is walk + _ + forward: "_" has a byte-fallback twin <0x5F>, which the grammar must
    # not let llguidance confuse with it when "_" is forced after "walk".
    options = ["LP", "walk_forward", "block high", "walk_back", "x\ny"]
    compiler = GrammarCompiler(gemma)
    grammar = compiler.compile(StructuredOutput(choice=options))
    canonical = {o: gemma.encode(o, add_special_tokens=False) for o in options}
    mask = torch.zeros(1, (compiler.vocab_size + 31) // 32, dtype=torch.int32)

    def allowed(matcher) -> set[int]:
        matcher.fill_bitmask(mask, 0)
        return set(bitmask_to_ids(mask[0], compiler.vocab_size).tolist())

    def with_byte_twin(token_id: int) -> set[int]:  # "x" may also be spelled <0x78>
        text = gemma.decode([token_id])
        return (
            {token_id, gemma.token_to_id(f"<0x{ord(text):02X}>")} if len(text.encode()) == 1 else {token_id}
        )

    first = set().union(*(with_byte_twin(ids[0]) for ids in canonical.values()))
    for option, ids in canonical.items():
        matcher = compiler.matcher(grammar)
        assert allowed(matcher) == first
        out: list[int] = []
        while len(out) < len(ids):  # the option's next token, or what the grammar forces
            step = matcher.forced_tokens() or [ids[len(out)]]
            assert all(matcher.accept(t) for t in step), matcher.error
            out += step
        assert out == ids and gemma.decode(out) == option and matcher.is_accepting
        if not matcher.is_stopped:  # "walk_..." options share a prefix; a finished option may end here
            assert set(gemma.eos_token_ids) & allowed(matcher)

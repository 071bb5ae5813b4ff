"""Byte-level BPE tokenizer in the GPT-2 / SmolLM2 style, trained from scratch on the generated data.

- Text is first split so that every digit is its own piece (Hugging Face `Digits(individual_digits=true)`), then each
  piece is split with the GPT-2 pattern (`ByteLevel(use_regex=true)`), then each resulting word is mapped byte by byte
  to printable characters (GPT-2's bytes_to_unicode) and merged with the learned merges, lowest rank first.
  In GGUF terms: tokenizer.ggml.model = gpt2, tokenizer.ggml.pre = smollm.
- Special tokens <|endoftext|>, <|im_start|>, <|im_end|> have ids 0, 1, 2; they are matched in the text before any
  splitting. Then come the 256 single-byte tokens (in byte order), then one token per merge.

About the pattern: the reference pattern is
    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
Python's `re` has no \\p{..} classes, so ASCII_PRETOKENIZE_PATTERN below spells \\p{L} as [A-Za-z] and \\p{N} as [0-9].
On ASCII text the two patterns split identically (the only ASCII letters are A-Z, a-z and the only ASCII numbers are
0-9); the training data is ASCII only, which `encode` checks. Non-ASCII input is still encoded losslessly (byte
level), but may be split differently from the reference, so this module is for training and evaluation, not for
serving (ponder's C++ tokenizer implements the full Unicode pattern).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]
SPECIAL_PATTERN = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")
DIGIT_PATTERN = re.compile(r"([0-9])")
ASCII_PRETOKENIZE_PATTERN = re.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")

CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


@lru_cache(maxsize=None)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable unicode characters (space becomes 'Ġ', newline 'Ċ')."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def pretokenize(text: str) -> list[str]:
    """Splits text without special tokens into words, each already mapped to byte-level characters."""
    byte_chars = bytes_to_unicode()
    words = []
    for piece in DIGIT_PATTERN.split(text):
        if not piece:
            continue
        for word in ASCII_PRETOKENIZE_PATTERN.findall(piece):
            words.append("".join(byte_chars[b] for b in word.encode("utf-8")))
    return words


def train_bpe(texts: list[str], vocab_size: int) -> list[tuple[str, str]]:
    """Learns vocab_size - 3 - 256 merges from word frequencies. Ties go to the lexicographically smallest pair, so
    the result depends only on the texts."""
    word_counts: Counter[str] = Counter()
    for text in texts:
        for part in SPECIAL_PATTERN.split(text):
            if part and part not in SPECIAL_TOKENS:
                word_counts.update(pretokenize(part))
    words = [list(word) for word in word_counts]
    counts = list(word_counts.values())
    merges: list[tuple[str, str]] = []
    target = vocab_size - len(SPECIAL_TOKENS) - 256
    while len(merges) < target:
        pair_counts: Counter[tuple[str, str]] = Counter()
        for symbols, count in zip(words, counts):
            for pair in zip(symbols, symbols[1:]):
                pair_counts[pair] += count
        if not pair_counts:
            break
        best_count = max(pair_counts.values())
        best = min(pair for pair, count in pair_counts.items() if count == best_count)
        merges.append(best)
        merged = best[0] + best[1]
        for symbols in words:
            i = 0
            while i < len(symbols) - 1:
                if symbols[i] == best[0] and symbols[i + 1] == best[1]:
                    symbols[i:i + 2] = [merged]
                i += 1
    return merges


class Tokenizer:
    def __init__(self, merges: list[tuple[str, str]]):
        self.merges = merges
        self.merge_rank = {pair: rank for rank, pair in enumerate(merges)}
        tokens = SPECIAL_TOKENS + [bytes_to_unicode()[b] for b in range(256)] + [a + b for a, b in merges]
        self.id_to_token = tokens
        self.token_to_id = {token: i for i, token in enumerate(tokens)}
        assert len(self.token_to_id) == len(tokens), "duplicate token"
        self.byte_of_char = {c: b for b, c in bytes_to_unicode().items()}
        self._word_cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        return len(self.id_to_token)

    def special_id(self, token: str) -> int:
        return self.token_to_id[token]

    def _encode_word(self, word: str) -> list[int]:
        cached = self._word_cache.get(word)
        if cached is not None:
            return cached
        symbols = list(word)
        while len(symbols) > 1:
            ranked = [(self.merge_rank.get(pair, len(self.merges)), i)
                      for i, pair in enumerate(zip(symbols, symbols[1:]))]
            rank, i = min(ranked)
            if rank == len(self.merges):
                break
            symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
        ids = [self.token_to_id[s] for s in symbols]
        self._word_cache[word] = ids
        return ids

    def encode(self, text: str, allow_special: bool = True) -> list[int]:
        """Token ids of text; special-token strings become their ids when allow_special. No BOS is added."""
        if not text.isascii():
            raise ValueError("the training tokenizer splits only ASCII text exactly like the reference")
        ids: list[int] = []
        parts = SPECIAL_PATTERN.split(text) if allow_special else [text]
        for part in parts:
            if not part:
                continue
            if allow_special and part in SPECIAL_TOKENS:
                ids.append(self.token_to_id[part])
                continue
            for word in pretokenize(part):
                ids.extend(self._encode_word(word))
        return ids

    def decode(self, ids: list[int]) -> str:
        out = bytearray()
        for i in ids:
            token = self.id_to_token[i]
            if token in SPECIAL_TOKENS:
                out.extend(token.encode("utf-8"))
            else:
                out.extend(self.byte_of_char[c] for c in token)
        return out.decode("utf-8", errors="replace")

    # -- Hugging Face files ------------------------------------------------------------------------------------------

    def tokenizer_json(self) -> dict:
        added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True} for i, t in enumerate(SPECIAL_TOKENS)]
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": True},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            ]},
            "post_processor": None,
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {
                "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                "vocab": {t: i for i, t in enumerate(self.id_to_token)},
                "merges": [f"{a} {b}" for a, b in self.merges],
            },
        }

    def tokenizer_config_json(self) -> dict:
        return {
            "add_bos_token": False,
            "add_eos_token": False,
            "added_tokens_decoder": {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                              "single_word": False, "special": True}
                                     for i, t in enumerate(SPECIAL_TOKENS)},
            "bos_token": IM_START,
            "eos_token": IM_END,
            "pad_token": IM_END,
            "unk_token": ENDOFTEXT,
            "chat_template": CHATML_TEMPLATE,
            "clean_up_tokenization_spaces": False,
            "model_max_length": 2048,
            "tokenizer_class": "GPT2Tokenizer",
        }

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "tokenizer.json").write_text(json.dumps(self.tokenizer_json(), ensure_ascii=False, indent=1))
        (directory / "tokenizer_config.json").write_text(json.dumps(self.tokenizer_config_json(), indent=2))

    @classmethod
    def load(cls, directory: Path) -> "Tokenizer":
        data = json.loads((directory / "tokenizer.json").read_text())
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in data["model"]["merges"]]
        tokenizer = cls(merges)  # type: ignore[arg-type]
        assert tokenizer.token_to_id == data["model"]["vocab"], "vocab does not follow specials, bytes, merges"
        return tokenizer

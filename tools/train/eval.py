#!/usr/bin/python3
"""Measures an exported demo model (Hugging Face directory) on the held-out word problems.

    /usr/bin/python3 tools/train/eval.py tools/train/model [--eval tools/train/eval.jsonl] [--limit N]

Independent of the training code on purpose: it reads model.safetensors, config.json and tokenizer.json itself and
runs its own forward pass (with a KV cache), so a mistake in the export shows up here. Measured, as ponder does it:

- quick:       greedy decoding, the question as the only user turn (no system prompt);
- contemplate: 5 chains sampled at temperature 0.7 with the reasoning system prompt; the `Answer:` numbers are
               majority-voted ("vote"); "checked vote" first drops chains that contain a false equation `a op b = c`
               (ponder's arithmetic check), falling back to all chains when every chain has one.
Ties in a vote go to the answer that reached the top count first. Sampling is seeded per problem.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

import argparse
import json
import math
import re
import struct
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

REASONING_SYSTEM_PROMPT = (
    'Think step by step. Write each calculation as an equation, then give the final answer on a last line that '
    'starts with "Answer:".'
)
ANSWER_PATTERN = re.compile(r"Answer:\s*(-?\d+)")
EQUATION_PATTERN = re.compile(r"(-?\d+)\s*([-+*])\s*(-?\d+)\s*=\s*(-?\d+)")


# --------------------------------------------------------------------------------------------------------------------
# Loading.
# --------------------------------------------------------------------------------------------------------------------

def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    raw = path.read_bytes()
    (header_length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_length])
    base = 8 + header_length
    dtypes = {"F32": np.float32, "F16": np.float16}
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(raw[base + start:base + end], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
        tensors[name] = torch.from_numpy(array.astype(np.float32))
    return tensors


class ByteLevelBPE:
    """Encoder for the exported tokenizer.json: specials, then digits split one by one, then the GPT-2 pattern (in its
    ASCII form: equal to the \\p{L}/\\p{N} pattern on ASCII text), then byte-level BPE by merge rank."""

    WORD_PATTERN = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")

    def __init__(self, tokenizer_json: dict):
        model = tokenizer_json["model"]
        assert model["type"] == "BPE"
        self.vocab: dict[str, int] = model["vocab"]
        self.tokens = {i: t for t, i in self.vocab.items()}
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
        self.ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.specials = {t["content"]: t["id"] for t in tokenizer_json["added_tokens"]}
        self.special_pattern = re.compile("(" + "|".join(map(re.escape, self.specials)) + ")")
        # GPT-2's byte <-> printable character table.
        printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
        chars = printable + [256 + n for n in range(256 - len(printable))]
        order = printable + [b for b in range(256) if b not in printable]
        self.byte_char = {b: chr(c) for b, c in zip(order, chars)}
        self.char_byte = {c: b for b, c in self.byte_char.items()}
        self.cache: dict[str, list[int]] = {}

    def _bpe(self, word: str) -> list[int]:
        if word not in self.cache:
            parts = list(word)
            while len(parts) > 1:
                rank, i = min((self.ranks.get(p, math.inf), i) for i, p in enumerate(zip(parts, parts[1:])))
                if rank == math.inf:
                    break
                parts[i:i + 2] = [parts[i] + parts[i + 1]]
            self.cache[word] = [self.vocab[p] for p in parts]
        return self.cache[word]

    def encode(self, text: str) -> list[int]:
        ids = []
        for part in self.special_pattern.split(text):
            if part in self.specials:
                ids.append(self.specials[part])
                continue
            for piece in re.split(r"([0-9])", part):
                for word in self.WORD_PATTERN.findall(piece):
                    ids += self._bpe("".join(self.byte_char[b] for b in word.encode("utf-8")))
        return ids

    def decode(self, ids: list[int]) -> str:
        data = bytearray()
        for i in ids:
            token = self.tokens[i]
            data += token.encode() if token in self.specials else bytes(self.char_byte[c] for c in token)
        return data.decode("utf-8", errors="replace")


def chat_prompt(messages: list[dict]) -> str:
    """ChatML with the generation prompt, as the exported chat_template renders it."""
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return text + "<|im_start|>assistant\n"


# --------------------------------------------------------------------------------------------------------------------
# Forward pass with a KV cache, written directly against the Hugging Face tensor names.
# --------------------------------------------------------------------------------------------------------------------

class Llama:
    def __init__(self, directory: Path):
        self.config = json.loads((directory / "config.json").read_text())
        self.w = read_safetensors(directory / "model.safetensors")
        c = self.config
        self.layers = c["num_hidden_layers"]
        self.heads, self.kv_heads = c["num_attention_heads"], c["num_key_value_heads"]
        self.head_dim = c.get("head_dim") or c["hidden_size"] // self.heads
        self.eps = c["rms_norm_eps"]
        self.embed = self.w["model.embed_tokens.weight"]
        self.output = self.embed if c.get("tie_word_embeddings") else self.w["lm_head.weight"]
        half = self.head_dim // 2
        inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(half, dtype=torch.float64) * 2 / self.head_dim))
        angles = torch.arange(c["max_position_embeddings"], dtype=torch.float64)[:, None] * inv_freq[None]
        self.cos, self.sin = angles.cos().float(), angles.sin().float()  # (positions, half)
        self.parameter_count = sum(t.numel() for t in self.w.values())

    def rms_norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * weight

    def rope(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """Rotate-half convention: dimension i pairs with i + head_dim/2."""
        length = x.shape[2]
        cos, sin = self.cos[start:start + length], self.sin[start:start + length]
        first, second = x[..., : self.head_dim // 2], x[..., self.head_dim // 2:]
        return torch.cat([first * cos - second * sin, second * cos + first * sin], dim=-1)

    def step(self, ids: torch.Tensor, cache: list, start: int) -> torch.Tensor:
        """Logits for the last position of ids (batch, new_tokens); appends keys/values to cache."""
        batch, length = ids.shape
        x = self.embed[ids]
        for n in range(self.layers):
            p = f"model.layers.{n}."
            h = self.rms_norm(x, self.w[p + "input_layernorm.weight"])
            q = (h @ self.w[p + "self_attn.q_proj.weight"].T).view(batch, length, self.heads, -1).transpose(1, 2)
            k = (h @ self.w[p + "self_attn.k_proj.weight"].T).view(batch, length, self.kv_heads, -1).transpose(1, 2)
            v = (h @ self.w[p + "self_attn.v_proj.weight"].T).view(batch, length, self.kv_heads, -1).transpose(1, 2)
            q, k = self.rope(q, start), self.rope(k, start)
            if len(cache) <= n:
                cache.append((k, v))
            else:
                cache[n] = (torch.cat([cache[n][0], k], 2), torch.cat([cache[n][1], v], 2))
            keys, values = cache[n]
            group = self.heads // self.kv_heads
            keys = keys.repeat_interleave(group, dim=1)
            values = values.repeat_interleave(group, dim=1)
            scores = q @ keys.transpose(-1, -2) / math.sqrt(self.head_dim)
            total = keys.shape[2]
            # Causal mask among the new positions (earlier cached positions are all visible).
            mask = torch.ones(length, total, dtype=torch.bool).triu(total - length + 1)
            scores = scores.masked_fill(mask, float("-inf"))
            attended = (torch.softmax(scores, -1) @ values).transpose(1, 2).reshape(batch, length, -1)
            x = x + attended @ self.w[p + "self_attn.o_proj.weight"].T
            h = self.rms_norm(x, self.w[p + "post_attention_layernorm.weight"])
            gate = torch.nn.functional.silu(h @ self.w[p + "mlp.gate_proj.weight"].T)
            x = x + (gate * (h @ self.w[p + "mlp.up_proj.weight"].T)) @ self.w[p + "mlp.down_proj.weight"].T
        x = self.rms_norm(x[:, -1], self.w["model.norm.weight"])
        return x @ self.output.T

    @torch.no_grad()
    def generate(self, prompt_ids: list[int], chains: int, temperature: float, stop_ids: set[int],
                 max_new_tokens: int, generator: torch.Generator | None) -> list[list[int]]:
        cache: list = []
        logits = self.step(torch.tensor([prompt_ids]), cache, 0)
        cache = [(k.expand(chains, -1, -1, -1), v.expand(chains, -1, -1, -1)) for k, v in cache]
        logits = logits.expand(chains, -1)
        outputs: list[list[int]] = [[] for _ in range(chains)]
        finished = [False] * chains
        position = len(prompt_ids)
        for _ in range(max_new_tokens):
            if temperature == 0:
                next_ids = logits.argmax(-1)
            else:
                probabilities = torch.softmax(logits / temperature, -1)
                next_ids = torch.multinomial(probabilities, 1, generator=generator)[:, 0]
            for i, token in enumerate(next_ids.tolist()):
                if not finished[i]:
                    if token in stop_ids:
                        finished[i] = True
                    else:
                        outputs[i].append(token)
            if all(finished) or position + 1 >= self.config["max_position_embeddings"]:
                break
            logits = self.step(next_ids[:, None], cache, position)
            position += 1
        return outputs


# --------------------------------------------------------------------------------------------------------------------
# Scoring.
# --------------------------------------------------------------------------------------------------------------------

def extract_answer(text: str) -> str | None:
    found = ANSWER_PATTERN.findall(text)
    return found[-1] if found else None


def equations_hold(text: str) -> bool:
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
    return all(ops[op](int(a), int(b)) == int(c) for a, op, b, c in EQUATION_PATTERN.findall(text))


def majority(answers: list[str | None]) -> str | None:
    counts: Counter[str] = Counter()
    best, best_count = None, 0
    for answer in answers:
        if answer is None:
            continue
        counts[answer] += 1
        if counts[answer] > best_count:
            best, best_count = answer, counts[answer]
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="exported Hugging Face directory")
    parser.add_argument("--eval", type=Path, default=Path(__file__).resolve().parent / "eval.jsonl")
    parser.add_argument("--limit", type=int, default=0, help="only the first N problems")
    parser.add_argument("--chains", type=int, default=5)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-contemplate", action="store_true")
    parser.add_argument("--show", type=int, default=3, help="print this many worked examples")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(2)

    model = Llama(args.model)
    tokenizer = ByteLevelBPE(json.loads((args.model / "tokenizer.json").read_text()))
    stop_ids = {tokenizer.specials["<|im_end|>"], tokenizer.specials["<|endoftext|>"]}
    problems = [json.loads(line) for line in args.eval.read_text().splitlines() if line.strip()]
    if args.limit:
        problems = problems[: args.limit]
    print(f"{args.model}: {model.parameter_count:,} parameters; {len(problems)} problems", flush=True)

    started = time.time()
    tally: Counter[str] = Counter()
    by_steps: dict[int, Counter[str]] = {}
    for index, problem in enumerate(problems):
        question, expected = problem["question"], problem["answer"]
        steps_tally = by_steps.setdefault(problem.get("steps", 0), Counter())
        quick_ids = tokenizer.encode(chat_prompt([{"role": "user", "content": question}]))
        quick_text = tokenizer.decode(model.generate(quick_ids, 1, 0.0, stop_ids, args.max_new_tokens, None)[0])
        results = {"quick": extract_answer(quick_text) == expected}
        if not args.skip_contemplate:
            generator = torch.Generator().manual_seed(args.seed * 1_000_003 + index)
            prompt = chat_prompt([{"role": "system", "content": REASONING_SYSTEM_PROMPT},
                                  {"role": "user", "content": question}])
            chains = [tokenizer.decode(ids) for ids in model.generate(
                tokenizer.encode(prompt), args.chains, args.temperature, stop_ids, args.max_new_tokens, generator)]
            answers = [extract_answer(c) for c in chains]
            checked = [a for a, c in zip(answers, chains) if equations_hold(c)] or answers
            results["vote"] = majority(answers) == expected
            results["checked_vote"] = majority(checked) == expected
            results["chain"] = sum(a == expected for a in answers) / len(answers)
            results["any_chain"] = expected in answers
        for key, value in results.items():
            tally[key] += value
            steps_tally[key] += value
        steps_tally["n"] += 1
        if index < args.show:
            print(f"--- {question}\nexpected {expected}; quick:\n{quick_text}", flush=True)
        if (index + 1) % 25 == 0:
            figures = " ".join(f"{k} {100 * v / (index + 1):.1f}%" for k, v in tally.items())
            print(f"[{index + 1}/{len(problems)}] {figures} ({time.time() - started:.0f}s)", flush=True)

    n = len(problems)
    summary = {key: round(100 * value / n, 1) for key, value in tally.items()}
    summary["problems"] = n
    summary["by_steps"] = {steps: {k: round(100 * v / t["n"], 1) for k, v in t.items() if k != "n"} | {"n": t["n"]}
                           for steps, t in sorted(by_steps.items())}
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()

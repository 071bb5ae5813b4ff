#!/usr/bin/python3
"""Trains ponder's built-in demo model from scratch on CPU and exports it in Hugging Face form.

    /usr/bin/python3 tools/train/train.py --out tools/train/out/run1

does everything, deterministically: generates the synthetic chats (gen_data.py), trains the byte-level BPE tokenizer
(bpe.py), trains a small llama-architecture decoder with the loss on assistant tokens only, saves checkpoints
(resumable with --resume), and exports OUT/hf (F32) and OUT/hf-f16 (F16, the one ponder ships): config.json,
model.safetensors, tokenizer.json, tokenizer_config.json. Then run eval.py on the export.

Only Debian's python3-torch and python3-numpy are needed; it uses at most 2 CPU threads.
"""

from __future__ import annotations

import os

# Two threads at most, for OpenBLAS/OpenMP too (they read these before torch is imported). The machine is shared.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "2")
# Sleep rather than spin while waiting for the other thread: with the cores shared, spinning threads were measured to
# make steps up to 4x slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import math
import random
import struct
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bpe  # noqa: E402
import gen_data  # noqa: E402

VALIDATION_SEED = 991


# --------------------------------------------------------------------------------------------------------------------
# Model: llama architecture (RMSNorm, rotate-half RoPE as in Hugging Face, grouped-query attention, SwiGLU FFN).
# --------------------------------------------------------------------------------------------------------------------

@dataclass
class ModelConfig:
    vocab_size: int = 1024
    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    max_position_embeddings: int = 1024
    tie_word_embeddings: bool = True

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(config: ModelConfig, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, config.head_dim, 2, dtype=torch.float32) / config.head_dim))
    angles = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)  # Hugging Face layout: first half and second half share a frequency
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


class Attention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = config.num_attention_heads, config.num_key_value_heads, config.head_dim
        self.q_proj = nn.Linear(config.hidden_size, self.heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(config.hidden_size, self.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(config.hidden_size, self.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.heads * self.head_dim, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, causal_mask: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        q = self.q_proj(x).view(batch, length, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(batch, length, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(batch, length, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k, v = self._share_kv(k), self._share_kv(v)
        scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim))
        scores = scores.masked_fill(causal_mask, float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v
        return self.o_proj(out.transpose(1, 2).reshape(batch, length, -1))

    def _share_kv(self, kv: torch.Tensor) -> torch.Tensor:
        """Grouped-query attention: query head h uses key/value head h // group, as in Hugging Face. (Same as
        repeat_interleave on dim 1, whose backward is much slower on CPU.)"""
        batch, _, length, head_dim = kv.shape
        group = self.heads // self.kv_heads
        return kv[:, :, None].expand(batch, self.kv_heads, group, length, head_dim).reshape(
            batch, self.heads, length, head_dim)


class FeedForward(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = FeedForward(config)

    def forward(self, x, cos, sin, causal_mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, causal_mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    """Parameter names follow Hugging Face's LlamaForCausalLM minus the "model." prefix, so export is a rename."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.lm_head = None if config.tie_word_embeddings else nn.Linear(config.hidden_size, config.vocab_size, False)
        cos, sin = rope_tables(config, config.max_position_embeddings)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self._init_weights()

    def _init_weights(self) -> None:
        # GPT-2 style: N(0, 0.02), with the projections that write into the residual stream scaled down by depth.
        residual_std = 0.02 / math.sqrt(2 * self.config.num_hidden_layers)
        for name, param in self.named_parameters():
            if param.dim() < 2:
                continue
            std = residual_std if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
            nn.init.normal_(param, mean=0.0, std=std)

    def output_weight(self) -> torch.Tensor:
        return self.embed_tokens.weight if self.lm_head is None else self.lm_head.weight

    def hidden_states(self, ids: torch.Tensor) -> torch.Tensor:
        length = ids.shape[1]
        cos, sin = self.rope_cos[:length], self.rope_sin[:length]
        causal_mask = torch.ones(length, length, dtype=torch.bool).triu(1)
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, cos, sin, causal_mask)
        return self.norm(x)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.hidden_states(ids) @ self.output_weight().t()

    def loss(self, ids: torch.Tensor, targets: torch.Tensor, loss_weight: torch.Tensor) -> torch.Tensor:
        """Cross-entropy averaged over the positions with a loss weight (the assistant's tokens), weighted by it;
        logits only where needed."""
        trained = loss_weight > 0
        weight = loss_weight[trained]
        logits = self.hidden_states(ids)[trained] @ self.output_weight().t()
        if bool((weight == 1).all()):
            # The plain mean, computed as it always was, so that the shipped model's recipe stays bit-reproducible.
            return F.cross_entropy(logits, targets[trained])
        return (F.cross_entropy(logits, targets[trained], reduction="none") * weight).sum() / weight.sum()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------------------------------
# Data: chats rendered with the ChatML template, loss on what the assistant says (its content and <|im_end|>).
# --------------------------------------------------------------------------------------------------------------------

def chatml_text(messages: list[dict]) -> str:
    return "".join(f"{bpe.IM_START}{m['role']}\n{m['content']}{bpe.IM_END}\n" for m in messages)


def encode_conversation(tokenizer: bpe.Tokenizer, messages: list[dict],
                        weight: float = 1.0) -> tuple[list[int], list[float]]:
    """Token ids of the rendered chat and, per token, its weight in the loss: `weight` for what the model is trained
    to produce (or the message's own "weight"), 0 for the rest. The pieces are encoded one by one;
    check_segment_encoding shows that equals encoding the whole text (as ponder does)."""
    ids: list[int] = []
    trained: list[float] = []

    def add(text: str, train_on: bool, piece_weight: float = weight) -> None:
        piece = tokenizer.encode(text)
        ids.extend(piece)
        trained.extend([piece_weight if train_on else 0.0] * len(piece))

    for m in messages:
        add(f"{bpe.IM_START}{m['role']}\n", False)
        is_assistant = m["role"] == "assistant"
        add(m["content"], is_assistant, m.get("weight", weight))
        add(bpe.IM_END, is_assistant, m.get("weight", weight))  # the model must learn to end its turn
        add("\n", False)
    return ids, trained


def check_segment_encoding(tokenizer: bpe.Tokenizer, conversations: list[dict]) -> None:
    for conversation in conversations:
        ids, _ = encode_conversation(tokenizer, conversation["messages"])
        assert ids == tokenizer.encode(chatml_text(conversation["messages"])), conversation


class Batches:
    """Shuffled batches of conversations of similar length (so little is padding), from a seeded generator.
    Each batch holds about `batch_tokens` tokens including padding."""

    def __init__(self, encoded: list[tuple[np.ndarray, np.ndarray]], batch_tokens: int, seed: int, pad_id: int):
        self.encoded, self.batch_tokens, self.pad_id = encoded, batch_tokens, pad_id
        self.rng = np.random.default_rng(seed)
        self.queue: list[list[int]] = []
        self.epoch = 0

    def _refill(self) -> None:
        order = self.rng.permutation(len(self.encoded))
        self.epoch += 1
        pool_size = 4096  # sort by length within pools of this many, so batches stay random
        batches = []
        for start in range(0, len(order), pool_size):
            pool = sorted(order[start:start + pool_size], key=lambda i: len(self.encoded[i][0]))
            batch: list[int] = []
            longest = 0
            for index in pool:
                length = len(self.encoded[index][0])
                if batch and max(longest, length) * (len(batch) + 1) > self.batch_tokens:
                    batches.append(batch)
                    batch, longest = [], 0
                batch.append(index)
                longest = max(longest, length)
            if batch:
                batches.append(batch)
        self.rng.shuffle(batches)
        self.queue = batches

    def next(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not self.queue:
            self._refill()
        return collate([self.encoded[i] for i in self.queue.pop()], self.pad_id)


def collate(items: list[tuple[np.ndarray, np.ndarray]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded inputs, next-token targets and the loss weights. Padding is at the end, so under the causal mask it
    never influences real positions and needs no attention mask of its own."""
    length = max(len(ids) for ids, _ in items) - 1
    inputs = np.full((len(items), length), pad_id, dtype=np.int64)
    targets = np.full((len(items), length), pad_id, dtype=np.int64)
    mask = np.zeros((len(items), length), dtype=np.float32)
    for row, (ids, trained) in enumerate(items):
        n = len(ids) - 1
        inputs[row, :n] = ids[:-1]
        targets[row, :n] = ids[1:]
        mask[row, :n] = trained[1:]
    return torch.from_numpy(inputs), torch.from_numpy(targets), torch.from_numpy(mask)


# --------------------------------------------------------------------------------------------------------------------
# Export in Hugging Face form.
# --------------------------------------------------------------------------------------------------------------------

def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """The safetensors format: an 8-byte little-endian header length, a JSON header giving each tensor's dtype, shape
    and byte range in the data block, then the raw little-endian tensor data. Tensors are written in name order."""
    dtype_names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
    header: dict[str, dict] = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().contiguous().cpu()
        data = tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16 else tensor.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": dtype_names[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)  # align the data block to 8 bytes, as the reference writer does
    with path.open("wb") as out:
        out.write(struct.pack("<Q", len(header_bytes)))
        out.write(header_bytes)
        for data in blobs:
            out.write(data)


def hf_config(config: ModelConfig, tokenizer: bpe.Tokenizer, dtype: str) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size,
        "num_hidden_layers": config.num_hidden_layers,
        "num_attention_heads": config.num_attention_heads,
        "num_key_value_heads": config.num_key_value_heads,
        "head_dim": config.head_dim,
        "hidden_act": "silu",
        "rms_norm_eps": config.rms_norm_eps,
        "rope_theta": config.rope_theta,
        "rope_scaling": None,
        "max_position_embeddings": config.max_position_embeddings,
        "vocab_size": config.vocab_size,
        "tie_word_embeddings": config.tie_word_embeddings,
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": tokenizer.special_id(bpe.IM_START),
        "eos_token_id": tokenizer.special_id(bpe.IM_END),
        "pad_token_id": tokenizer.special_id(bpe.IM_END),
        "torch_dtype": dtype,
        "initializer_range": 0.02,
        "use_cache": True,
    }


def export_hf(model: LlamaModel, tokenizer: bpe.Tokenizer, directory: Path, dtype: torch.dtype) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for name, param in model.state_dict().items():
        hf_name = name if name.startswith("lm_head.") else "model." + name
        tensors[hf_name] = param.to(dtype)
    dtype_name = {torch.float32: "float32", torch.float16: "float16"}[dtype]
    write_safetensors(directory / "model.safetensors", tensors, {"format": "pt"})
    (directory / "config.json").write_text(json.dumps(hf_config(model.config, tokenizer, dtype_name), indent=2) + "\n")
    (directory / "generation_config.json").write_text(json.dumps({
        "bos_token_id": tokenizer.special_id(bpe.IM_START), "eos_token_id": tokenizer.special_id(bpe.IM_END)},
        indent=2) + "\n")
    tokenizer.save(directory)


# --------------------------------------------------------------------------------------------------------------------
# Training.
# --------------------------------------------------------------------------------------------------------------------

@dataclass
class TrainConfig:
    train_examples: int = gen_data.DEFAULT_TRAIN_EXAMPLES
    data_mix: str = "base"            # gen_data.MIXES: "base", or "verify-solutions" for the second stage
    own_verify: str = ""              # verifier conversations from the model's own candidates (verifier_data.py)
    own_verify_share: float = 0.3     # their share of the training conversations, repeated as needed
    own_verify_weight: float = 1.0    # their loss weight: a verdict is two tokens beside a solution's forty
    tokenizer_sample: int = 20_000   # conversations the BPE merges are learned from
    vocab_size: int = 1024
    steps: int = 3200
    batch_tokens: int = 3072          # per optimizer step, padding included
    learning_rate: float = 4e-3
    min_learning_rate: float = 3e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 1234
    validation_examples: int = 1000
    log_every: int = 50
    validate_every: int = 400
    checkpoint_every: int = 400


def learning_rate_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.min_learning_rate + 0.5 * (cfg.learning_rate - cfg.min_learning_rate) * (1 + math.cos(math.pi * progress))


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    decayed = [p for p in model.parameters() if p.dim() >= 2]  # matrices and the embedding; not the norm gains
    plain = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decayed, "weight_decay": cfg.weight_decay},
                              {"params": plain, "weight_decay": 0.0}],
                             lr=cfg.learning_rate, betas=(0.9, 0.95), eps=1e-8, foreach=True)


@torch.no_grad()
def validation_loss(model: LlamaModel, encoded: list, pad_id: int, batch_size: int = 64) -> float:
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(encoded), batch_size):
        inputs, targets, mask = collate(encoded[start:start + batch_size], pad_id)
        n = float(mask.sum())
        total += model.loss(inputs, targets, mask).item() * n
        count += n
    model.train()
    return total / count


def mix_in_own_verify(conversations: list[dict], path: Path, share: float, weight: float, held_out: frozenset[str],
                      rng: random.Random) -> list[dict]:
    """The conversations with verifier_data.py's, repeated until they are `share` of the whole, shuffled in, each
    with the given loss weight."""
    own = [dict(json.loads(line), weight=weight) for line in path.read_text(encoding="utf-8").splitlines()
           if line.strip()]
    # Their prompts open with "Question: <question>\n" (gen_data.VERIFY_SOLUTION_PROMPT).
    own = [c for c in own if c["messages"][-2]["content"].split("\n")[0].removeprefix("Question: ") not in held_out]
    if not own:
        raise SystemExit(f"{path}: no verifier conversations")
    wanted = round(share / (1 - share) * len(conversations))
    mixed = conversations + [own[i % len(own)] for i in range(wanted)]
    rng.shuffle(mixed)
    print(f"mixed in {wanted} verifier conversations ({len(own)} distinct) from {path}", flush=True)
    return mixed


def prepare_data(out: Path, cfg: TrainConfig) -> tuple[bpe.Tokenizer, list, list]:
    started = time.time()
    # The committed held-out problems (tools/train/eval.jsonl) never reach training, whatever the mix.
    held_out = gen_data.held_out_questions()
    conversations, questions = gen_data.generate_train(cfg.train_examples, mix=cfg.data_mix, exclude=held_out)
    if cfg.own_verify:
        conversations = mix_in_own_verify(conversations, Path(cfg.own_verify), cfg.own_verify_share,
                                          cfg.own_verify_weight, held_out, random.Random(cfg.seed))
    validation, _ = gen_data.generate_train(cfg.validation_examples, seed=VALIDATION_SEED, mix=cfg.data_mix)
    data_dir = out / "data"
    gen_data.write_jsonl(data_dir / "train.jsonl", conversations)
    # The held-out problems for this data (tools/train/eval.jsonl is a copy made with the default sizes).
    gen_data.write_jsonl(data_dir / "eval.jsonl", gen_data.generate_eval(gen_data.DEFAULT_EVAL_PROBLEMS, questions))
    print(f"generated {len(conversations)} conversations in {time.time() - started:.0f}s", flush=True)

    tokenizer_path = out / "tokenizer"
    if (tokenizer_path / "tokenizer.json").exists():
        tokenizer = bpe.Tokenizer.load(tokenizer_path)
    else:
        texts = [chatml_text(c["messages"]) for c in conversations[: cfg.tokenizer_sample]]
        tokenizer = bpe.Tokenizer(bpe.train_bpe(texts, cfg.vocab_size))
        tokenizer.save(tokenizer_path)
    check_segment_encoding(tokenizer, conversations[:2000])
    print(f"tokenizer: {tokenizer.vocab_size} tokens ({time.time() - started:.0f}s)", flush=True)

    def encode_all(items: list[dict]) -> list[tuple[np.ndarray, np.ndarray]]:
        encoded = []
        for c in items:
            ids, trained = encode_conversation(tokenizer, c["messages"], c.get("weight", 1.0))
            encoded.append((np.array(ids, dtype=np.int32), np.array(trained, dtype=np.float32)))
        return encoded

    train_encoded, valid_encoded = encode_all(conversations), encode_all(validation)
    tokens = sum(len(ids) for ids, _ in train_encoded)
    trained_tokens = sum(int((t > 0).sum()) for _, t in train_encoded)
    print(f"encoded: {tokens} tokens, {trained_tokens} of them trained on ({time.time() - started:.0f}s)", flush=True)
    return tokenizer, train_encoded, valid_encoded


def save_checkpoint(path: Path, model: LlamaModel, optimizer, step: int, batches: Batches, model_cfg, train_cfg):
    temporary = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "batches_rng": batches.rng.bit_generator.state, "batches_queue": batches.queue,
                "batches_epoch": batches.epoch, "torch_rng": torch.get_rng_state(),
                "model_config": asdict(model_cfg), "train_config": asdict(train_cfg)}, temporary)
    temporary.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="run directory (data, checkpoints, exports)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    for cls in (ModelConfig, TrainConfig):
        for name, value in asdict(cls()).items():
            if name in ("vocab_size",) and cls is ModelConfig:
                continue  # set by the tokenizer
            flag = "--" + name.replace("_", "-")
            if isinstance(value, bool):
                parser.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=value)
            else:
                parser.add_argument(flag, type=type(value), default=value)
    args = parser.parse_args()
    train_cfg = TrainConfig(**{k: getattr(args, k) for k in asdict(TrainConfig())})
    model_fields = {k: getattr(args, k) for k in asdict(ModelConfig()) if k != "vocab_size"}

    torch.set_num_threads(2)
    random.seed(train_cfg.seed)
    np.random.seed(train_cfg.seed)
    torch.manual_seed(train_cfg.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    run_started = time.time()

    tokenizer, train_encoded, valid_encoded = prepare_data(args.out, train_cfg)
    model_cfg = ModelConfig(vocab_size=tokenizer.vocab_size, **model_fields)
    for dim in (model_cfg.hidden_size, model_cfg.intermediate_size, model_cfg.head_dim * model_cfg.num_key_value_heads):
        assert dim % 32 == 0, "rows must be a whole number of 32-wide Q8_0 blocks"
    model = LlamaModel(model_cfg)
    optimizer = make_optimizer(model, train_cfg)
    pad_id = tokenizer.special_id(bpe.ENDOFTEXT)
    batches = Batches(train_encoded, train_cfg.batch_tokens, train_cfg.seed, pad_id)
    checkpoint_path = args.out / "checkpoint.pt"
    start_step = 0
    if args.resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        # The same data goes on where it stopped; a new mix (a second stage) starts its own epochs.
        data_of = lambda c: (c.get("data_mix", "base"), c.get("own_verify", ""), c.get("own_verify_share", 0.3),
                             c.get("own_verify_weight", 1.0))
        if data_of(state["train_config"]) == data_of(asdict(train_cfg)):
            batches.rng.bit_generator.state = state["batches_rng"]
            batches.queue, batches.epoch = state["batches_queue"], state["batches_epoch"]
        torch.set_rng_state(state["torch_rng"])
        start_step = state["step"]
        print(f"resumed at step {start_step}", flush=True)
    params = count_parameters(model)
    print(f"model: {params:,} parameters ({params * 2 / 2**20:.1f} MiB as F16), {asdict(model_cfg)}", flush=True)
    print(f"training: {asdict(train_cfg)}", flush=True)
    (args.out / "run_config.json").write_text(json.dumps({"model": asdict(model_cfg), "train": asdict(train_cfg)},
                                                         indent=2))

    model.train()
    loop_started, tokens_seen, window_loss, window_steps = time.time(), 0, 0.0, 0
    for step in range(start_step, train_cfg.steps):
        lr = learning_rate_at(step, train_cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        inputs, targets, mask = batches.next()
        loss = model.loss(inputs, targets, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
        optimizer.step()
        tokens_seen += inputs.numel()
        window_loss += loss.item()
        window_steps += 1
        done = step + 1
        if done % train_cfg.log_every == 0 or done == train_cfg.steps:
            elapsed = time.time() - loop_started
            rate = (done - start_step) / elapsed
            print(f"step {done}/{train_cfg.steps} loss {window_loss / window_steps:.4f} lr {lr:.2e} "
                  f"epoch {batches.epoch} {tokens_seen / elapsed:.0f} tok/s "
                  f"elapsed {elapsed / 60:.1f}m eta {(train_cfg.steps - done) / rate / 60:.1f}m", flush=True)
            window_loss, window_steps = 0.0, 0
        if done % train_cfg.validate_every == 0 or done == train_cfg.steps:
            print(f"step {done} validation loss {validation_loss(model, valid_encoded, pad_id):.4f}", flush=True)
        if done % train_cfg.checkpoint_every == 0 or done == train_cfg.steps:
            save_checkpoint(checkpoint_path, model, optimizer, done, batches, model_cfg, train_cfg)

    export_hf(model, tokenizer, args.out / "hf", torch.float32)
    export_hf(model, tokenizer, args.out / "hf-f16", torch.float16)
    print(f"exported {args.out / 'hf'} and {args.out / 'hf-f16'}; total time {(time.time() - run_started) / 60:.1f} "
          f"min (training loop {(time.time() - loop_started) / 60:.1f} min)", flush=True)


if __name__ == "__main__":
    main()

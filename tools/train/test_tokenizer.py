#!/usr/bin/python3
"""Checks that the tokenizer code here splits text the way ponder (llama.cpp's `smollm` pre-tokenizer) does.

    /usr/bin/python3 tools/train/test_tokenizer.py [EXPORTED_MODEL_DIR]

1. eval.py's encoder, given the real SmolLM2 tokenizer.json from ../shared, reproduces the token ids that llama.cpp
   produced for the ASCII chat prompts in ../shared/reference (same pre-tokenizer, same merge-by-rank algorithm).
   Skipped, with a message, when ../shared is absent.
2. For an exported model directory (default tools/train/model): bpe.py (used in training) and eval.py's independent
   encoder give identical ids on the eval questions and the prompt formats, and decoding gives the text back.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bpe  # noqa: E402
import eval as evaluator  # noqa: E402
import gen_data  # noqa: E402

SHARED = HERE.parent.parent.parent / "shared"


def check_against_llama_cpp() -> None:
    tokenizer_path = SHARED / "models" / "smollm2-tokenizer.json"
    reference_path = SHARED / "reference" / "rand-llama-q8_0.chat.json"
    if not (tokenizer_path.exists() and reference_path.exists()):
        print(f"skip: {SHARED} not found (reference token ids from llama.cpp)")
        return
    encoder = evaluator.ByteLevelBPE(json.loads(tokenizer_path.read_text()))
    checked = 0
    for entry in json.loads(reference_path.read_text()):
        if not entry["prompt"].isascii():
            continue  # the ASCII pattern is only claimed to be exact on ASCII
        assert encoder.encode(entry["prompt"]) == entry["tokens"], entry["prompt"]
        checked += 1
    print(f"ok: {checked} ASCII prompts tokenize exactly as llama.cpp does with the SmolLM2 vocabulary")


def check_exported(model_dir: Path) -> None:
    trained = bpe.Tokenizer.load(model_dir)
    independent = evaluator.ByteLevelBPE(json.loads((model_dir / "tokenizer.json").read_text()))
    eval_path = HERE / "eval.jsonl"
    texts = [json.loads(line)["question"] for line in eval_path.read_text().splitlines()]
    texts += [
        gen_data.VERIFY_PROMPT.format(question=texts[0], answer=12),
        gen_data.REFINE_PROMPT.format(question=texts[1], attempts="- 29: 3 * 12 = 36, 36 - 7 = 29"),
        gen_data.DEMO_REPLY,
        evaluator.chat_prompt([{"role": "system", "content": gen_data.REASONING_SYSTEM_PROMPT},
                               {"role": "user", "content": "Tom has 3 boxes of 12 pens and gives away 7."}]),
        "It's 2 o'clock, we've 10  spaces \n\n and\ttabs!! 3.14 x=y+1",
    ]
    for text in texts:
        ids = trained.encode(text)
        assert ids == independent.encode(text), text
        assert trained.decode(ids) == text == independent.decode(ids), text
    print(f"ok: {len(texts)} texts encode identically with bpe.py and eval.py and decode back ({model_dir})")


if __name__ == "__main__":
    check_against_llama_cpp()
    check_exported(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "model")

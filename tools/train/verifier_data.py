#!/usr/bin/python3
"""Verifier training data from the model's own contemplations (on-policy, as in Cobbe et al. 2021).

Synthetic wrong solutions (gen_data.wrong_chains) are not the mistakes the model makes, so a verifier trained on them
learns nothing about its own candidates. This takes the candidates ponder's contemplation actually put before the
verifier, each with the worked solution it was shown, and labels them against the known answer:

    /usr/bin/python3 tools/train/verifier_data.py questions --out Q.jsonl --count 2000
    ./build/ponder eval -m models/ponder-tiny.gguf --data Q.jsonl --mode contemplate --json -q > T.json
    /usr/bin/python3 tools/train/verifier_data.py conversations --traces T.json --out V.jsonl

V.jsonl holds conversations in train.py's format (`train.py --own-verify V.jsonl`), as many yes as no, all from questions
with both right and wrong candidates. The questions come from their own seed and never include a held-out problem
(tools/train/eval.jsonl); train.py drops any verifier conversation that asks one all the same.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import gen_data

QUESTIONS_SEED = 5150
# ponder shows the verifier at most this many candidates, those with the most support first (kMaxVerified).
MAX_VERIFIED = 8


def write_questions(out: Path, count: int, seed: int) -> None:
    gen_data.write_jsonl(out, gen_data.generate_eval(count, set(gen_data.held_out_questions()), seed=seed))
    print(f"wrote {count} questions to {out}")


def verify_conversations(traces: dict) -> list[dict]:
    """Verifier conversations for every question whose candidates were both right and wrong: each wrong candidate the
    verifier saw, and as many copies of the right one, with the prompt ponder built for them. Only within-question
    contrasts: with questions that only ever get right (easy) or only wrong (hard) candidates, the label would be
    learnable from the question alone, and the verifier would learn to rate questions instead of answers."""
    rows = []
    mode = next(m for m in traces["modes"] if m["mode"].startswith("contemplate"))
    for result in mode["results"]:
        question, expected = result["question"], result["expected"]

        def conversation(vote: dict, reply: str) -> dict:
            prompt = gen_data.VERIFY_SOLUTION_PROMPT.format(question=question, reasoning=vote["solution"],
                                                            answer=vote["answer"])
            return {"kind": "verify_own",
                    "messages": [gen_data.message("system", gen_data.REASONING_SYSTEM_PROMPT),
                                 gen_data.message("user", prompt), gen_data.message("assistant", reply)]}

        seen = result["trace"]["votes"][:MAX_VERIFIED]
        right = [v for v in seen if v["answer"] == expected]
        wrong = [v for v in seen if v["answer"] != expected]
        if right and wrong:
            rows += [conversation(right[0], "yes") for _ in wrong] + [conversation(v, "no") for v in wrong]
    return rows


def write_conversations(traces_path: Path, out: Path, seed: int) -> None:
    traces = json.loads(traces_path.read_text(encoding="utf-8"))
    rows = verify_conversations(traces)
    random.Random(seed).shuffle(rows)
    gen_data.write_jsonl(out, rows)
    print(f"wrote {len(rows)} verifier conversations (half right, half wrong candidates) to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    questions = commands.add_parser("questions", help="word problems to contemplate (JSON lines)")
    questions.add_argument("--out", type=Path, required=True)
    questions.add_argument("--count", type=int, default=2000)
    questions.add_argument("--seed", type=int, default=QUESTIONS_SEED)
    conversations = commands.add_parser("conversations", help="verifier conversations from `ponder eval --json`")
    conversations.add_argument("--traces", type=Path, required=True)
    conversations.add_argument("--out", type=Path, required=True)
    conversations.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.command == "questions":
        write_questions(args.out, args.count, args.seed)
    else:
        write_conversations(args.traces, args.out, args.seed)


if __name__ == "__main__":
    main()

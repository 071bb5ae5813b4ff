#!/usr/bin/env python3
"""How well simple rules would choose among contemplation's candidates, from the traces that
`ponder eval --mode contemplate --json` writes (one file per run):

    ./build/ponder eval -m models/ponder-tiny.gguf --data tools/train/eval.jsonl \
        --mode contemplate --seed 1 --json -q > /tmp/ev1.json
    /usr/bin/python3 tools/train/choice_rules.py /tmp/ev1.json [more runs...]

For each run it counts the problems answered right by: ponder's choice (the highest score),
the vote's leader alone, the candidate the verifier's own solution reached (else the leader),
and any candidate at all (the most a rule over these candidates could get); and, where the
leader and the verifier's answer differ, how often each of the two is right.
"""
import json
import sys


# Answers compare as written: the arithmetic set's are whole numbers, which ponder prints as they
# are (its own count of ponder's choices equals `ponder eval`'s accuracy).
def same(answer, expected):
    return str(answer).strip() == str(expected).strip()


def rules(mode):
    counts = dict.fromkeys(
        ["problems", "ponder", "leader", "verifier_first", "any", "split", "split_leader",
         "split_verifier"], 0)
    for result in mode["results"]:
        counts["problems"] += 1
        votes = result["trace"]["votes"]
        if not votes:
            continue
        right = lambda c: same(c["answer"], result["expected"])
        leader = max(votes, key=lambda c: c["vote_share"])
        reached = [c for c in votes if c.get("agrees_with_verifier")]
        counts["ponder"] += right(max(votes, key=lambda c: c["score"]))
        counts["leader"] += right(leader)
        counts["verifier_first"] += right(reached[0] if reached else leader)
        counts["any"] += any(right(c) for c in votes)
        if reached and reached[0] is not leader:
            counts["split"] += 1
            counts["split_leader"] += right(leader)
            counts["split_verifier"] += right(reached[0])
    return counts


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: choice_rules.py EVAL.json...")
    for path in sys.argv[1:]:
        with open(path) as f:
            run = json.load(f)
        for mode in run["modes"]:
            if mode["mode"].startswith("contemplate"):
                report(f"{path}, {mode['mode']}", rules(mode))


def report(name, c):
    n = c["problems"]
    pct = lambda k: f"{100.0 * c[k] / n:.1f}%"
    print(f"{name}: {n} problems; ponder {pct('ponder')}, leader alone {pct('leader')}, "
          f"verifier's answer first {pct('verifier_first')}, any candidate {pct('any')}; "
          f"leader and verifier differ on {c['split']}: leader right {c['split_leader']}, "
          f"verifier right {c['split_verifier']}")


if __name__ == "__main__":
    main()

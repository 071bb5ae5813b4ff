#!/usr/bin/python3
"""Synthetic chat data for ponder's built-in demo model.

Everything is generated from fixed seeds with Python's `random` module, so the same command always writes the same
files. Five kinds of conversations are produced (the prompt strings below are the ones ponder's C++ code
uses verbatim):

- solve:   an arithmetic word problem (add, subtract, multiply; 1-4 steps) answered with one checkable equation
           `a op b = c` per line and a final line `Answer: N`; a few are bare expressions such as `What is 6 * 7 - 5?`;
- verify:  "Question / Proposed answer / Is the proposed answer correct?" answered `yes` or `no` (balanced);
- check:   a question solved as in "solve", then "Proposed answer / Is the proposed answer correct?" answered `yes`
           or `no` (balanced): the verifier, which works the question out itself before its verdicts ("verdict" is
           the same with only the verdict trained on);
- refine:  "Question / Earlier attempts / Check the attempts and solve the question again" answered with a correct
           step-by-step solution;
- other:   anything that is not an arithmetic problem, answered with a short honest reply that points to real models.

Usage:
    /usr/bin/python3 tools/train/gen_data.py --out tools/train/out/data [--train-examples N]
writes train.jsonl (one {"kind", "messages"} object per line) and eval.jsonl (one {"question", "answer", "steps"}
object per line; the committed copy is tools/train/eval.jsonl).
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

# --------------------------------------------------------------------------------------------------------------------
# Prompt strings shared with ponder's C++ code. Change them only together with reason/.
# --------------------------------------------------------------------------------------------------------------------

REASONING_SYSTEM_PROMPT = (
    'Think step by step. Write each calculation as an equation, then give the final answer on a last line that '
    'starts with "Answer:".'
)
GENERIC_SYSTEM_PROMPTS = [
    "You are a helpful assistant.",
    "You are ponder, a helpful assistant that runs locally.",
    "You are a concise assistant. Keep answers short.",
    "You are a friendly assistant.",
]
VERIFY_PROMPT = "Question: {question}\nProposed answer: {answer}\nIs the proposed answer correct? Reply yes or no."
# The verifier prompt of `ponder --contemplate`: the candidate with the reasoning of its best chain.
VERIFY_SOLUTION_PROMPT = (
    "Question: {question}\nProposed solution: {reasoning}\nProposed answer: {answer}\n"
    "Is the proposed answer correct? Reply yes or no."
)
# The verifier of `ponder --contemplate` first solves the question itself, greedily, beside the chains and under the
# same prompt; then, in a second turn after its solution, it is asked about each candidate.
CHECK_VERDICT_PROMPT = "Proposed answer: {answer}\nIs the proposed answer correct? Reply yes or no."
# The verdict is one token beside a solution's forty: its weight in the loss.
CHECK_VERDICT_WEIGHT = 4.0
REFINE_PROMPT = (
    "Question: {question}\nEarlier attempts:\n{attempts}\nCheck the attempts and solve the question again step by step."
)
REFINE_ATTEMPT_LINE = "- {answer}: {reasoning}"
DEMO_REPLY = (
    "I am ponder's tiny built-in demo model: I can only solve small arithmetic word problems. For anything else, "
    "load a real model with -m (for example a SmolLM2 or Qwen2.5 GGUF file; see ponder pull)."
)
GREETING_REPLY = "Hello! " + DEMO_REPLY

TRAIN_SEED = 20261122
EVAL_SEED = 77003
DEFAULT_TRAIN_EXAMPLES = 150_000
DEFAULT_EVAL_PROBLEMS = 200


# --------------------------------------------------------------------------------------------------------------------
# Difficulty: the knobs that set how hard the word problems are.
# --------------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Difficulty:
    step_weights: tuple[float, ...] = (0.3, 0.35, 0.22, 0.13)  # probability of 1, 2, 3, 4 steps
    start_max: int = 50      # a plain starting amount: 2..start_max
    change_max: int = 20     # an amount added or taken away: 1..change_max
    group_count_max: int = 9  # "g boxes of s pens": g in 2..group_count_max
    group_size_max: int = 10  # s in 2..group_size_max
    value_max: int = 999     # no intermediate result exceeds this


DIFFICULTY = Difficulty()


# --------------------------------------------------------------------------------------------------------------------
# Arithmetic: a solution is a list of steps whose operands are numbers from the question or earlier results.
# --------------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ref:
    """The result of an earlier step, used as an operand."""
    step: int


Operand = int | Ref


@dataclass(frozen=True)
class Step:
    left: Operand
    op: str  # '+', '-' or '*'
    right: Operand


def apply_op(left: int, op: str, right: int) -> int:
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    raise ValueError(op)


@dataclass
class Chain:
    """A worked solution: one equation per step (possibly false, for wrong attempts) and its final answer."""
    equations: list[str]
    answer: int

    def solution_text(self) -> str:
        return "\n".join(self.equations + [f"Answer: {self.answer}"])

    def one_line(self) -> str:
        return ", ".join(self.equations)


def run_steps(steps: list[Step], slips: dict[int, int] | None = None) -> Chain | None:
    """Evaluates the steps in order. `slips` adds an error to a step's written result (the equation becomes false and
    later steps carry the wrong value on), which is how a careless solver goes wrong. None if a value goes negative."""
    slips = slips or {}
    results: list[int] = []
    equations = []
    for index, step in enumerate(steps):
        left = results[step.left.step] if isinstance(step.left, Ref) else step.left
        right = results[step.right.step] if isinstance(step.right, Ref) else step.right
        result = apply_op(left, step.op, right) + slips.get(index, 0)
        if result < 0:
            return None
        results.append(result)
        equations.append(f"{left} {step.op} {right} = {result}")
    return Chain(equations, results[-1])


@dataclass
class Problem:
    question: str
    steps: list[Step]
    numbers: list[int]  # the numbers that appear in the question

    def chain(self) -> Chain:
        chain = run_steps(self.steps)
        assert chain is not None
        return chain

    @property
    def answer(self) -> int:
        return self.chain().answer


# --------------------------------------------------------------------------------------------------------------------
# Vocabulary for the word problems.
# --------------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Person:
    name: str
    subject: str      # he / she
    object: str       # him / her
    possessive: str   # his / her

    def mention(self, first: bool, rng: random.Random) -> str:
        return self.name if first or rng.random() < 0.3 else self.subject


MALE_NAMES = ["Tom", "Sam", "Ben", "Max", "Leo", "Omar", "Ravi", "Jack", "Luis", "Noah", "Ivan", "Kenji", "Ali",
              "Hugo", "Peter", "Carlos", "David", "Felix", "Oscar", "Marco", "Yusuf", "Liam", "Ethan", "Jamal"]
FEMALE_NAMES = ["Anna", "Mia", "Lily", "Sara", "Emma", "Zoe", "Nina", "Priya", "Lucy", "Maria", "Aisha", "Grace",
                "Hana", "Julia", "Rosa", "Chloe", "Amara", "Elena", "Sofia", "Mei", "Olivia", "Fatima", "Ruby", "Kate"]
PEOPLE = ([Person(n, "he", "him", "his") for n in MALE_NAMES] +
          [Person(n, "she", "her", "her") for n in FEMALE_NAMES])


@dataclass(frozen=True)
class Place:
    """An organisation that owns the items ("the shop"); referred to as "it" after the first mention."""
    name: str  # lower case, with article: "the shop"
    subject: str = "it"
    object: str = "it"
    possessive: str = "its"

    def mention(self, first: bool, rng: random.Random) -> str:
        return self.name if first or rng.random() < 0.5 else self.subject


PLACES = [Place(n) for n in ["the shop", "the bakery", "the school", "the library", "the farm", "the market",
                             "the toy store", "the cafe", "the club", "the classroom", "the store", "the warehouse"]]


@dataclass(frozen=True)
class Item:
    one: str
    many: str
    containers: tuple[tuple[str, str], ...]  # (singular, plural)
    kinds: frozenset[str] = frozenset()      # food, baked, fruit, plant, stationery, fragile, collectible

    def count(self, n: int) -> str:
        return f"{n} {self.one if n == 1 else self.many}"


def _item(one: str, many: str, containers: str, kinds: str = "") -> Item:
    pairs = tuple(tuple(pair.split("/")) for pair in containers.split())
    return Item(one, many, pairs, frozenset(kinds.split()))


ITEMS = [
    _item("pen", "pens", "box/boxes pack/packs", "stationery"),
    _item("pencil", "pencils", "box/boxes pack/packs", "stationery"),
    _item("crayon", "crayons", "box/boxes", "stationery"),
    _item("marker", "markers", "pack/packs box/boxes", "stationery"),
    _item("notebook", "notebooks", "stack/stacks box/boxes", "stationery"),
    _item("sticker", "stickers", "sheet/sheets pack/packs", "collectible stationery"),
    _item("stamp", "stamps", "sheet/sheets", "collectible"),
    _item("card", "cards", "pack/packs deck/decks", "collectible"),
    _item("marble", "marbles", "bag/bags jar/jars", "collectible"),
    _item("bead", "beads", "bag/bags jar/jars", "collectible"),
    _item("button", "buttons", "jar/jars bag/bags", "collectible"),
    _item("shell", "shells", "bucket/buckets bag/bags", "collectible"),
    _item("coin", "coins", "jar/jars bag/bags", "collectible"),
    _item("toy car", "toy cars", "box/boxes", "collectible"),
    _item("block", "blocks", "box/boxes bag/bags", ""),
    _item("balloon", "balloons", "pack/packs bag/bags", ""),
    _item("book", "books", "box/boxes shelf/shelves", ""),
    _item("apple", "apples", "bag/bags basket/baskets crate/crates", "food fruit"),
    _item("orange", "oranges", "bag/bags crate/crates", "food fruit"),
    _item("pear", "pears", "basket/baskets bag/bags", "food fruit"),
    _item("plum", "plums", "basket/baskets", "food fruit"),
    _item("peach", "peaches", "basket/baskets crate/crates", "food fruit"),
    _item("banana", "bananas", "bunch/bunches", "food fruit"),
    _item("lemon", "lemons", "bag/bags", "fruit"),
    _item("tomato", "tomatoes", "basket/baskets box/boxes", "food fruit"),
    _item("potato", "potatoes", "sack/sacks bag/bags", "food"),
    _item("carrot", "carrots", "bunch/bunches bag/bags", "food"),
    _item("egg", "eggs", "carton/cartons basket/baskets", "food fragile"),
    _item("cookie", "cookies", "jar/jars box/boxes plate/plates", "food baked"),
    _item("cupcake", "cupcakes", "tray/trays box/boxes", "food baked"),
    _item("muffin", "muffins", "tray/trays basket/baskets", "food baked"),
    _item("pie", "pies", "box/boxes shelf/shelves", "food baked"),
    _item("candy", "candies", "bag/bags jar/jars", "food"),
    _item("chocolate", "chocolates", "box/boxes", "food"),
    _item("flower", "flowers", "bunch/bunches vase/vases pot/pots", "plant"),
    _item("rose", "roses", "bunch/bunches vase/vases", "plant"),
    _item("tulip", "tulips", "bunch/bunches pot/pots", "plant"),
    _item("glass", "glasses", "box/boxes", "fragile"),
    _item("plate", "plates", "stack/stacks box/boxes", "fragile"),
    _item("bottle", "bottles", "crate/crates pack/packs", "fragile"),
    _item("can", "cans", "pack/packs crate/crates", ""),
    _item("sock", "socks", "pack/packs drawer/drawers", ""),
    _item("ball", "balls", "bag/bags box/boxes", ""),
    _item("nail", "nails", "box/boxes bag/bags", ""),
]

THINGS_TO_BUY = [("book", "books"), ("toy", "toys"), ("ticket", "tickets"), ("sandwich", "sandwiches"),
                 ("hat", "hats"), ("ball", "balls"), ("kite", "kites"), ("game", "games"), ("shirt", "shirts"),
                 ("notebook", "notebooks"), ("cake", "cakes"), ("puzzle", "puzzles"), ("plant", "plants"),
                 ("comic", "comics"), ("lamp", "lamps"), ("mug", "mugs"), ("scarf", "scarves")]

# Past tense of every verb the templates use (they are written in the present).
PAST_TENSE = {
    "has": "had", "have": "had", "buys": "bought", "gets": "got", "finds": "found", "gives": "gave", "loses": "lost",
    "sells": "sold", "eats": "ate", "uses": "used", "bakes": "baked", "picks": "picked", "makes": "made",
    "receives": "received", "collects": "collected", "spends": "spent", "earns": "earned", "saves": "saved",
    "breaks": "broke", "drops": "dropped", "doubles": "doubled", "triples": "tripled", "double": "doubled",
    "triple": "tripled", "brings": "brought",
    "is": "was", "are": "were", "wins": "won", "donates": "donated", "pays": "paid", "grows": "grew",
    "adds": "added", "puts": "put", "packs": "packed", "orders": "ordered", "takes": "took", "shares": "shared",
}


def to_past(text: str) -> str:
    return " ".join(PAST_TENSE.get(word, word) for word in text.split(" "))


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------------------------------------------------
# Word problem builder.
# --------------------------------------------------------------------------------------------------------------------

@dataclass
class Clause:
    """One piece of the story. A verb phrase (`vp`) has the owner as subject and can be fused with its neighbours
    ("Tom has 3 boxes of 12 pens and gives away 7"); otherwise `sentence` is a complete sentence in which {owner},
    {Owner}, {obj} and {poss} are filled in later."""
    vp: str | None = None
    sentence: str | None = None
    taking_away: bool = False  # "How many are left?" fits after it
    opening: bool = False      # part of the story's start: no "Then" in front


@dataclass
class Story:
    rng: random.Random
    difficulty: Difficulty
    owner: Person | Place
    item: Item
    money: bool
    value: int = 0                      # the owner's current amount
    value_ref: Operand = 0              # that amount as an operand (literal or earlier step)
    steps: list[Step] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    clauses: list[Clause] = field(default_factory=list)
    container_names: tuple[str, str] = ("", "")  # the one kind of container this story uses

    def __post_init__(self) -> None:
        if self.item.containers:
            self.container_names = self.rng.choice(self.item.containers)

    # -- helpers -----------------------------------------------------------------------------------------------------

    def add_step(self, left: Operand, op: str, right: Operand) -> Ref:
        self.steps.append(Step(left, op, right))
        return Ref(len(self.steps) - 1)

    def evaluate(self, operand: Operand) -> int:
        chain = run_steps(self.steps[: operand.step + 1]) if isinstance(operand, Ref) else None
        return chain.answer if chain else int(operand)  # type: ignore[arg-type]

    def number(self, low: int, high: int) -> int:
        n = self.rng.randint(low, max(low, high))
        self.numbers.append(n)
        return n

    def count(self, n: int) -> str:
        return f"{n} dollars" if self.money else self.item.count(n)

    def container(self) -> tuple[str, str]:
        return self.container_names

    def more(self, n: int) -> str:
        """"5 more pens" (not "5 pens more"; "1 more pen")."""
        return f"{n} more dollars" if self.money else f"{n} more {self.item.one if n == 1 else self.item.many}"

    def friend(self) -> Person:
        while True:
            person = self.rng.choice(PEOPLE)
            if person.name != getattr(self.owner, "name", ""):
                return person

    def is_person(self) -> bool:
        return isinstance(self.owner, Person)

    # -- start of the story (0 or 1 step) ------------------------------------------------------------------------------

    def start(self, with_step: bool) -> None:
        first_clause = len(self.clauses)
        self._start(with_step)
        for clause in self.clauses[first_clause:]:
            clause.opening = True

    def _start(self, with_step: bool) -> None:
        d, rng, items = self.difficulty, self.rng, self.item.many
        if not with_step:
            n = self.number(2, d.start_max)
            self.value, self.value_ref = n, n
            if self.money:
                self.clauses.append(Clause(vp=rng.choice([f"has {n} dollars", f"has {n} dollars in {{poss}} wallet",
                                                          f"saves {n} dollars"])))
            else:
                self.clauses.append(Clause(vp=rng.choice([f"has {self.count(n)}", f"has {self.count(n)}",
                                                          f"collects {self.count(n)}", f"gets {self.count(n)}"])))
            return
        if self.money:
            per, weeks = self.number(2, d.group_size_max + 8), self.number(2, d.group_count_max)
            unit = rng.choice(["week", "day", "month"])
            verb = rng.choice(["saves", "earns"]) if self.is_person() else "earns"
            self.clauses.append(Clause(vp=f"{verb} {per} dollars a {unit} for {weeks} {unit}s"))
            self.value_ref = self.add_step(per, "*", weeks)
        else:
            groups, size = self.number(2, d.group_count_max), self.number(2, d.group_size_max)
            one, many = self.container()
            form = rng.randrange(5)
            if form == 0:
                self.clauses.append(Clause(vp=f"has {groups} {many} of {size} {items}"))
            elif form == 1:
                self.clauses.append(Clause(vp=f"has {groups} {many} with {size} {items} in each"))
            elif form == 2:
                self.clauses.append(Clause(vp=f"has {groups} {many}"))
                self.clauses.append(Clause(sentence=f"Each {one} has {size} {items}."))
            elif form == 3:
                # The numbers come in the other order here, and so does the equation.
                self.numbers[-2:] = [size, groups]
                self.clauses.append(Clause(sentence=f"There are {size} {items} in each {one}."))
                self.clauses.append(Clause(vp=f"has {groups} {many}"))
                self.value_ref = self.add_step(size, "*", groups)
                self.value = self.evaluate(self.value_ref)
                return
            else:
                verb = "bakes" if "baked" in self.item.kinds else "buys"
                self.clauses.append(Clause(vp=f"{verb} {groups} {many} of {size} {items}"))
            self.value_ref = self.add_step(groups, "*", size)
        self.value = self.evaluate(self.value_ref)

    # -- events in the middle (1 or 2 steps) ---------------------------------------------------------------------------

    def event_add(self) -> None:
        d, rng, kinds = self.difficulty, self.rng, self.item.kinds
        n = self.number(1, d.change_max)
        if self.money:
            thing = rng.choice(THINGS_TO_BUY)[0]
            options = [f"earns {n} more dollars", f"earns {n} dollars", f"finds {n} dollars",
                       f"sells a {thing} for {n} dollars"]
            if self.is_person():
                options.append(f"gets {n} dollars from {self.friend().name}")
            self.clauses.append(Clause(vp=rng.choice(options)))
        else:
            options = [f"buys {n} more", f"gets {self.more(n)}", f"finds {self.more(n)}",
                       f"receives {self.count(n)}", f"buys {self.count(n)}"]
            if "baked" in kinds:
                options += [f"bakes {n} more", f"makes {self.count(n)}"]
            if "fruit" in kinds or "plant" in kinds:
                options += [f"picks {self.more(n)}", f"grows {self.count(n)}"]
            if self.is_person() and rng.random() < 0.3:
                friend = self.friend()
                self.clauses.append(Clause(sentence=rng.choice([
                    f"{friend.name} gives {{obj}} {self.count(n)}.",
                    f"{friend.name} gives {{obj}} {n} more.",
                    f"Then {friend.name} gives {{obj}} {self.more(n)}."])))
            else:
                self.clauses.append(Clause(vp=rng.choice(options)))
        self.value_ref = self.add_step(self.value_ref, "+", n)
        self.value += n

    def event_take(self) -> None:
        d, rng, kinds = self.difficulty, self.rng, self.item.kinds
        n = self.number(1, min(d.change_max, self.value - 1))
        if self.money:
            thing = rng.choice(THINGS_TO_BUY)[0]
            options = [f"spends {n} dollars", f"spends {n} dollars on a {thing}", f"pays {n} dollars for a {thing}",
                       f"buys a {thing} for {n} dollars", f"loses {n} dollars"]
            if self.is_person():
                options.append(f"gives {n} dollars to {self.friend().name}")
        else:
            many = self.item.many
            options = [f"gives away {n}", f"gives away {self.count(n)}", f"sells {self.count(n)}",
                       f"loses {self.count(n)}", f"gives {self.count(n)} to {self.friend().name}"]
            if "food" in kinds and self.is_person():
                options += [f"eats {n}", f"eats {n} of them", f"eats {self.count(n)}"]
            if "stationery" in kinds:
                options += [f"uses {self.count(n)}", f"uses {n} of them"]
            if "fragile" in kinds:
                options += [f"breaks {n}", f"drops and breaks {self.count(n)}"]
            if not self.is_person():
                options += [f"sells {n} of them", f"sells {n} {many}"]
        self.clauses.append(Clause(vp=rng.choice(options), taking_away=True))
        self.value_ref = self.add_step(self.value_ref, "-", n)
        self.value -= n

    def event_groups(self, taking_away: bool) -> None:
        """Two steps: a product, then adding or taking it away ("buys 2 more boxes of 12 pens")."""
        d, rng = self.difficulty, self.rng
        while True:
            groups, size = rng.randint(2, d.group_count_max), rng.randint(2, d.group_size_max)
            if not taking_away or groups * size < self.value:
                break
        self.numbers += [groups, size]
        if self.money:
            thing, things = rng.choice(THINGS_TO_BUY)
            if taking_away:
                text = rng.choice([f"buys {groups} {things} for {size} dollars each",
                                   f"buys {groups} {things} that cost {size} dollars each",
                                   f"pays for {groups} {things} at {size} dollars each"])
            else:
                text = rng.choice([f"sells {groups} {things} for {size} dollars each",
                                   f"earns {size} dollars a day for {groups} days"])
                if text.startswith("earns"):  # numbers in the other order
                    groups, size = size, groups
                    self.numbers[-2:] = [groups, size]
            clause = Clause(vp=text, taking_away=taking_away)
        else:
            one, many = self.container()
            items = self.item.many
            if taking_away:
                verbs = ["sells", "gives away"] + (["packs and sells"] if not self.is_person() else [])
                clause = Clause(vp=f"{rng.choice(verbs)} {groups} {many} of {size} {items}", taking_away=True)
            elif self.is_person() and rng.random() < 0.35:
                clause = Clause(sentence=f"Each of {{poss}} {groups} friends gives {{obj}} {size} {items}.")
            else:
                clause = Clause(vp=rng.choice([f"buys {groups} more {many} of {size} {items}",
                                               f"gets {groups} more {many} with {size} {items} in each",
                                               f"buys {groups} {many} of {size} {items}"]))
        self.clauses.append(clause)
        product = self.add_step(groups, "*", size)
        self.value_ref = self.add_step(self.value_ref, "-" if taking_away else "+", product)
        self.value = self.evaluate(self.value_ref)

    def event_scale(self) -> None:
        factor = self.rng.choice([2, 2, 3])
        word = {2: "doubles", 3: "triples"}[factor]
        what = "money" if self.money else self.item.many
        plural_verb = word[:-1]  # "the number doubles", "her savings double"
        if self.money:
            options = [f"Then {{poss}} money {word}.", f"After a month {{poss}} savings {plural_verb}."]
        else:
            options = [f"Then the number of {what} {{owner}} has {word}.",
                       f"Later, {{poss}} collection of {what} {word}."]
        self.clauses.append(Clause(sentence=self.rng.choice(options)))
        self.value_ref = self.add_step(self.value_ref, "*", factor)
        self.value *= factor

    # -- the question ----------------------------------------------------------------------------------------------

    def question(self) -> str:
        rng, items = self.rng, ("dollars" if self.money else self.item.many)
        options = [f"How many {items} does {{owner}} have now?", f"How many {items} does {{owner}} have in the end?",
                   f"How many {items} does {{owner}} have after that?"]
        if self.money:
            options += ["How much money does {owner} have now?", "How many dollars does {owner} have left?"]
        if self.clauses[-1].taking_away:
            options += ["How many are left?", f"How many {items} are left?", f"How many {items} does {{owner}} have left?"]
        if len(self.steps) == 1 and self.steps[0].op == "*":
            options += [f"How many {items} does {{owner}} have in total?", f"How many {items} are there in total?"]
        return rng.choice(options)

    def comparison_ending(self, kind: str) -> str:
        """Endings that bring in a second person: 1 or 2 steps. Returns the final question."""
        d, rng, friend = self.difficulty, self.rng, self.friend()
        items = "dollars" if self.money else self.item.many
        name = self.owner.name  # a pronoun would read badly here ("more than she")
        if kind == "times":
            k = self.number(2, 4)
            self.clauses.append(Clause(sentence=f"{friend.name} has {k} times as many {items} as {name}."))
            self.value_ref = self.add_step(self.value_ref, "*", k)
            return f"How many {items} does {friend.name} have?"
        n = self.number(1, d.change_max)
        if kind == "together":
            self.clauses.append(Clause(sentence=f"{friend.name} has {self.count(n)}."))
            self.value_ref = self.add_step(self.value_ref, "+", n)
            return rng.choice([f"How many {items} do they have together?",
                               f"How many {items} do {name} and {friend.name} have in total?"])
        if kind == "fewer":
            n = self.numbers[-1] = min(n, max(1, self.value - 1))
            self.clauses.append(Clause(sentence=f"{friend.name} has {n} fewer {items} than {name}."))
            self.value_ref = self.add_step(self.value_ref, "-", n)
            return f"How many {items} does {friend.name} have?"
        # kind == "more_together": friend has n more, then both together (2 steps).
        self.clauses.append(Clause(sentence=f"{friend.name} has {n} more {items} than {name}."))
        owner_ref = self.value_ref
        friend_ref = self.add_step(owner_ref, "+", n)
        self.value_ref = self.add_step(owner_ref, "+", friend_ref)
        return rng.choice([f"How many {items} do they have together?",
                           f"How many {items} do {name} and {friend.name} have altogether?"])

    # -- turning clauses into text -----------------------------------------------------------------------------------

    def render(self, final_question: str, past: bool) -> str:
        rng, owner = self.rng, self.owner
        fill = {"obj": owner.object, "poss": owner.possessive}
        vps_only = all(c.vp for c in self.clauses)
        if vps_only and len(self.clauses) >= 2 and rng.random() < 0.15 and "{owner}" in final_question:
            # Question first: "If Tom has 3 boxes of 12 pens and gives away 7, how many pens does he have now?"
            vps = [c.vp.format(**fill) for c in self.clauses]
            joined = ", ".join(vps[:-1]) + rng.choice([" and ", " and then "]) + vps[-1]
            question = final_question.format(owner=owner.subject)
            return f"If {owner.name} {joined}, {question[0].lower()}{question[1:]}"

        sentences: list[str] = []
        first_mention = True
        index = 0
        while index < len(self.clauses):
            clause = self.clauses[index]
            if clause.sentence:
                mention = owner.mention(first_mention, rng)
                text = clause.sentence.format(owner=mention, Owner=capitalize(mention), **fill)
                first_mention &= "{owner}" not in clause.sentence
                sentences.append(capitalize(to_past(text) if past else text))
                index += 1
                continue
            vp = clause.vp.format(**fill)
            subject = owner.mention(first_mention, rng)
            first_mention = False
            # Fuse with the next verb phrase now and then: "... has 8 pens and gives away 3."
            nxt = self.clauses[index + 1] if index + 1 < len(self.clauses) else None
            if nxt is not None and nxt.vp and rng.random() < 0.4:
                vp += rng.choice([" and ", " and ", " and then ", ", then "]) + nxt.vp.format(**fill)
                index += 1
            text = f"{subject} {vp}."
            if sentences and not clause.opening and rng.random() < 0.35:
                text = rng.choice(["Then ", "After that, ", "Later, ", "Next, "]) + text
            sentences.append(capitalize(to_past(text) if past else text))
            index += 1
        question = final_question.format(owner=owner.mention(first_mention, rng))
        return " ".join(sentences + [capitalize(question)])


def make_word_problem(rng: random.Random, difficulty: Difficulty = DIFFICULTY) -> Problem:
    target = rng.choices(range(1, len(difficulty.step_weights) + 1), weights=difficulty.step_weights)[0]
    while True:
        problem = _try_word_problem(rng, difficulty, target)
        if problem is not None:
            return problem


def _try_word_problem(rng: random.Random, difficulty: Difficulty, target_steps: int) -> Problem | None:
    money = rng.random() < 0.15
    owner: Person | Place = rng.choice(PEOPLE) if rng.random() < 0.85 else rng.choice(PLACES)
    item = rng.choice(ITEMS)
    story = Story(rng, difficulty, owner, item, money)

    # A story is a start (0 or 1 step), some events, and an ending that may compare with a second person.
    ending = "plain"
    if isinstance(owner, Person) and rng.random() < 0.2:
        ending = rng.choice(["times", "together", "fewer"] + (["more_together"] if target_steps >= 2 else []))
    ending_steps = {"plain": 0, "times": 1, "together": 1, "fewer": 1, "more_together": 2}[ending]
    story.start(with_step=rng.random() < 0.5 and target_steps - ending_steps >= 1)

    remaining = target_steps - ending_steps - len(story.steps)
    if remaining < 0:
        return None
    while remaining > 0:
        choices = ["add", "take", "take"]
        if remaining >= 2:
            choices += ["add_groups", "take_groups"]
        if story.value <= 300 and rng.random() < 0.25:
            choices.append("scale")
        event = rng.choice(choices)
        if event in ("take", "take_groups") and story.value < 4:
            event = "add"
        if event == "take_groups" and story.value <= 2 * 2:
            event = "add"
        {"add": story.event_add, "take": story.event_take, "scale": story.event_scale,
         "add_groups": lambda: story.event_groups(False), "take_groups": lambda: story.event_groups(True)}[event]()
        remaining = target_steps - ending_steps - len(story.steps)
        if remaining < 0 or story.value > difficulty.value_max:
            return None
    if ending == "plain":
        final_question = story.question()
    else:
        final_question = story.comparison_ending(ending)
    if len(story.steps) != target_steps or not story.steps:
        return None
    chain = run_steps(story.steps)
    if chain is None or chain.answer > difficulty.value_max:
        return None
    past = rng.random() < 0.2
    question = story.render(final_question, past)
    return Problem(question, story.steps, story.numbers)


def make_expression_problem(rng: random.Random, difficulty: Difficulty = DIFFICULTY) -> Problem:
    """A bare expression like "What is 6 * 7 - 5?". Only shapes where left-to-right order is also the usual order."""
    small = lambda: rng.randint(2, difficulty.group_size_max)
    medium = lambda: rng.randint(1, difficulty.start_max)
    shape = rng.randrange(5)
    if shape == 0:
        a, b = small(), small()
        steps, text, numbers = [Step(a, "*", b)], f"{a} * {b}", [a, b]
    elif shape == 1:
        # Sizes like the later steps of word problems (e.g. 108 - 29), where most arithmetic slips happen.
        a, b = rng.randint(10, 250), rng.randint(1, 99)
        op = rng.choice("+-")
        a, b = (max(a, b), min(a, b)) if op == "-" else (a, b)
        steps, text, numbers = [Step(a, op, b)], f"{a} {op} {b}", [a, b]
    elif shape == 2:
        a, b, c = small(), small(), rng.randint(1, difficulty.change_max)
        op = rng.choice("+-")
        c = min(c, a * b)
        steps, text, numbers = [Step(a, "*", b), Step(Ref(0), op, c)], f"{a} * {b} {op} {c}", [a, b, c]
    elif shape == 3:
        a, b, c = medium(), medium(), rng.randint(1, difficulty.change_max)
        op1, op2 = rng.choice("+-"), rng.choice("+-")
        if op1 == "-":
            a, b = max(a, b), min(a, b)
        first = apply_op(a, op1, b)
        if op2 == "-":
            c = min(c, first)
        steps, text, numbers = [Step(a, op1, b), Step(Ref(0), op2, c)], f"{a} {op1} {b} {op2} {c}", [a, b, c]
    else:
        a, b, c, e = small(), small(), small(), small()
        steps = [Step(a, "*", b), Step(c, "*", e), Step(Ref(0), "+", Ref(1))]
        text, numbers = f"{a} * {b} + {c} * {e}", [a, b, c, e]
    question = rng.choice(["What is {}?", "What is {}?", "Calculate {}.", "Compute {}.", "How much is {}?",
                           "{} = ?", "Work out {}.", "Solve {}."]).format(text)
    return Problem(question, steps, numbers)


# --------------------------------------------------------------------------------------------------------------------
# Plausible wrong answers, for the verify and refine examples.
# --------------------------------------------------------------------------------------------------------------------

def wrong_chains(problem: Problem, rng: random.Random) -> list[Chain]:
    """Typical ways a small solver goes wrong: an arithmetic slip, a flipped + / -, a forgotten step, stopping a step
    too early, or using a group count instead of a product. Each chain's answer differs from the right one."""
    steps, right = problem.steps, problem.answer
    chains: list[Chain] = []
    for index in range(len(steps)):
        delta = rng.choice([-10, -2, -1, 1, 1, 2, 10])
        chains.append(run_steps(steps, {index: delta}))
        if steps[index].op in "+-":
            flipped = list(steps)
            flipped[index] = Step(steps[index].left, "+" if steps[index].op == "-" else "-", steps[index].right)
            chains.append(run_steps(flipped))
    if len(steps) >= 2:
        chains.append(run_steps(steps[:-1]))  # stopped one step early
        for index in range(len(steps) - 1):    # forgot a step: later uses of its result use its left operand
            skipped = [s for i, s in enumerate(steps) if i != index]
            replacement = steps[index].left
            chains.append(run_steps([Step(_skip_operand(s.left, index, replacement), s.op,
                                          _skip_operand(s.right, index, replacement)) for s in skipped]))
    unique: dict[int, Chain] = {}
    for chain in chains:
        if chain is not None and chain.answer != right and chain.answer >= 0:
            unique.setdefault(chain.answer, chain)
    return list(unique.values())


def _skip_operand(operand: Operand, skipped: int, replacement: Operand) -> Operand:
    if not isinstance(operand, Ref):
        return operand
    if operand.step == skipped:
        return replacement
    return Ref(operand.step - 1) if operand.step > skipped else operand


def wrong_answer(problem: Problem, rng: random.Random) -> int:
    """A plausible wrong final answer: from a wrong chain, a number from the question, or the answer nudged."""
    right = problem.answer
    while True:
        source = rng.random()
        if source < 0.55:
            chains = wrong_chains(problem, rng)
            if chains:
                return rng.choice(chains).answer
        elif source < 0.75:
            candidate = rng.choice(problem.numbers)
            if candidate != right:
                return candidate
        else:
            candidate = right + rng.choice([-10, -2, -1, 1, 2, 10])
            if candidate >= 0:
                return candidate


# --------------------------------------------------------------------------------------------------------------------
# Non-arithmetic prompts (answered with the honest demo reply).
# --------------------------------------------------------------------------------------------------------------------

GREETINGS = ["Hi", "Hello", "Hey", "Hi!", "Hello!", "Hey there", "Hi there!", "Good morning", "Good evening",
             "Good afternoon!", "hello", "hi", "Hey, how are you?", "How are you today?", "What's up?", "Yo",
             "Hello, who are you?", "Greetings!", "Howdy", "Hi, nice to meet you."]
ABOUT_YOU = ["Who are you?", "What can you do?", "What is your name?", "Are you there?", "What are you?",
             "Can you help me?", "Help", "help me", "What model are you?", "Are you an AI?", "Thanks!", "Thank you",
             "ok", "OK, thanks.", "Tell me about yourself.", "What do you know?", "Are you smart?", "test"]
TOPICS = ["the ocean", "a dragon", "friendship", "the moon", "a lost cat", "robots", "the rain", "autumn",
          "a brave knight", "space travel", "a small village", "coffee", "the city at night", "a talking tree",
          "winter", "a pirate ship", "music", "the forest", "a birthday party", "time travel"]
COUNTRIES = ["France", "Japan", "Brazil", "Canada", "Kenya", "Italy", "Peru", "Norway", "India", "Egypt",
             "Australia", "Mexico", "Spain", "Germany", "Chile", "Vietnam"]
CONCEPTS = ["gravity", "photosynthesis", "inflation", "a black hole", "democracy", "machine learning", "DNA",
            "an atom", "climate change", "a neural network", "the internet", "electricity", "evolution",
            "quantum computing", "a prime number", "an API", "a compiler", "a vaccine", "blockchain", "a volcano"]
LANGUAGES = ["Python", "C++", "JavaScript", "Rust", "Go", "Java", "Bash", "SQL", "C", "Lua"]
CODE_TASKS = ["reverses a string", "sorts a list", "checks if a number is prime", "reads a file",
              "counts words in a text", "finds the largest element in an array", "parses JSON",
              "computes the factorial of n", "removes duplicates from a list", "prints the Fibonacci numbers",
              "downloads a web page", "merges two sorted lists"]
GOALS = ["sleep better", "learn to cook", "save money", "learn French", "be more productive", "start running",
         "write a good CV", "learn to play the guitar", "stay focused", "make new friends", "learn to code"]
PHRASES = ["good morning", "thank you very much", "where is the station?", "I love you", "see you tomorrow",
           "how much does it cost?", "the cat is black"]
TARGET_LANGUAGES = ["French", "Spanish", "German", "Japanese", "Italian", "Chinese", "Portuguese"]
BOOKS = ["Hamlet", "Don Quixote", "War and Peace", "Pride and Prejudice", "1984", "The Odyssey", "Moby Dick"]
EVENTS = ["the French Revolution", "World War 2", "the first Moon landing", "the fall of the Berlin Wall",
          "the invention of the printing press", "the Olympic Games of 2012"]
SNIPPETS = ["for i in range(10) print(i)", "int main() { return 0 }", "x = [1, 2, 3\nprint(x)",
            "if (a = 5) { b++; }", "let y = 3;;", "SELECT * FORM users;", "def f(x):\nreturn x * 2"]
MATH_OUT_OF_SCOPE = ["What is the derivative of x^2?", "Solve x^2 - 5x + 6 = 0.", "Is 97 a prime number?",
                     "What is the square root of 144?", "Integrate sin(x) from 0 to pi.", "What is 100 divided by 7?",
                     "Prove that there are infinitely many primes.", "What is pi to 10 digits?",
                     "Convert 100 Fahrenheit to Celsius.", "What is 2 to the power of 32?", "What is log(1000)?",
                     "Explain the Pythagorean theorem.", "What is 15% of 80?", "Simplify (x + 2)(x - 2)."]


def make_other_prompt(rng: random.Random) -> tuple[str, str]:
    """A non-arithmetic user message and the reply the demo model gives to it."""
    kind = rng.randrange(12)
    if kind == 0:
        return rng.choice(GREETINGS), GREETING_REPLY
    pick = rng.choice
    options = {
        1: lambda: pick(ABOUT_YOU),
        2: lambda: pick([f"What is the capital of {pick(COUNTRIES)}?", f"How many people live in {pick(COUNTRIES)}?",
                         f"What language do people speak in {pick(COUNTRIES)}?", f"Who wrote {pick(BOOKS)}?",
                         f"When did {pick(EVENTS)} happen?", f"What year was {pick(EVENTS)}?",
                         "Why is the sky blue?", "How far is the Moon from the Earth?", "How tall is Mount Everest?",
                         "What is the biggest animal in the world?", "Who was Albert Einstein?",
                         "How many planets are in the solar system?", "What is the boiling point of water?"]),
        3: lambda: pick([f"What is {pick(CONCEPTS)}?", f"Explain {pick(CONCEPTS)} in simple words.",
                         f"Can you explain {pick(CONCEPTS)} to a 10 year old?", f"How does {pick(CONCEPTS)} work?"]),
        4: lambda: pick([f"Write a {pick(LANGUAGES)} function that {pick(CODE_TASKS)}.",
                         f"How do I write code in {pick(LANGUAGES)} that {pick(CODE_TASKS)}?",
                         f"Show me {pick(LANGUAGES)} code that {pick(CODE_TASKS)}.",
                         f"What is the difference between {pick(LANGUAGES)} and {pick(LANGUAGES)}?"]),
        5: lambda: pick([f"Fix this code:\n{pick(SNIPPETS)}", f"Why does this not work? {pick(SNIPPETS)}",
                         "Explain this error: IndexError: list index out of range",
                         "What does git rebase do?", "How do I exit vim?"]),
        6: lambda: pick([f"Tell me a story about {pick(TOPICS)}.", f"Write a poem about {pick(TOPICS)}.",
                         f"Write a haiku about {pick(TOPICS)}.", f"Write a short story about {pick(TOPICS)}.",
                         "Tell me a joke.", "Tell me a fun fact.", f"Write a song about {pick(TOPICS)}."]),
        7: lambda: pick([f"How can I {pick(GOALS)}?", f"Give me 3 tips to {pick(GOALS)}.",
                         f"What is the best way to {pick(GOALS)}?", "Recommend a good book.",
                         "What should I cook for dinner?", "What movie should I watch tonight?"]),
        8: lambda: f"Translate '{pick(PHRASES)}' into {pick(TARGET_LANGUAGES)}.",
        9: lambda: pick(MATH_OUT_OF_SCOPE),
        10: lambda: pick([f"What do you think about {pick(TOPICS)}?", f"Summarize the history of {pick(COUNTRIES)}.",
                          "What is the meaning of life?", "Can you write an email to my boss asking for a day off?",
                          f"Describe {pick(TOPICS)} in 3 sentences.", "What is the weather like today?",
                          "What time is it?", "Who won the World Cup in 2018?"]),
        11: lambda: pick([f"Write an essay about {pick(CONCEPTS)}.", f"Compare {pick(COUNTRIES)} and {pick(COUNTRIES)}.",
                          f"List 5 facts about {pick(COUNTRIES)}.", "Plan a 3 day trip to Rome.",
                          f"Summarize this: {pick(TOPICS).capitalize()} is a nice topic and many people like it."]),
    }
    return options[kind](), DEMO_REPLY


# --------------------------------------------------------------------------------------------------------------------
# Conversations.
# --------------------------------------------------------------------------------------------------------------------

def message(role: str, content: str) -> dict:
    return {"role": role, "content": content}


def system_turn(rng: random.Random) -> list[dict]:
    """No system turn half of the time; otherwise the reasoning prompt or a generic one."""
    if rng.random() < 0.5:
        return []
    if rng.random() < 0.5:
        return [message("system", REASONING_SYSTEM_PROMPT)]
    return [message("system", rng.choice(GENERIC_SYSTEM_PROMPTS))]


def solve_exchange(rng: random.Random) -> tuple[str, str, Problem]:
    # Bare expressions are cheap arithmetic practice (short prompts), the skill the model lacks most.
    problem = make_expression_problem(rng) if rng.random() < 0.15 else make_word_problem(rng)
    return problem.question, problem.chain().solution_text(), problem


def verify_exchange(rng: random.Random) -> tuple[str, str, Problem]:
    problem = make_word_problem(rng)
    correct = rng.random() < 0.5
    proposed = problem.answer if correct else wrong_answer(problem, rng)
    return VERIFY_PROMPT.format(question=problem.question, answer=proposed), ("yes" if correct else "no"), problem


def verify_solution_exchange(rng: random.Random) -> tuple[str, str, Problem]:
    """Judging a worked solution: the right one, or one of the typical wrong ones (half each)."""
    problem = make_word_problem(rng)
    wrong = wrong_chains(problem, rng) if rng.random() < 0.5 else []
    chain = rng.choice(wrong) if wrong else problem.chain()
    reply = "yes" if chain.answer == problem.answer else "no"
    prompt = VERIFY_SOLUTION_PROMPT.format(question=problem.question, reasoning=chain.one_line(), answer=chain.answer)
    return prompt, reply, problem


def check_exchanges(rng: random.Random) -> tuple[list[dict], Problem]:
    """The verifier's two exchanges: the question solved, then a verdict on a proposed answer (right half of the
    time), which compares it with that solution's answer."""
    problem = make_word_problem(rng)
    correct = rng.random() < 0.5
    proposed = problem.answer if correct else wrong_answer(problem, rng)
    return [message("user", problem.question),
            message("assistant", problem.chain().solution_text()),
            message("user", CHECK_VERDICT_PROMPT.format(answer=proposed)),
            dict(message("assistant", "yes" if correct else "no"), weight=CHECK_VERDICT_WEIGHT)], problem


def verdict_exchanges(rng: random.Random) -> tuple[list[dict], Problem]:
    """The verifier's exchanges with only the verdict trained on: teaches the comparison without training the
    solver any further."""
    messages, problem = check_exchanges(rng)
    messages[1] = dict(messages[1], weight=0.0)
    return messages, problem


def refine_exchange(rng: random.Random) -> tuple[str, str, Problem]:
    problem = make_word_problem(rng)
    wrong = wrong_chains(problem, rng)
    rng.shuffle(wrong)
    attempts = wrong[: rng.choice([1, 2, 2, 3])]
    if not attempts or rng.random() < 0.5:
        attempts.append(problem.chain())
    rng.shuffle(attempts)
    lines = "\n".join(REFINE_ATTEMPT_LINE.format(answer=a.answer, reasoning=a.one_line()) for a in attempts)
    return REFINE_PROMPT.format(question=problem.question, attempts=lines), problem.chain().solution_text(), problem


def other_exchange(rng: random.Random) -> tuple[str, str, None]:
    prompt, reply = make_other_prompt(rng)
    return prompt, reply, None


EXCHANGES = {"solve": solve_exchange, "verify": verify_exchange, "verify_solution": verify_solution_exchange,
             "refine": refine_exchange, "other": other_exchange}
# Mixes of exchange kinds. "base" trains the model from scratch; "verify-solutions" is the short second stage that
# teaches it to judge worked solutions (the verifier prompt ponder uses), with enough solving to keep that skill.
MIXES = {
    "base": {"solve": 0.76, "verify": 0.08, "refine": 0.08, "other": 0.08},
    "verify-solutions": {"solve": 0.56, "verify_solution": 0.30, "refine": 0.08, "other": 0.06},
    # Second stages tried for the verifier that solves before it judges (tools/train/README.md, attempt 4; neither
    # shipped): its two exchanges among enough of everything else to keep those skills, or its verdicts alone.
    "check": {"solve": 0.58, "check": 0.22, "verify": 0.05, "refine": 0.08, "other": 0.07},
    "verdicts": {"verdict": 1.0},
    # From scratch with the verifier's two exchanges in the mix from the start (attempt 5, not shipped), so that
    # solving and comparing are learnt together and the solver is trained no longer than the shipped model's.
    "base-check": {"solve": 0.48, "check": 0.35, "verify": 0.03, "refine": 0.07, "other": 0.07},
}
KIND_WEIGHTS = MIXES["base"]


def make_conversation(rng: random.Random, weights: dict[str, float] = KIND_WEIGHTS) -> tuple[dict, list[str]]:
    """One training conversation and the word-problem questions it contains (to keep them out of the eval set)."""
    kind = rng.choices(list(weights), weights=list(weights.values()))[0]
    messages = system_turn(rng)
    questions = []
    # A few conversations carry an earlier exchange, as in ponder's interactive mode.
    if rng.random() < 0.05:
        earlier_kind = rng.choice(["solve", "other"])
        prompt, reply, problem = EXCHANGES[earlier_kind](rng)
        messages += [message("user", prompt), message("assistant", reply)]
        questions += [problem.question] if problem else []
    if kind in ("check", "verdict"):
        exchanges, problem = (check_exchanges if kind == "check" else verdict_exchanges)(rng)
        messages += exchanges
    else:
        prompt, reply, problem = EXCHANGES[kind](rng)
        messages += [message("user", prompt), message("assistant", reply)]
    questions += [problem.question] if problem else []
    return {"kind": kind, "messages": messages}, questions


def generate_train(count: int, seed: int = TRAIN_SEED, mix: str = "base",
                   exclude: frozenset[str] = frozenset()) -> tuple[list[dict], set[str]]:
    """`count` conversations of the given mix; any that asks a question in `exclude` (held-out problems) is dropped."""
    rng = random.Random(seed)
    conversations, questions = [], set()
    for _ in range(count):
        conversation, asked = make_conversation(rng, MIXES[mix])
        if exclude.intersection(asked):
            continue
        conversations.append(conversation)
        questions.update(asked)
    return conversations, questions


def generate_eval(count: int, exclude: set[str], seed: int = EVAL_SEED) -> list[dict]:
    """Held-out word problems: a different seed, and no question that occurs in the training data."""
    rng = random.Random(seed)
    problems, seen = [], set()
    while len(problems) < count:
        problem = make_word_problem(rng)
        if problem.question in exclude or problem.question in seen:
            continue
        seen.add(problem.question)
        problems.append({"question": problem.question, "answer": str(problem.answer), "steps": len(problem.steps)})
    return problems


def held_out_questions(path: Path = Path(__file__).resolve().parent / "eval.jsonl") -> frozenset[str]:
    """The committed held-out problems (tools/train/eval.jsonl): no training data may ask one of them."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(json.loads(line)["question"] for line in lines if line.strip())


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="directory for train.jsonl and eval.jsonl")
    parser.add_argument("--train-examples", type=int, default=DEFAULT_TRAIN_EXAMPLES)
    parser.add_argument("--eval-problems", type=int, default=DEFAULT_EVAL_PROBLEMS)
    parser.add_argument("--eval-seed", type=int, default=EVAL_SEED,
                        help="another seed makes a second held-out set, none of whose problems is in the committed one")
    args = parser.parse_args()
    train, questions = generate_train(args.train_examples)
    write_jsonl(args.out / "train.jsonl", train)
    exclude = set(questions) | (held_out_questions() if args.eval_seed != EVAL_SEED else set())
    write_jsonl(args.out / "eval.jsonl", generate_eval(args.eval_problems, exclude, args.eval_seed))
    print(f"wrote {len(train)} training conversations and {args.eval_problems} eval problems to {args.out}")


if __name__ == "__main__":
    main()

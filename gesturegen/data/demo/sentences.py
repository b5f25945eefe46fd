"""What the demo speakers say: sentences from a fixed template corpus, and the words that trigger lexical gestures.

Val and test say sentences that train never says: the HELD_OUT templates appear only there, and a filling of any
other template belongs to train or to evaluation by a hash of its text (EVAL_SHARE of them go to evaluation), so the
two sets are disjoint whatever the seed and the order of generation. Every gesture word still occurs in train
sentences (tests/unit/test_demo.py checks it).
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

LEXICAL = {  # word -> gesture (docs/demo_rules.md)
    **dict.fromkeys(("big", "huge", "large"), "big"),
    **dict.fromkeys(("small", "little"), "small"),
    **dict.fromkeys(("i", "me", "my"), "self"),
    **dict.fromkeys(("you", "your"), "you"),
    **{w: f"count{n}" for n, w in enumerate(("one", "two", "three", "four", "five"), 1)},
    **dict.fromkeys(("up", "high"), "up"),
    **dict.fromkeys(("no", "not"), "no"),
}

SLOTS = {  # slot name -> fillers
    "BIG": ("big", "huge", "large"),
    "SMALL": ("small", "little"),
    "NUM": ("two", "three", "four", "five"),
    "NOUN": ("idea", "problem", "change", "question", "project", "story", "team", "city", "company", "school",
             "system", "plan", "result", "garden", "machine", "community", "market", "experiment"),
    "NOUNS": ("ideas", "problems", "changes", "questions", "projects", "stories", "teams", "cities", "steps",
              "reasons", "people", "lessons", "mistakes", "friends"),
    "ADJ": ("new", "simple", "strange", "real", "hard", "good", "better", "different", "beautiful", "quiet",
            "honest", "dangerous"),
    "VERB": ("build", "change", "share", "solve", "explain", "imagine", "test", "improve", "measure", "design"),
    "WHEN": ("every day", "last year", "this morning", "in the end", "ten years ago", "right now", "back then"),
}

TEMPLATES = (
    "I think this is a {BIG} {NOUN}.",
    "You can see that the {NOUN} is not {SMALL} at all.",
    "My first {NOUN} started with one {SMALL} step.",
    "Let me tell you about {NUM} {NOUNS} that changed my life.",
    "The numbers went up {WHEN}.",
    "No, it was not easy, but it was worth it.",
    "Your {NOUN} can grow from something {SMALL} into something {BIG}.",
    "I asked myself one {ADJ} question.",
    "Do you remember the first time you saw a {BIG} {NOUN}?",
    "There were {NUM} of us in a {SMALL} room.",
    "Aim high, and do not stop.",
    "It is not about me, it is about you.",
    "I was {ADJ}, and my {NOUN} was {ADJ} too.",
    "The bar is high, but you can reach it.",
    "Here are {NUM} reasons why this matters to you.",
    "First a {SMALL} step, then a {BIG} leap.",
    "My friends told me no, so I did it anyway.",
    "Think about how {BIG} the {NOUN} really is.",
    "Even a {SMALL} {NOUN} can make a {BIG} difference.",
    "We need to speak up about the {NOUN}.",
    "I could not believe my eyes.",
    "You and I can {VERB} a {ADJ} {NOUN} together.",
    "Prices go up, and the {NOUN} goes down.",
    "Look at this {ADJ} {NOUN} in front of you.",
    "One day I found a {SMALL} {NOUN} on my desk.",
    "That is not what I expected {WHEN}.",
    "{NUM} years ago, my {NOUN} was very {SMALL}.",
    "So I stood up and said no.",
    "You have to keep your hopes high.",
    "The {NOUN} was {BIG}, and the team was {SMALL}.",
    "Now it is your turn to {VERB} it.",
    "I have {NUM} {NOUNS} for you today.",
    "What would you do with a {BIG} {NOUN}?",
    "It is a {ADJ} {NOUN}, not a {ADJ} {NOUN}.",
    "Let me show you how we {VERB} it.",
    "This changed my mind about the {NOUN}.",
    "We started with just one {NOUN} and {NUM} {NOUNS}.",
    "Nobody said it would be easy to {VERB} a {NOUN}.",
    "Raise your hand up if you agree with me.",
    "The {NOUN} behind this {NOUN} is {ADJ} and {BIG}.",
    "We tried to {VERB} the {NOUN} {WHEN}.",
    "Not one of my {NOUNS} was {SMALL}.",
)


# templates only val and test say (their gesture words all occur in other templates)
HELD_OUT = (
    "There were {NUM} of us in a {SMALL} room.",
    "The bar is high, but you can reach it.",
    "What would you do with a {BIG} {NOUN}?",
    "Raise your hand up if you agree with me.",
)
EVAL_SHARE = 4          # 1 in EVAL_SHARE fillings of a shared template is an evaluation sentence (by its hash)
_MAX_TRIES = 1000


_SHARED = tuple(t for t in TEMPLATES if t not in HELD_OUT)
assert len(_SHARED) == len(TEMPLATES) - len(HELD_OUT), "every HELD_OUT template must be one of TEMPLATES"


def sentence_role(text: str) -> str:
    """Who may say this filling of a shared template: 'eval' (val and test) or 'train' (a pure function of the text;
    held-out templates are evaluation's whatever their hash)."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return "eval" if int.from_bytes(digest, "little") % EVAL_SHARE == 0 else "train"


def _fill(template: str, rng: np.random.Generator) -> str:
    out, rest = [], template
    while "{" in rest:
        head, _, tail = rest.partition("{")
        slot, _, rest = tail.partition("}")
        choices = SLOTS[slot]
        out += [head, choices[int(rng.integers(len(choices)))]]
    text = "".join(out) + rest
    return text[0].upper() + text[1:]


def make_sentence(rng: np.random.Generator, split: str = "train") -> str:
    """One sentence for `split` from the fixed template corpus, slots filled from the generator.

    train draws from the shared templates and keeps fillings whose role is 'train'; val and test draw from all
    templates and keep 'eval' fillings and the held-out templates.
    """
    evaluation = split != "train"
    pool = TEMPLATES if evaluation else _SHARED
    for _ in range(_MAX_TRIES):
        template = pool[int(rng.integers(len(pool)))]
        text = _fill(template, rng)
        if template in HELD_OUT or (sentence_role(text) == "eval") == evaluation:
            return text
    raise RuntimeError(f"no {split} sentence in {_MAX_TRIES} draws; check HELD_OUT and EVAL_SHARE")


def intonation_units(text: str) -> list[int]:
    """Word counts of the sentence's intonation units (the stretches between commas, semicolons and colons)."""
    from gesturegen.data.speech import tokenize
    counts = [len(tokenize(part)) for part in re.split(r"[,;:]", text)]
    return [c for c in counts if c]

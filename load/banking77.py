"""A few-shot FAQ built from BANKING77, and the questions that measure a bot on it (issue 21).

BANKING77 (Casanueva et al. 2020, CC BY 4.0) is read from ``../shared/data/banking77/`` and never copied
into the project. From it, with a fixed seed:

* the FAQ: :data:`FAQ_INTENTS` of the 77 intents, each one entry of :data:`SHOTS` training questions (the
  first is the entry's question, the others its alternatives) and the answer a bank would write
  (``tests/data/banking77/answers.yaml``, written for all 77 intents before the 60 were drawn);
* evaluation: the test questions of the FAQ's intents (in scope), of the other 17 intents (near-domain:
  banking questions this FAQ cannot answer) and ``off_domain_eval.txt`` (chit-chat and other businesses'
  questions, written for this set);
* tuning: training questions that are not in the FAQ, of both kinds of intent, and ``off_domain_tune.txt``.
  Nothing is ever chosen on the test split.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "banking77"
OWN = ROOT / "tests" / "data" / "banking77"
SEED = 77
FAQ_INTENTS = 60
SHOTS = 5


@dataclass(frozen=True)
class Banking77:
    faq: list[dict[str, object]]  # {"id", "question", "alternatives", "answer"}: the FAQ file's entries
    in_test: list[tuple[str, str]]  # (question, the FAQ entry that answers it)
    near_test: list[str]
    off_test: list[str]
    in_tune: list[tuple[str, str]]
    near_tune: list[str]
    off_tune: list[str]

    def write_faq(self, path: Path) -> Path:
        path.write_text(yaml.safe_dump(self.faq, allow_unicode=True, sort_keys=False))
        return path


def _rows(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return [(r["text"].strip(), r["category"]) for r in csv.DictReader(f)]


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def build(shared: Path = SHARED, own: Path = OWN, seed: int = SEED, tune_per_intent: int = 10) -> Banking77:
    """The FAQ and question sets; `tune_per_intent` training questions of each intent (beyond the FAQ's) to tune on."""
    if not (shared / "train.csv").exists():
        raise FileNotFoundError(f"BANKING77 is not at {shared} (expected ../shared/data/banking77 beside the project)")
    intents: list[str] = json.loads((shared / "categories.json").read_text())
    answers: dict[str, str] = yaml.safe_load((own / "answers.yaml").read_text())
    rng = random.Random(seed)
    chosen = sorted(rng.sample(intents, FAQ_INTENTS))
    in_faq = set(chosen)
    train: dict[str, list[str]] = {}
    for text, intent in _rows(shared / "train.csv"):
        train.setdefault(intent, []).append(text)
    faq: list[dict[str, object]] = []
    in_tune: list[tuple[str, str]] = []
    near_tune: list[str] = []
    for intent in intents:
        questions = list(dict.fromkeys(train[intent]))  # a few training questions repeat
        rng.shuffle(questions)
        if intent in in_faq:
            shots, rest = questions[:SHOTS], questions[SHOTS:]
            faq.append({"id": intent, "question": shots[0], "alternatives": shots[1:], "answer": answers[intent]})
            in_tune += [(q, intent) for q in rest[:tune_per_intent]]
        else:
            near_tune += questions[:tune_per_intent]
    faq.sort(key=lambda e: str(e["id"]))
    test = _rows(shared / "test.csv")
    return Banking77(faq=faq, in_test=[(q, i) for q, i in test if i in in_faq],
                     near_test=[q for q, i in test if i not in in_faq], off_test=_lines(own / "off_domain_eval.txt"),
                     in_tune=in_tune, near_tune=near_tune, off_tune=_lines(own / "off_domain_tune.txt"))

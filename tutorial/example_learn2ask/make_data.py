"""Synthetic consultation cases for the learn-to-ask tutorial: a training set and a disjoint
held-out set, the same files for the same seed.

Each case is a chief complaint and a few facts the patient knows, each under one topic the
simulated patient understands (patient.TOPICS). Every complaint has its own relevant topics and a
case holds ``--facts`` of them, so a good doctor learns which questions each complaint calls for.

    python tutorial/example_learn2ask/make_data.py --out tutorial/example_learn2ask/data
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from patient import TOPICS

# Complaint -> (the patient's opening line, {topic: possible answers}). Only these topics can be
# facts of a case with this complaint.
COMPLAINTS: dict[str, tuple[str, dict[str, list[str]]]] = {
    "cough": (
        "I have had a bad cough.",
        {
            "duration": ["It started three days ago.", "About two weeks now."],
            "fever": ["Yes, 38.5 degrees last night.", "No, my temperature is normal."],
            "triggers": ["It is worse at night.", "It gets worse when I lie down."],
            "medication": ["I took some cough syrup.", "Nothing so far."],
            "history": ["I had the same cough last winter.", "Never had it before."],
        },
    ),
    "headache": (
        "My head hurts a lot.",
        {
            "duration": ["Since yesterday morning.", "For about a week."],
            "location": ["Behind my eyes.", "On the left side of my head."],
            "severity": ["Seven out of ten.", "It is mild but constant."],
            "medication": ["I took ibuprofen twice.", "Only paracetamol."],
            "other_symptoms": ["Light bothers me and I feel sick.", "I feel dizzy."],
        },
    ),
    "stomach": (
        "I have pain in my stomach.",
        {
            "location": ["Low on the right side.", "Right in the middle, above the navel."],
            "triggers": ["It gets worse after I eat.", "It is better when I lie still."],
            "other_symptoms": ["I vomited twice.", "I feel nauseous."],
            "fever": ["Yes, a slight fever.", "No fever."],
            "duration": ["Since last night.", "On and off for a month."],
        },
    ),
    "rash": (
        "I have a rash on my skin.",
        {
            "location": ["On both arms.", "On my neck and chest."],
            "allergies": ["I am allergic to penicillin.", "I have no known allergies."],
            "medication": ["I started a new antibiotic last week.", "I put on some cream."],
            "duration": ["It appeared two days ago.", "For about ten days."],
            "triggers": ["It itches more at night.", "It got worse after a hot shower."],
        },
    ),
    "sore_throat": (
        "My throat is sore.",
        {
            "fever": ["Yes, I had chills and a fever.", "No fever."],
            "duration": ["Since the weekend.", "Just since this morning."],
            "severity": ["It hurts to swallow anything.", "It is a mild scratch."],
            "allergies": ["I have hay fever.", "No allergies that I know of."],
            "other_symptoms": ["My nose is blocked too.", "I feel very tired."],
        },
    ),
    "back_pain": (
        "My back is hurting.",
        {
            "location": ["Low in my back, on the right.", "Between my shoulder blades."],
            "severity": ["It is severe, I can hardly walk.", "Mild, more of an ache."],
            "triggers": ["It is worse in the morning.", "Sitting makes it worse."],
            "history": ["I hurt my back two years ago.", "This is the first time."],
            "medication": ["I take naproxen.", "No medicine yet."],
        },
    ),
}


def make_case(rng: random.Random, index: int, complaint: str, facts: int) -> dict:
    opening, answers = COMPLAINTS[complaint]
    topics = sorted(rng.sample(sorted(answers), facts), key=list(TOPICS).index)
    return {
        "task_id": f"case-{index:04d}-{complaint}",
        "main_query": opening,
        "metadata": {
            "complaint": opening,
            "facts": {topic: rng.choice(answers[topic]) for topic in topics},
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--train", type=int, default=240)
    parser.add_argument("--held-out", type=int, default=36)
    parser.add_argument("--facts", type=int, default=3, help="facts per case (1-5)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not 1 <= args.facts <= 5:
        parser.error(f"--facts must be 1-5 (each complaint has 5 topics), got {args.facts}")
    rng = random.Random(args.seed)
    complaints = sorted(COMPLAINTS)
    cases, seen = [], set()
    # Cases are drawn until both splits are full of distinct records (complaint and facts), so
    # no held-out case is a training case.
    limit = 100 * (args.train + args.held_out)
    while len(cases) < args.train + args.held_out and limit:
        limit -= 1
        case = make_case(rng, len(cases), complaints[len(cases) % len(complaints)], args.facts)
        key = json.dumps(case["metadata"], sort_keys=True)
        if key not in seen:
            seen.add(key)
            cases.append(case)
    if len(cases) < args.train + args.held_out:
        parser.error(
            f"only {len(cases)} distinct cases exist with --facts {args.facts}; ask for fewer"
        )
    rng.shuffle(cases)
    held_out, train = cases[: args.held_out], cases[args.held_out :]
    args.out.mkdir(parents=True, exist_ok=True)
    for name, split in (("train.jsonl", train), ("validation.jsonl", held_out)):
        with (args.out / name).open("w") as handle:
            handle.writelines(json.dumps(case) + "\n" for case in split)
    print(f"wrote {len(train)} training and {len(held_out)} held-out cases to {args.out}")


if __name__ == "__main__":
    main()

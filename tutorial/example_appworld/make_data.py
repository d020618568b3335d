"""Generate the AppWorld-style tasks: a seeded initial state of the three apps per task, an
instruction that takes several API calls, and the ground-truth final state.

    python tutorial/example_appworld/make_data.py [--out DIR] [--train 200] [--held-out 40]

The ground truth is made by running a reference solution through the apps' own code
(:func:`appworld_apps.call_api`), so it is reachable by construction; the file keeps that
solution for tests, never for the agent. Training and held-out tasks come from separate seeds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path

from appworld_apps import (  # a sibling: a script's folder is on sys.path
    ApiCall,
    AppState,
    AppTask,
    Contact,
    Event,
    TodoItem,
    call_api,
)

FIRST = (
    "Alice Bruno Chen Dana Emil Farah Goran Hana Ivan Jia Kofi Lena Mateo Nora Omar Priya".split()
)
LAST = "Berg Costa Diaz Eriksen Fischer Gupta Haddad Ito Jensen Kowalski Lund Moreau Novak".split()
CHORES = [
    "Buy milk", "Pay rent", "Water the plants", "Book dentist", "Renew passport", "Fix the bike",
    "Return library books", "Call the bank", "Clean the fridge", "Order printer ink",
    "Send the invoice", "Back up the laptop",
]  # fmt: skip
MEETINGS = [
    "Project sync", "Lunch", "Budget review", "Coffee chat", "Design review",
    "Quarterly planning", "Book club", "Yoga class", "Team retro", "Code review",
]  # fmt: skip
TIMES = ["09:00", "09:30", "10:00", "11:00", "12:30", "14:00", "15:30", "16:00", "17:00"]
TODAY = dt.date(2026, 12, 1)


def _phone(rng: random.Random) -> str:
    return f"555-{rng.randint(1000, 9999)}"


def _day(rng: random.Random) -> dt.date:
    return TODAY + dt.timedelta(days=rng.randint(1, 10))


def initial_state(rng: random.Random) -> AppState:
    names = rng.sample([f"{f} {s}" for f in FIRST for s in LAST], rng.randint(4, 6))
    contacts = [
        Contact(
            id=i + 1,
            name=name,
            phone=_phone(rng),
            email=f"{name.split()[0].lower()}.{name.split()[1].lower()}@example.com",
        )
        for i, name in enumerate(names)
    ]
    todos = [
        TodoItem(id=i + 1, title=title, done=rng.random() < 0.3, due=rng.choice([None, _day(rng)]))
        for i, title in enumerate(rng.sample(CHORES, rng.randint(3, 6)))
    ]
    events = []
    for i, title in enumerate(rng.sample(MEETINGS, rng.randint(2, 5))):
        attendees = [c.email for c in rng.sample(contacts, rng.randint(0, 2))]
        start = rng.choice(TIMES)
        events.append(
            Event(id=i + 1, title=title, date=_day(rng), start=start, attendees=attendees)
        )
    return AppState(contacts=contacts, todos=todos, events=events)


Plan = tuple[str, list[ApiCall]]


def complete_todo(rng: random.Random, s: AppState) -> Plan | None:
    open_items = [t for t in s.todos if not t.done]
    if not open_items:
        return None
    item = rng.choice(open_items)
    return (
        f"Mark my to-do item '{item.title}' as done.",
        [ApiCall(name="todo_list"), ApiCall(name="todo_complete", arguments={"item_id": item.id})],
    )


def update_phone(rng: random.Random, s: AppState) -> Plan | None:
    contact = rng.choice(s.contacts)
    phone = _phone(rng)
    return (
        f"{contact.name} has a new phone number, {phone}. Update my contacts book.",
        [
            ApiCall(name="contacts_search", arguments={"query": contact.name.split()[0]}),
            ApiCall(name="contacts_update", arguments={"contact_id": contact.id, "phone": phone}),
        ],
    )


def meeting_with_contacts(rng: random.Random, s: AppState) -> Plan | None:
    a, b = rng.sample(s.contacts, 2)
    title = rng.choice(
        [m for m in MEETINGS if m not in {e.title for e in s.events}] or ["Catch-up"]
    )
    day, start = _day(rng), rng.choice(TIMES)
    return (
        f"Put '{title}' in my calendar on {day} at {start}, with {a.name} and {b.name} as "
        "attendees (use their emails from my contacts book).",
        [
            ApiCall(name="contacts_search", arguments={"query": a.name.split()[0]}),
            ApiCall(name="contacts_search", arguments={"query": b.name.split()[0]}),
            ApiCall(
                name="calendar_create",
                arguments={
                    "title": title,
                    "date": str(day),
                    "start": start,
                    "attendees": [a.email, b.email],
                },
            ),
        ],
    )


def new_contact_and_todo(rng: random.Random, s: AppState) -> Plan | None:
    taken = {c.name for c in s.contacts}
    name = rng.choice([f"{f} {x}" for f in FIRST for x in LAST if f"{f} {x}" not in taken])
    first, last = name.split()
    phone, email = _phone(rng), f"{first.lower()}.{last.lower()}@example.com"
    return (
        f"Save {name} (phone {phone}, email {email}) in my contacts, and add a to-do item "
        f"'Call {first}' with no due date.",
        [
            ApiCall(name="contacts_add", arguments={"name": name, "phone": phone, "email": email}),
            ApiCall(name="todo_add", arguments={"title": f"Call {first}"}),
        ],
    )


def cancel_day(rng: random.Random, s: AppState) -> Plan | None:
    day = rng.choice(s.events).date
    on_day = [e for e in s.events if e.date == day]
    return (
        f"Cancel every event in my calendar on {day}, and for each one add a to-do item "
        "'Reschedule <event title>' with no due date.",
        [ApiCall(name="calendar_list", arguments={"date": str(day)})]
        + [ApiCall(name="calendar_cancel", arguments={"event_id": e.id}) for e in on_day]
        + [ApiCall(name="todo_add", arguments={"title": f"Reschedule {e.title}"}) for e in on_day],
    )


def clear_done(rng: random.Random, s: AppState) -> Plan | None:
    done = [t for t in s.todos if t.done]
    if not done:
        return None
    return (
        "Delete every to-do item I have already finished.",
        [ApiCall(name="todo_list", arguments={"include_done": True})]
        + [ApiCall(name="todo_delete", arguments={"item_id": t.id}) for t in done],
    )


KINDS: dict[str, Callable[[random.Random, AppState], Plan | None]] = {
    "complete_todo": complete_todo,
    "update_phone": update_phone,
    "meeting_with_contacts": meeting_with_contacts,
    "new_contact_and_todo": new_contact_and_todo,
    "cancel_day": cancel_day,
    "clear_done": clear_done,
}


def make_task(task_id: str, rng: random.Random) -> AppTask:
    while True:
        initial = initial_state(rng)
        kind = rng.choice(sorted(KINDS))
        plan = KINDS[kind](rng, initial)
        if plan is not None:
            break
    instruction, solution = plan
    expected = initial.model_copy(deep=True)
    for call in solution:
        call_api(expected, call.name, call.arguments)
    return AppTask(
        task_id=task_id,
        kind=kind,
        instruction=instruction,
        today=TODAY,
        initial=initial,
        expected=expected,
        solution=solution,
    )


def write(path: Path, prefix: str, count: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for i in range(count):
            f.write(make_task(f"{prefix}-{i}", rng).model_dump_json() + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data")
    parser.add_argument("--train", type=int, default=200)
    parser.add_argument("--held-out", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    write(args.out / "train.jsonl", "train", args.train, args.seed)
    # A seed far from the training one: held-out states and instructions are new draws.
    write(args.out / "validation.jsonl", "heldout", args.held_out, args.seed + 1_000_003)
    print(f"wrote {args.train} training and {args.held_out} held-out tasks to {args.out}")


if __name__ == "__main__":
    main()

"""Three small stateful apps (a to-do list, a contacts book, a calendar), their API, and the judge
that scores an episode by the apps' final state.

Everything the env server, the workflow, ``make_data.py`` and the tests share lives here, so the
tool schemas the model sees are generated from the same pydantic models that validate its calls.

* :class:`AppState` — the apps' records (pydantic); one deep copy per episode, made on reset.
* ``API`` — every callable API, named ``<app>_<action>`` (OpenAI function names allow no dots),
  each with a pydantic model of its arguments; :func:`openai_tools` turns them into the
  ``tools=[...]`` list of a chat-completions request.
* :func:`call_api` — one call against a state; a bad call raises :class:`ApiError`, whose text the
  env returns to the agent as the tool's result (it names the API, the argument and the way out).
* :func:`score_state` — the judge: compares the final state with the task's ground-truth state.
* :class:`AppWorldEnv` — the apps behind the env-service protocol (``reset/step/evaluate``).

Scoring (documented in the README): a task's *checks* are the records it must create or change
(each must be in the final state) and the records it must remove or change (each must be gone).
``score = checks met / checks``, halved when the final state has *collateral damage*: a record
that should have stayed as it was is gone or changed, or a record is there that the ground truth
does not have (other than one the task should have removed: that is only a missed check).
``score == 1.0`` exactly when the final state equals the ground truth. Record ids
are ignored in the comparison (the apps number new records in call order, and two correct
solutions may add records in different orders); names and titles are unique within a task.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from ajet_plugins_std.envs.base import StepResult, TextEnv
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

TIME = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM")]
EMAIL = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]+$", description="email address")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- state ----------------------------------------------------------------------------------------
class Contact(Strict):
    id: int
    name: str
    phone: str
    email: EMAIL


class TodoItem(Strict):
    id: int
    title: str
    done: bool = False
    due: dt.date | None = None


class Event(Strict):
    id: int
    title: str
    date: dt.date
    start: TIME
    attendees: list[EMAIL] = Field(default_factory=list)

    @field_validator("attendees")
    @classmethod
    def _as_a_set(cls, emails: list[str]) -> list[str]:
        # Attendees are a set: the order the agent lists them in must not change the state.
        return sorted(set(emails))


class AppState(Strict):
    contacts: list[Contact] = Field(default_factory=list)
    todos: list[TodoItem] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)


def _next_id(records: list[Any]) -> int:
    return max((r.id for r in records), default=0) + 1


def _find(records: list[Any], record_id: int, what: str, api: str, lister: str) -> Any:
    for record in records:
        if record.id == record_id:
            return record
    known = ", ".join(str(r.id) for r in records) or "none"
    raise ApiError(f"{api}: no {what} with id {record_id} (ids now: {known}); call {lister} first")


# -- the API ------------------------------------------------------------------------------------
class ApiError(ValueError):
    """A call the app refuses; its message goes back to the agent as the tool's result."""


class ContactsSearch(Strict):
    query: str = Field(description="part of the contact's name, any case")


class ContactsAdd(Strict):
    name: str = Field(min_length=1)
    phone: str = Field(min_length=3)
    email: EMAIL


class ContactsUpdate(Strict):
    contact_id: int
    phone: str | None = Field(default=None, min_length=3)
    email: EMAIL | None = None


class ContactsDelete(Strict):
    contact_id: int


class TodoList(Strict):
    include_done: bool = Field(default=False, description="also list finished items")


class TodoAdd(Strict):
    title: str = Field(min_length=1)
    due: dt.date | None = Field(default=None, description="YYYY-MM-DD")


class TodoItemRef(Strict):
    item_id: int


class CalendarList(Strict):
    date: dt.date | None = Field(default=None, description="YYYY-MM-DD; all events if omitted")


class CalendarCreate(Strict):
    title: str = Field(min_length=1)
    date: dt.date = Field(description="YYYY-MM-DD")
    start: TIME
    attendees: list[EMAIL] = Field(default_factory=list, description="attendees' emails")


class CalendarCancel(Strict):
    event_id: int


@dataclass(frozen=True)
class Api:
    name: str
    description: str
    arguments: type[Strict]
    run: Callable[[AppState, Any], Any]


API: dict[str, Api] = {}


def _api(name: str, arguments: type[Strict], description: str):
    def register(run: Callable[[AppState, Any], Any]) -> Callable[[AppState, Any], Any]:
        API[name] = Api(name, description, arguments, run)
        return run

    return register


def _dump(record: BaseModel) -> dict[str, Any]:
    return record.model_dump(mode="json")


@_api("contacts_search", ContactsSearch, "Find contacts whose name contains the query.")
def _contacts_search(state: AppState, a: ContactsSearch) -> list[dict[str, Any]]:
    return [_dump(c) for c in state.contacts if a.query.lower() in c.name.lower()]


@_api("contacts_add", ContactsAdd, "Add a contact; returns its contact_id.")
def _contacts_add(state: AppState, a: ContactsAdd) -> dict[str, Any]:
    if any(c.name.lower() == a.name.lower() for c in state.contacts):
        raise ApiError(
            f"contacts_add: a contact named {a.name!r} exists; use contacts_update to change it"
        )
    contact = Contact(id=_next_id(state.contacts), **a.model_dump())
    state.contacts.append(contact)
    return {"contact_id": contact.id}


@_api("contacts_update", ContactsUpdate, "Change a contact's phone and/or email.")
def _contacts_update(state: AppState, a: ContactsUpdate) -> dict[str, Any]:
    if a.phone is None and a.email is None:
        raise ApiError("contacts_update: give phone, email or both (nothing to change)")
    contact = _find(state.contacts, a.contact_id, "contact", "contacts_update", "contacts_search")
    if a.phone is not None:
        contact.phone = a.phone
    if a.email is not None:
        contact.email = a.email
    return _dump(contact)


@_api("contacts_delete", ContactsDelete, "Delete a contact.")
def _contacts_delete(state: AppState, a: ContactsDelete) -> dict[str, Any]:
    contact = _find(state.contacts, a.contact_id, "contact", "contacts_delete", "contacts_search")
    state.contacts.remove(contact)
    return {"deleted": contact.id}


@_api("todo_list", TodoList, "List to-do items (open ones unless include_done).")
def _todo_list(state: AppState, a: TodoList) -> list[dict[str, Any]]:
    return [_dump(t) for t in state.todos if a.include_done or not t.done]


@_api("todo_add", TodoAdd, "Add a to-do item; returns its item_id.")
def _todo_add(state: AppState, a: TodoAdd) -> dict[str, Any]:
    item = TodoItem(id=_next_id(state.todos), title=a.title, due=a.due)
    state.todos.append(item)
    return {"item_id": item.id}


@_api("todo_complete", TodoItemRef, "Mark a to-do item as done.")
def _todo_complete(state: AppState, a: TodoItemRef) -> dict[str, Any]:
    item = _find(state.todos, a.item_id, "to-do item", "todo_complete", "todo_list")
    if item.done:
        raise ApiError(f"todo_complete: item {item.id} ({item.title!r}) is already done")
    item.done = True
    return _dump(item)


@_api("todo_delete", TodoItemRef, "Delete a to-do item.")
def _todo_delete(state: AppState, a: TodoItemRef) -> dict[str, Any]:
    item = _find(state.todos, a.item_id, "to-do item", "todo_delete", "todo_list")
    state.todos.remove(item)
    return {"deleted": item.id}


@_api("calendar_list", CalendarList, "List calendar events (of one date if given).")
def _calendar_list(state: AppState, a: CalendarList) -> list[dict[str, Any]]:
    return [_dump(e) for e in state.events if a.date is None or e.date == a.date]


@_api("calendar_create", CalendarCreate, "Create a calendar event; returns its event_id.")
def _calendar_create(state: AppState, a: CalendarCreate) -> dict[str, Any]:
    event = Event(id=_next_id(state.events), **a.model_dump())
    state.events.append(event)
    return {"event_id": event.id}


@_api("calendar_cancel", CalendarCancel, "Cancel (delete) a calendar event.")
def _calendar_cancel(state: AppState, a: CalendarCancel) -> dict[str, Any]:
    event = _find(state.events, a.event_id, "event", "calendar_cancel", "calendar_list")
    state.events.remove(event)
    return {"cancelled": event.id}


# What a tool schema keeps: enough for the model to form a valid call; the rest (patterns, lengths,
# titles) stays in the validation, whose errors name it. Fewer prompt tokens for small models.
_SCHEMA_KEYS = {"type", "description", "properties", "required", "items", "format", "default"}


class NoArguments(Strict):
    pass


COMPLETE = "supervisor_complete_task"


@_api(COMPLETE, NoArguments, "Say the task is done; this ends the episode.")
def _complete_task(state: AppState, a: NoArguments) -> dict[str, Any]:
    return {"completed": True}


def _compact(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
    if len(options) == 1:  # 'X or null' (an optional argument) is X with a default
        node = {**options[0], **{k: v for k, v in node.items() if k != "anyOf"}}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _compact(spec) for name, spec in value.items()}
        elif key == "items":
            out[key] = _compact(value)
        elif key in _SCHEMA_KEYS and not (key == "default" and value is None):
            out[key] = value
    return out


def _compact_schema(model: type[BaseModel]) -> dict[str, Any]:
    return _compact(model.model_json_schema())


def openai_tools() -> list[dict[str, Any]]:
    """Every API as an OpenAI ``tools`` entry."""
    return [
        {
            "type": "function",
            "function": {
                "name": api.name,
                "description": api.description,
                "parameters": _compact_schema(api.arguments),
            },
        }
        for api in API.values()
    ]


def _validation_problem(name: str, exc: ValidationError) -> str:
    problems = "; ".join(
        f"argument {'.'.join(map(str, e['loc'])) or '(all)'}: {e['msg']}" for e in exc.errors()
    )
    fields = API[name].arguments.model_fields
    expected = ", ".join(
        f"{field}{'' if info.is_required() else '?'}" for field, info in fields.items()
    )
    return f"{name}: {problems} (its arguments: {expected or 'none'})"


def call_api(state: AppState, name: str, arguments: dict[str, Any] | str | None) -> Any:
    """Run one API call on ``state`` (changing it) and return its JSON-able result."""
    if name not in API:
        raise ApiError(f"no API named {name!r}; the APIs are {', '.join(API)}")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise ApiError(
                f"{name}: the arguments are not JSON ({exc.msg}): {arguments!r:.200}"
            ) from None
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise ApiError(f"{name}: the arguments must be a JSON object, got {arguments!r:.200}")
    api = API[name]
    try:
        parsed = api.arguments.model_validate(arguments)
    except ValidationError as exc:
        raise ApiError(_validation_problem(name, exc)) from None
    return api.run(state, parsed)


# -- the judge ----------------------------------------------------------------------------------
def _records(state: AppState) -> Counter[str]:
    """The state as a multiset of records without their ids, each as canonical JSON."""
    records: Counter[str] = Counter()
    for app in ("contacts", "todos", "events"):
        for record in getattr(state, app):
            fields = record.model_dump(mode="json", exclude={"id"})
            records[json.dumps({"app": app, **fields}, sort_keys=True)] += 1
    return records


class StateScore(Strict):
    score: float
    checks: int
    checks_met: int
    collateral: list[str]
    missing: list[str]


def score_state(initial: AppState, expected: AppState, final: AppState) -> StateScore:
    """Score ``final`` against the ground truth ``expected`` (see the module docstring)."""
    before, want, got = _records(initial), _records(expected), _records(final)
    to_have, to_lose = want - before, before - want
    checks = sum(to_have.values()) + sum(to_lose.values())
    missing = to_have - got
    kept_wrongly = to_lose & got
    met = checks - sum(missing.values()) - sum(kept_wrongly.values())
    unchanged = want & before
    collateral = sorted(
        [f"lost: {r}" for r in (unchanged - got).elements()]
        # A record the task should have removed and did not is a missed check, not collateral.
        + [f"unexpected: {r}" for r in ((got - want) - to_lose).elements()]
    )
    score = met / checks if checks else 1.0
    if collateral:
        score /= 2
    return StateScore(
        score=score,
        checks=checks,
        checks_met=met,
        collateral=collateral,
        missing=sorted(missing.elements()) + [f"not removed: {r}" for r in kept_wrongly.elements()],
    )


# -- tasks and the environment ------------------------------------------------------------------
class ApiCall(Strict):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class AppTask(Strict):
    """One task as ``make_data.py`` writes it: the ground truth is ``expected``; ``solution`` is
    one call sequence that reaches it (used to build and check the data, never shown)."""

    task_id: str
    kind: str
    instruction: str
    today: dt.date
    initial: AppState
    expected: AppState
    solution: list[ApiCall]


SYSTEM_PROMPT = (
    "You are a personal assistant with access to the user's apps: a to-do list, a contacts book "
    "and a calendar. Use the tools to look things up and make the changes the user asks for; "
    "record ids come from the list and search tools. When everything is done, call "
    f"{COMPLETE}."
)


def action_message(name: str, arguments: dict[str, Any] | str) -> str:
    """A tool call as the text of an env-service ``step`` action (the protocol carries text)."""
    return json.dumps({"name": name, "arguments": arguments})


class AppWorldEnv(TextEnv):
    """One episode's apps. ``reset`` copies the task's initial state, so every episode (and
    every instance on the server) has its own; ``step`` takes one API call per action."""

    def __init__(self, task: AppTask, *, max_api_calls: int = 40) -> None:
        self.task = task
        self.max_api_calls = max_api_calls
        self.state = task.initial.model_copy(deep=True)
        self.api_calls = 0
        self.api_errors = 0

    def reset(self) -> list[dict[str, Any]]:
        self.state = self.task.initial.model_copy(deep=True)
        self.api_calls = self.api_errors = 0
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Today is {self.task.today}. {self.task.instruction}"},
        ]

    def step(self, action: str) -> StepResult:
        self.api_calls += 1
        done = self.api_calls >= self.max_api_calls
        try:
            call = json.loads(action)
            if not isinstance(call, dict) or not isinstance(call.get("name"), str):
                raise ValueError
        except ValueError:
            self.api_errors += 1
            return StepResult(
                'Error: an action is one API call as JSON: {"name": "todo_list", "arguments": {}}',
                0.0,
                done,
                {"ok": False},
            )
        name = call["name"]
        try:
            result = call_api(self.state, name, call.get("arguments"))
        except ApiError as exc:
            self.api_errors += 1
            return StepResult(f"Error: {exc}", 0.0, done, {"ok": False, "api": name})
        done = done or name == COMPLETE
        return StepResult(json.dumps(result), 0.0, done, {"ok": True, "api": name})

    def judge(self) -> StateScore:
        return score_state(self.task.initial, self.task.expected, self.state)

    def evaluate(self) -> float:
        return self.judge().score


def load_tasks(path: str) -> list[AppTask]:
    with open(path, encoding="utf-8") as f:
        return [AppTask.model_validate_json(line) for line in f if line.strip()]

"""Forms generated from field declarations: one GOV.UK component per field kind, read back with GOV.UK's messages.

A small registry maps a field kind (``machines.spec.FieldKind``'s value) to a :class:`Widget`: how it is drawn (a
govuk-frontend-jinja macro and its parameters) and how a submitted form is read back into the value the event spec
parses. A kind declared later with no widget of its own is drawn as a text input whose hint says what to type, so
every event stays possible; ``register_widget`` adds a better one.

HTML names are ``field-<key>`` (dates ``field-<key>-day``/``-month``/``-year``), so no declared key can collide
with the form's own inputs (``csrf_token``, ``request_id``, ``on``, ``step``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from starlette.datastructures import ImmutableMultiDict

from machines.errors import FieldProblem
from machines.spec import Field, FieldKind
from machines.wording import long_date, role_words, value_words, words

__all__ = [
    "WIDGETS",
    "FieldContext",
    "FormField",
    "Widget",
    "read_fields",
    "register_widget",
    "widget_for",
]

FormData = ImmutableMultiDict[str, Any]  # a submitted form (starlette's FormData is one)
TEXT_LIMIT = 20_000  # characters in one free-text answer (the form itself is capped at 1 MB)


@dataclass(frozen=True)
class FieldContext:
    """What a widget may offer: the people who may be named (user name, label), by role or for this case."""

    people_by_role: Callable[[str | None], Sequence[tuple[str, str]]] = lambda role: ()
    case_people: Sequence[tuple[str, str]] = ()  # the people on the case and their managers, for PEOPLE fields


@dataclass
class FormField:
    """A field as shown: its declaration, the widget drawing it, what was typed (to show again), its error."""

    key: str
    spec: Field
    widget: Widget
    typed: Any = None
    error: str | None = None
    value: Any = None  # the value read back, for the spec to parse

    @property
    def name(self) -> str:
        return f"field-{self.key}"

    @property
    def id(self) -> str:
        return f"field-{self.key}"

    @property
    def anchor(self) -> str:
        """Where the error summary's link goes (a date input's first box)."""
        return self.id + ("-day" if self.widget.kind == "date" else "")

    def params(self, ctx: FieldContext) -> dict[str, Any]:
        return self.widget.params(self, ctx)

    @property
    def macro(self) -> str:
        return self.widget.macro

    def answer(self) -> str:
        """The value as words, for "check your answers"."""
        if self.value in (None, "", []):
            return "Not given"
        return self.widget.answer(self.value)


class Widget(Protocol):
    kind: str
    macro: str  # the govuk-frontend-jinja macro that draws it

    def params(self, f: FormField, ctx: FieldContext) -> dict[str, Any]: ...

    def read(self, f: FormField, form: FormData) -> None:
        """Set ``f.typed`` (to show again), ``f.value`` (None when not answered) and ``f.error``."""
        ...

    def answer(self, value: Any) -> str: ...


def _label(f: FormField) -> dict[str, Any]:
    return {"text": f.spec.label + ("" if f.spec.required else " (optional)"), "classes": "govuk-label--s"}


def _legend(f: FormField) -> dict[str, Any]:
    return {"legend": {"text": f.spec.label + ("" if f.spec.required else " (optional)"),
                       "classes": "govuk-fieldset__legend--s"}}  # fmt: skip


def _common(f: FormField) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f.id, "name": f.name}
    if f.spec.hint:
        out["hint"] = {"text": f.spec.hint}
    if f.error:
        out["errorMessage"] = {"text": f.error}
    return out


def _lower(label: str) -> str:
    return label[:1].lower() + label[1:] if label[:2] != label[:2].upper() else label


def _missing(f: FormField, verb: str = "Enter") -> None:
    if f.spec.required:
        f.error = f"{verb} {_lower(f.spec.label)}"


class TextArea:
    """Free text (it stays in orderwatch)."""

    kind, macro = "text", "govukTextarea"

    def params(self, f: FormField, ctx: FieldContext) -> dict[str, Any]:
        return {**_common(f), "label": _label(f), "value": f.typed or "", "rows": 4}

    def read(self, f: FormField, form: FormData) -> None:
        text = str(form.get(f.name) or "").strip()
        f.typed = text
        if len(text) > TEXT_LIMIT:
            f.error = f"{f.spec.label} must be {TEXT_LIMIT:,} characters or fewer"
        elif text:
            f.value = text
        else:
            _missing(f)

    def answer(self, value: Any) -> str:
        return str(value)


class TextInput(TextArea):
    """One line of text: any kind without a widget of its own (its hint says what the spec expects)."""

    kind, macro = "line", "govukInput"

    def params(self, f: FormField, ctx: FieldContext) -> dict[str, Any]:
        out = {**_common(f), "label": _label(f), "value": f.typed or "", "spellcheck": False}
        if f.spec.kind is not FieldKind.TEXT:  # a kind with no widget of its own: say what to type
            out.setdefault("hint", {"text": f.spec.describe()})
        return out

    def answer(self, value: Any) -> str:
        return value_words(value)


class DateInput:
    """A date as day, month and year boxes (GOV.UK's date input pattern)."""

    kind, macro = "date", "govukDateInput"

    def params(self, f: FormField, ctx: FieldContext) -> dict[str, Any]:
        typed = f.typed or {}
        bad = " govuk-input--error" if f.error else ""
        items = [{"name": part, "classes": f"govuk-input--width-{width}{bad}", "value": typed.get(part, "")}
                 for part, width in (("day", 2), ("month", 2), ("year", 4))]  # fmt: skip
        out = {**_common(f), "namePrefix": f.name, "fieldset": _legend(f), "items": items}
        out.setdefault("hint", {"text": "For example, 27 3 2026"})
        out.pop("name")
        return out

    def read(self, f: FormField, form: FormData) -> None:
        parts = {p: str(form.get(f"{f.name}-{p}") or "").strip() for p in ("day", "month", "year")}
        f.typed = parts
        given = [p for p, v in parts.items() if v]
        if not given:
            _missing(f)
            return
        label = f.spec.label
        if len(given) < 3:
            absent = [p for p in ("day", "month", "year") if p not in given]
            f.error = f"{label} must include a {' and a '.join(absent)}"
            return
        try:
            if len(parts["year"]) != 4:
                raise ValueError
            f.value = date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
        except ValueError:
            f.error = f"{label} must be a real date"

    def answer(self, value: Any) -> str:
        return long_date(value)


def date_typed(d: date) -> dict[str, str]:
    """A date as the date input shows it."""
    return {"day": str(d.day), "month": str(d.month), "year": str(d.year)}


class Radios:
    """One of a few choices."""

    kind, macro = "choice", "govukRadios"

    def params(self, f: FormField, ctx: FieldContext) -> dict[str, Any]:
        items = [{"value": c, "text": value_words(c)[:1].upper() + value_words(c)[1:], "checked": f.typed == c}
                 for c in f.spec.choices]  # fmt: skip
        return {**_common(f), "idPrefix": f.id, "fieldset": _legend(f), "items": items}

    def read(self, f: FormField, form: FormData) -> None:
        chosen = str(form.get(f.name) or "")
        f.typed = chosen
        if chosen in f.spec.choices:
            f.value = chosen
        elif chosen:
            f.error = f"Select one of the options for {_lower(f.spec.label)}"
        else:
            _missing(f, "Select")

    def answer(self, value: Any) -> str:
        text = value_words(value)
        return text[:1].upper() + text[1:]


class YesNo:
    """Yes or no, as two radios (an optional one may be left unanswered)."""

    kind, macro = "bool", "govukRadios"

    def params(self, f: FormField, ctx: FieldContext) -> dict[str, Any]:
        items = [{"value": v, "text": t, "checked": f.typed == v} for v, t in (("yes", "Yes"), ("no", "No"))]
        return {**_common(f), "idPrefix": f.id, "fieldset": _legend(f), "items": items,
                "classes": "govuk-radios--inline"}  # fmt: skip

    def read(self, f: FormField, form: FormData) -> None:
        chosen = str(form.get(f.name) or "")
        f.typed = chosen
        if chosen in ("yes", "no"):
            f.value = chosen == "yes"
        else:
            _missing(f, "Select yes or no for")

    def answer(self, value: Any) -> str:
        return "Yes" if value else "No"


class PersonSelect:
    """A person, chosen from those holding the role the field asks for."""

    kind, macro = "person", "govukSelect"

    def params(self, f: FormField, ctx: FieldContext) -> dict[str, Any]:
        role = f.spec.role.value if f.spec.role is not None else None
        items = [{"value": "", "text": "Choose a person"}]
        items += [{"value": u, "text": label, "selected": f.typed == u} for u, label in ctx.people_by_role(role)]
        return {**_common(f), "label": _label(f), "items": items}

    def read(self, f: FormField, form: FormData) -> None:
        chosen = str(form.get(f.name) or "").strip()
        f.typed = chosen
        if chosen:
            f.value = chosen  # the rules check the person exists and holds the role
        else:
            _missing(f, "Select")

    def answer(self, value: Any) -> str:
        return str(value)


class PeopleCheckboxes:
    """People: the case's people and their managers as checkboxes, anyone else by user name."""

    kind, macro = "people", "govukCheckboxes"

    def params(self, f: FormField, ctx: FieldContext) -> dict[str, Any]:
        typed = f.typed or {"chosen": [], "others": ""}
        items = [{"value": u, "text": label, "checked": u in typed["chosen"]} for u, label in ctx.case_people]
        out = {**_common(f), "idPrefix": f.id, "fieldset": _legend(f), "items": items}
        out["others"] = {"id": f"{f.id}-others", "name": f"{f.name}-others", "value": typed["others"],
                         "label": {"text": "Anyone else (user names, separated by commas)"},
                         "classes": "govuk-!-width-two-thirds", "spellcheck": False}  # fmt: skip
        return out

    def read(self, f: FormField, form: FormData) -> None:
        chosen = [str(v) for v in form.getlist(f.name) if str(v).strip()]
        others = str(form.get(f"{f.name}-others") or "").strip()
        f.typed = {"chosen": chosen, "others": others}
        names = list(dict.fromkeys([*chosen, *(n.strip() for n in others.split(",") if n.strip())]))
        if names:
            f.value = names
        else:
            _missing(f, "Select at least one person for")

    def answer(self, value: Any) -> str:
        return ", ".join(value)


class WordChecklist:
    """Several of a list of words (criteria, agenda items), as checkboxes."""

    kind, macro = "list", "govukCheckboxes"

    def params(self, f: FormField, ctx: FieldContext) -> dict[str, Any]:
        chosen = f.typed or []
        items = [{"value": c, "text": words(c), "checked": c in chosen} for c in f.spec.choices]
        return {**_common(f), "idPrefix": f.id, "fieldset": _legend(f), "items": items}

    def read(self, f: FormField, form: FormData) -> None:
        chosen = [str(v) for v in form.getlist(f.name)]
        f.typed = chosen
        if chosen:
            f.value = chosen
        else:
            _missing(f, "Select at least one item for")

    def answer(self, value: Any) -> str:
        return value_words(value)


class TaskLines(TextArea):
    """Tasks with their owners, one a line (``owner: task``), handed on as ``owner: task; owner: task``."""

    kind = "tasks"

    def params(self, f: FormField, ctx: FieldContext) -> dict[str, Any]:
        out = super().params(f, ctx)
        out.setdefault("hint", {"text": "One task a line, with who is responsible: owner: task"})
        return out

    def read(self, f: FormField, form: FormData) -> None:
        super().read(f, form)
        if isinstance(f.value, str):
            lines = [ln.strip() for ln in f.value.splitlines() if ln.strip()]
            f.value = "; ".join(lines) if len(lines) > 1 else (lines[0] if lines else None)


WIDGETS: dict[str, Widget] = {
    FieldKind.TEXT.value: TextArea(),
    FieldKind.DATE.value: DateInput(),
    FieldKind.CHOICE.value: Radios(),
    FieldKind.BOOL.value: YesNo(),
    FieldKind.PERSON.value: PersonSelect(),
    FieldKind.PEOPLE.value: PeopleCheckboxes(),
    "list": WordChecklist(),  # kinds being declared on other branches: ready when they land
    "tasks": TaskLines(),
}
_FALLBACK = TextInput()


def register_widget(kind: str, widget: Widget) -> None:
    """Draw fields of ``kind`` with ``widget`` (a new field kind's component)."""
    WIDGETS[kind] = widget


def widget_for(spec: Field) -> Widget:
    kind = str(spec.kind.value)
    if kind == "list" and not spec.choices:
        return _FALLBACK  # an open list: words typed, comma-separated
    return WIDGETS.get(kind, _FALLBACK)


@dataclass
class FormRead:
    """A form's fields read back: each with its value or error; ``values`` for the spec (answered ones only)."""

    fields: list[FormField] = field(default_factory=list)

    @property
    def errors(self) -> list[FormField]:
        return [f for f in self.fields if f.error]

    @property
    def values(self) -> dict[str, Any]:
        return {f.key: f.value for f in self.fields if f.value not in (None, "", [])}


def blank_fields(specs: Mapping[str, Field], typed: Mapping[str, Any] | None = None,
                 widgets: Mapping[str, Widget] | None = None) -> list[FormField]:  # fmt: skip
    """The fields as first shown (``typed``: starting values, e.g. a date input's parts; ``widgets``: a widget
    other than the kind's for some keys)."""
    typed, widgets = typed or {}, widgets or {}
    return [FormField(k, s, widgets.get(k) or widget_for(s), typed.get(k)) for k, s in specs.items()]


def person_label(user: str, display_name: str | None, role: str) -> str:
    """A person as a form offers them: their name where one is recorded, with the user name the record keeps."""
    return f"{display_name} — {user} ({role_words(role)})" if display_name else f"{user} ({role_words(role)})"


def read_fields(specs: Mapping[str, Field], form: FormData, widgets: Mapping[str, Widget] | None = None) -> FormRead:
    """Read every field of a submitted form."""
    out = FormRead()
    widgets = widgets or {}
    for key, spec in specs.items():
        f = FormField(key, spec, widgets.get(key) or widget_for(spec))
        f.widget.read(f, form)
        if f.error is None and f.value not in (None, "", []):
            f.error = _malformed(spec, f.value)
        out.fields.append(f)
    return out


def _malformed(spec: Field, value: Any) -> str | None:
    """What the event's own rules say is wrong with an answer (a task without its owner, say), as the field's error
    — rather than as a refusal of the whole form after it was sent."""
    try:
        spec.parse("", "", value)
    except FieldProblem as problem:
        said = problem.detail.removeprefix(":").strip()
        return said[:1].upper() + said[1:]
    return None


def form_items(form: FormData, skip: Sequence[str] = ("csrf_token", "step")) -> list[tuple[str, str]]:
    """The submitted inputs as (name, value) pairs, to carry through "check your answers" as hidden inputs."""
    return [(k, str(v)) for k, v in form.multi_items() if k not in skip and isinstance(v, str)]

"""Add user (F6): one person, whose account exists at once. First, last, email, level, how they
get a first password, and whether to email them — each field checked as you type, the address
also against existing accounts. `ctrl+s` (or `enter` on the last field) adds them.

The rules are the store's (`store.onboarding.single_user`): this screen only collects, shows what
`check_fields` says next to each field, and hands the form to `add_user`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static

from store.accounts.audit import console_actor
from store.domain.clock import lifetime_words
from store.domain.text import clean_line
from store.domain.tokens import ONE_TIME_CREDENTIAL_VALID, SET_PASSWORD_VALID
from store.onboarding.single_user import (
    FIELDS,
    ONE_TIME_DAYS,
    SET_PASSWORD_HOURS,
    AddressTaken,
    NewUserForm,
    Refused,
    UserAdded,
    add_user,
    check_fields,
    existing_user_id,
)

from ..debounce import Debounce
from ..dialogs.ask import admin_question, ask_now
from ..dialogs.credential import CredentialDialog
from ..dialogs.user_detail import UserDetailDialog
from ..latest_check import LatestCheck
from ..widgets.language_select import LanguageSelect
from ..widgets.levels import DEFAULT_LEVEL, level_choices
from ..widgets.text_boxes import SafeInput
from ..widgets.toggles import Choice, Tick, start_at_chosen
from .base import UsherScreen

LOOKUP_DELAY = 0.25
"""Seconds of quiet typing in the email field before the address is looked up."""
PASSWORD_CHOICES = (
    ("link", "Let them choose"),
    ("generate", "Generate one"),
    ("set", "Set it now"),
)
INPUTS = {"first_name": "#first", "last_name": "#last", "email": "#email", "password": "#password"}
"""Store field → the Input that edits it (the level is a radio set and is always valid)."""
NOTES = {
    "link": f"They choose it with a single-use link in the email ({SET_PASSWORD_HOURS} hours).",
    "generate": (
        "A one-time password is shown to you once (never emailed); it works for "
        f"{ONE_TIME_DAYS} days and must be changed at first sign-in."
    ),
    "set": (
        f"Never emailed; it works for {ONE_TIME_DAYS} days and must be changed at first sign-in."
    ),
}


class AddUserScreen(UsherScreen):
    TITLE = "Add user"
    HELP: ClassVar[str] = (
        "Add one person: their account exists at once, active, at the level you choose.\n\n"
        "Type the first name, last name (optional) and email; tab moves on, enter too. "
        "Problems show next to each field as you type — also an address that already has an "
        "account (ctrl+o then opens that user on the Users screen).\n\n"
        "Password: let them choose (default: the email carries a single-use link, "
        f"{lifetime_words(SET_PASSWORD_VALID)}), generate one (a one-time password shown to you "
        f"once, with c to copy it; {lifetime_words(ONE_TIME_CREDENTIAL_VALID)}), or "
        "set it now (8 to 128 characters, not easy to guess: not a common password or pattern, "
        "nothing built on their name, email or the organisation's name). A "
        "generated or set password must be changed at first sign-in and is never emailed.\n\n"
        "Email the account information: the organisation, the sign-in page, the address to "
        "sign in with, their level and the set-password link. Without SMTP it waits in the "
        "Outbox (F9).\n\n"
        "ctrl+s (or enter on the last field) adds the user."
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "add", "Add user", priority=True),
        Binding("ctrl+o", "open_existing", "Open that user", priority=True),
        Binding("enter", "next_field", "Next", show=False, priority=True),
    ]
    AUTO_FOCUS = "#first"
    CSS_PATH = "add_user.tcss"

    def __init__(self) -> None:
        super().__init__()
        self._touched: set[str] = set()
        self._lookup = Debounce(self, LOOKUP_DELAY, self._start_lookup)
        self._org = ""
        self.strength: LatestCheck[NewUserForm, str | None] = LatestCheck(
            self, self._estimate, self.show_errors, group="add-user-strength"
        )
        """The set password's strength estimate, in a thread, for what is typed now."""
        self.taken: AddressTaken | None = None
        """The account that already has the typed address (the offer to open it)."""
        self.busy = False
        self.last_added: UserAdded | None = None

    # ---------------------------------------------------------------- layout

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="form"):
            yield Static(
                "One person; the account exists at once. Enter moves on, ctrl+s adds.",
                id="intro",
            )
            yield from self._field("first_name", "First name", "#first", "e.g. Ann")
            yield from self._field("last_name", "Last name", "#last", "optional")
            yield from self._field("email", "Email", "#email", "name@example.org")
            with Horizontal(classes="row", id="level-row"):
                yield Label("Level")
                with RadioSet(id="level", compact=True):
                    yield from level_choices(compact=True)
            with Horizontal(classes="row"):
                yield Label("Password")
                with RadioSet(id="choice", compact=True):
                    for how, title in PASSWORD_CHOICES:
                        yield Choice(title, value=how == "link", name=how, compact=True)
            with Horizontal(classes="row", id="password-row"):
                yield Label("")
                yield SafeInput(
                    id="password",
                    password=True,
                    compact=True,
                    placeholder="their first password",
                )
            yield Static("", classes="error", id="password-error")
            yield Static("", classes="note", id="choice-note")
            yield Tick("Email the account information", True, id="send-email", compact=True)
            yield Static("", classes="note", id="email-note")
            with Horizontal(classes="row", id="language-row"):
                yield Label("Language")
                yield LanguageSelect(configured=self.usher.settings.language, id="language")
            with Horizontal(id="actions"):
                yield Button("Add user", id="add", variant="primary", compact=True)
                yield Button("Open that user (ctrl+o)", id="open", compact=True)
            yield Static("", id="outcome")

    def _field(self, field: str, label: str, selector: str, hint: str) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label(label)
            yield SafeInput(id=selector[1:], compact=True, placeholder=hint)
        yield Static("", classes="error", id=f"{selector[1:]}-error")

    def on_mount(self) -> None:
        self._org = self.usher.settings.org
        start_at_chosen(self.query(RadioSet))
        self._sync_choice()

    # ---------------------------------------------------------------- reading the form

    def _pressed(self, selector: str, default: str) -> str:
        button = self.query_one(selector, RadioSet).pressed_button
        return button.name if button is not None and button.name else default

    def form(self) -> NewUserForm:
        return NewUserForm(
            first_name=self.query_one("#first", Input).value,
            last_name=self.query_one("#last", Input).value,
            email=self.query_one("#email", Input).value,
            level=self._pressed("#level", "member"),
            choice=self._pressed("#choice", "link"),
            password=self.query_one("#password", Input).value,
            send_email=self.query_one("#send-email", Checkbox).value,
            language=self.query_one("#language", LanguageSelect).language or "",
        )

    # ---------------------------------------------------------------- checking as you type

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        field = _field_of(event.input)
        if field is None:
            return
        if event.value:
            self._touched.add(field)
        if field == "email":
            self._set_taken(None)
            self._lookup.poke()
        self.show_errors()

    @on(Input.Blurred)
    def _left(self, event: Input.Blurred) -> None:
        field = _field_of(event.input)
        if field is not None and event.value:
            self._touched.add(field)
            self.show_errors()

    @on(RadioSet.Changed, "#choice")
    def _choice_changed(self, event: RadioSet.Changed) -> None:
        self._sync_choice()
        self.show_errors()
        if self._pressed("#choice", "link") == "set" and event.radio_set.has_focus:
            # Choosing "Set it now" means typing it next: go there (the row shows first).
            password = self.query_one("#password", Input)
            self.call_after_refresh(password.focus)

    @on(Checkbox.Changed, "#send-email")
    def _email_ticked(self) -> None:
        self._sync_choice()

    def _sync_choice(self) -> None:
        choice = self._pressed("#choice", "link")
        self.query_one("#password-row").set_class(choice == "set", "shown")
        self.query_one("#choice-note", Static).update(Text(NOTES[choice]))
        send = self.query_one("#send-email", Checkbox).value
        smtp = self.usher.settings.smtp_configured
        if send:
            note = "Organisation, sign-in page and address, level, set-password link."
            if not smtp:
                note += " No SMTP: it waits in the Outbox (F9)."
        elif choice == "link":
            note = "No email: they would need “Forgot your password?” on the sign-in page."
        else:
            note = "No email: tell them yourself how to sign in."
        self.query_one("#email-note", Static).update(Text(note))

    def show_errors(self, errors: dict[str, str] | None = None) -> dict[str, str]:
        """Show each touched field's problem next to it (and mark the field); returns them all.
        A set password's strength is estimated in a thread: "checking…" until it answers (the
        store checks again when the user is added)."""
        checking = False
        if errors is None:
            form = self.form()
            errors = check_fields(form, org=self._org, estimate_strength=False)
            wanted = _strength_key(form, errors)
            self.strength.want(wanted)
            if wanted is not None:
                answered = self.strength.answer(wanted)
                checking = answered is None
                if answered is not None and answered[0]:
                    errors["password"] = answered[0]
        if self.taken is not None and "email" not in errors:
            errors["email"] = (
                f"{self.taken.email} already has an account (user {self.taken.user_id}): "
                "ctrl+o opens them"
            )
        choice = self._pressed("#choice", "link")
        for field, selector in INPUTS.items():
            message = errors.get(field) if field in self._touched else None
            if field == "password" and choice != "set":
                message = None
            self.query_one(selector, Input).set_class(message is not None, "-invalid")
            line = self.query_one(f"{selector}-error", Static)
            waiting = field == "password" and checking and field in self._touched
            shown = f"✗ {clean_line(message)}" if message else ("checking…" if waiting else "")
            line.update(Text(shown))
            line.set_class(message is not None or waiting, "shown")
            line.set_class(waiting, "checking")
        return errors

    def _estimate(self, form: NewUserForm) -> str | None:
        """The set password's problem, strength estimate included (in a worker thread)."""
        return check_fields(form, org=self._org).get("password")

    def _start_lookup(self) -> None:
        self.run_latest(self._look_up, "add-user-lookup")

    async def _look_up(self) -> None:
        store = self.usher.store
        typed = self.query_one("#email", Input).value
        if store is None or "email" in check_fields(NewUserForm(email=typed)):
            return
        found = await existing_user_id(store.engine, typed)
        if found is not None and self.query_one("#email", Input).value == typed:
            self._set_taken(AddressTaken(user_id=found, email=typed.strip()))
            self._touched.add("email")
            self.show_errors()

    def _set_taken(self, taken: AddressTaken | None) -> None:
        self.taken = taken
        self.query_one("#open", Button).set_class(taken is not None, "shown")
        self.refresh_bindings()

    # ---------------------------------------------------------------- moving and submitting

    def action_next_field(self) -> None:
        """Enter in a name field moves on at once, as the key is handled: keys typed ahead
        (they arrive in bursts over SSH, or pasted) then land in the next field, where they
        went into the old one when focus moved later, on the Submitted message."""
        focused = self.focused
        following = {"first": "#last", "last": "#email"}
        if self._pressed("#choice", "link") == "set":
            following["email"] = "#password"
        if not isinstance(focused, Input) or focused.id not in following:
            raise SkipAction
        self.set_focus(self.query_one(following[focused.id], Input))

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()
        following = {"first": "#last", "last": "#email"}
        if event.input.id in following:
            self.query_one(following[event.input.id], Input).focus()
        elif event.input.id == "email" and self._pressed("#choice", "link") == "set":
            self.query_one("#password", Input).focus()
        else:
            self.action_add()

    @on(Button.Pressed, "#add")
    def _add_pressed(self) -> None:
        self.action_add()

    @on(Button.Pressed, "#open")
    def _open_pressed(self) -> None:
        self.run_worker(self.action_open_existing())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_existing":
            return self.taken is not None
        return True

    def action_add(self) -> None:
        if self.busy:
            return
        self._touched.update(FIELDS)
        errors = self.show_errors()
        if errors:
            self._focus_first(errors)
            return
        self.busy = True
        self.query_one("#add", Button).disabled = True
        # Read now, and keep the keys typed meanwhile for the fresh form (or the question).
        release = self.usher.keys.hold()
        self.run_write(self._add(self.form(), release), group="add-user", exit_on_error=False)

    async def _add(self, form: NewUserForm, release: Callable[[], None]) -> None:
        store = self.usher.store
        try:
            if store is None:
                return
            if form.level == "admin":
                confirmed, release = await self._admin_confirmed(form, release)
                if not confirmed:
                    return
            outcome = await add_user(store, form, actor=console_actor())
            self.busy = False
            self.query_one("#add", Button).disabled = False
            self._outcome(outcome)
        finally:
            self.busy = False
            self.query_one("#add", Button).disabled = False
            release()

    async def _admin_confirmed(
        self, form: NewUserForm, release: Callable[[], None]
    ) -> tuple[bool, Callable[[], None]]:
        """An admin can do everything: ask once (the keys typed ahead answer the question;
        those after the answer wait for the form)."""
        name = " ".join(part for part in (form.first_name, form.last_name) if part).strip()
        who = clean_line(name or form.email)
        return await ask_now(
            self.app,
            self.usher.keys,
            admin_question(who, f"{clean_line(form.email)} will be able to do everything."),
            release,
        )

    def _outcome(self, outcome: Refused | AddressTaken | UserAdded) -> None:
        if isinstance(outcome, Refused):
            self._focus_first(self.show_errors(outcome.errors))
        elif isinstance(outcome, AddressTaken):
            self._set_taken(outcome)
            self._focus_first(self.show_errors())
            self.notify(
                f"{outcome.email} already has an account: ctrl+o opens that user.",
                severity="warning",
                markup=False,
            )
        else:
            self._added(outcome)

    def _reset_choices(self) -> None:
        """Each new person starts at the defaults (member, let them choose, email them): the
        last person's admin level and generated password used to carry over unseen."""
        for selector, default in (("#level", DEFAULT_LEVEL), ("#choice", "link")):
            choices = self.query_one(selector, RadioSet)
            for button in choices.query(RadioButton):
                if button.name == default:
                    button.value = True
        self.query_one("#send-email", Checkbox).value = True
        self.query_one("#language", LanguageSelect).value = ""
        start_at_chosen(self.query(RadioSet))
        self._sync_choice()

    def _focus_first(self, errors: dict[str, str]) -> None:
        for field in FIELDS:
            if field in errors and field in INPUTS:
                self.query_one(INPUTS[field], Input).focus()
                return

    def _added(self, outcome: UserAdded) -> None:
        self.last_added = outcome
        user = outcome.user
        text = Text("✓ Added ", style="bold")
        text.append(clean_line(user.name) or "(no name)", style="bold")
        text.append(f" <{clean_line(user.email)}> as {user.level}")
        if outcome.email_queued:
            smtp = self.usher.settings.smtp_configured
            text.append(" · email queued" if smtp else " · email kept in the Outbox (F9)")
        self.query_one("#outcome", Static).update(text)
        self.notify(f"Added {clean_line(user.email)} as {user.level}.", markup=False)
        for selector in INPUTS.values():
            self.query_one(selector, Input).value = ""
        self._reset_choices()
        self._touched.clear()
        self._set_taken(None)
        self.show_errors()
        self.query_one("#first", Input).focus()
        if outcome.credential is not None and outcome.password_expires_at is not None:
            self.app.push_screen(
                CredentialDialog(
                    email=user.email,
                    name=user.name,
                    credential=outcome.credential,
                    expires_at=outcome.password_expires_at,
                )
            )

    async def action_open_existing(self) -> None:
        taken, store = self.taken, self.usher.store
        if taken is None or store is None:
            return
        await self.app.switch_mode("users")
        self.app.push_screen(UserDetailDialog(store, taken.user_id))


def _strength_key(form: NewUserForm, cheap: dict[str, str]) -> NewUserForm | None:
    """What the strength estimate reads (the password, the names and address it must not be
    built on), when the cheap checks leave it to the estimate; None otherwise."""
    if form.choice != "set" or not form.password or "password" in cheap:
        return None
    return NewUserForm(
        first_name=form.first_name,
        last_name=form.last_name,
        email=form.email,
        choice="set",
        password=form.password,
    )


def _field_of(widget: Widget) -> str | None:
    for field, selector in INPUTS.items():
        if widget.id == selector[1:]:
            return field
    return None

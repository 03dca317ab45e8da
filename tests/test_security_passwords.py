"""Passwords that are easy to guess are refused everywhere, with a reason a person can act on:
zxcvbn's estimate (score ≥ 3), with the organisation's name (USHER_ORG) and the person's own
name and address as the words an attacker tries first. The estimate reads at most 32 code
points and runs off the event loop on the web path."""

from __future__ import annotations

import threading
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from store import Settings
from store.domain import passwords as policy
from store.domain.passwords import MAX_ESTIMATED, MIN_SCORE, password_problem
from store.onboarding.bulk import shared_password_problem
from store.onboarding.bulk_lines import parse_bulk_lines
from store.onboarding.single_user import NewUserForm, check_fields

from .fixtures_security import FORM_FIELDS, World, csrf_from, open_world
from .helpers import run_usher

STRONG = "tulip violin harbour seventeen"
OWN_NAME = "This password is easy to guess: it is built on your name"


@pytest.mark.parametrize("weak", ["Password1!", "Welcome2024!", "Summer2025!", "Qwerty123!"])
def test_popular_patterns_are_refused_with_a_reason(weak: str) -> None:
    problem = password_problem(weak)
    assert problem is not None and problem.startswith("This password is easy to guess.")
    assert len(problem) > len("This password is easy to guess. ")  # says why / what to do


def test_the_organisations_name_and_a_year_is_refused() -> None:
    assert password_problem("Acme2026!", org="Acme") is not None
    assert password_problem("Acme2026!", org="Acme").startswith(OWN_NAME)  # type: ignore[union-attr]
    assert password_problem("Blorptech2026!", org="Blorptech") is not None
    # Only because it is this organisation's name: elsewhere the same string passes.
    assert password_problem("Blorptech2026!", org="Umbrella") is None


def test_the_persons_own_first_name_and_digits_is_refused() -> None:
    names = ("Zephyrine", "Quist", "Zephyrine Quist")
    for attempt in ("Zephyrine4821", "zephyrine1987!", "Quist2024!"):
        problem = password_problem(attempt, email="zq@example.org", names=names)
        assert problem is not None and problem.startswith(OWN_NAME), attempt
    assert password_problem("Zephyrine4821") is None  # weak only for Zephyrine herself
    problem = password_problem("zq.lab.2024", email="zq.lab@example.org")
    assert problem is not None and problem.startswith(OWN_NAME)


def test_a_strong_passphrase_is_accepted_everywhere() -> None:
    names = ("Zephyrine", "Quist")
    assert password_problem(STRONG, email="zq@example.org", names=names, org="Acme") is None
    assert shared_password_problem(STRONG, org="Acme") is None
    assert password_problem(STRONG + " " + "x" * 97) is None  # 128 code points
    assert MIN_SCORE == 3


def test_length_rules_and_nfkc_still_hold() -> None:
    assert password_problem("Tr0ub4!") == "Use at least 8 characters (this one has 7)."
    assert password_problem("x" * 129) == "Use at most 128 characters (this one has 129)."
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in "tulip")  # fullwidth "tulip"
    assert password_problem(fullwidth + " violin harbour seventeen") is None  # NFKC


@hypothesis_settings(max_examples=60, deadline=None)
@given(st.text(min_size=8, max_size=40), st.text(max_size=12))
def test_the_policy_never_raises(password: str, name: str) -> None:
    problem = password_problem(password, email=f"{name}@example.org", names=(name,), org=name)
    assert problem is None or problem.endswith(".")


def test_the_estimate_reads_at_most_32_code_points(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = policy._estimate

    def spy(candidate: str, context: tuple[str, ...]) -> tuple[int, str]:
        seen.append(len(candidate))
        return real(candidate, context)

    monkeypatch.setattr(policy, "_estimate", spy)
    long_one = "q7#Vx!" * 21 + "zz"  # 128 code points, new to this process
    assert password_problem(long_one) is None
    assert seen == [MAX_ESTIMATED] and MAX_ESTIMATED == 32
    assert password_problem(long_one) is None
    assert seen == [MAX_ESTIMATED], "remembered: estimated once"


def test_every_store_entry_point_uses_the_org_and_the_persons_name() -> None:
    form = NewUserForm(
        first_name="Zephyrine",
        last_name="Quist",
        email="zq@acme.org",
        choice="set",
        password="Zephyrine4821",
    )
    assert check_fields(form)["password"].startswith(OWN_NAME)
    form = msgspec.structs.replace(form, password="Blorptech2026!")
    assert "password" not in check_fields(form)
    assert check_fields(form, org="Blorptech")["password"].startswith(OWN_NAME)
    parsed = parse_bulk_lines("Ann Lee,ann@acme.org,Blorptech2026!", "given", org="Blorptech")
    assert parsed.lines[0].has("password")
    assert "weak password: this password is easy to guess" in parsed.lines[0].error
    assert shared_password_problem("Blorptech2026!", org="Blorptech") is not None


async def _join(world: World, password: str) -> str:
    page = await world.client.get(f"/join/{world.link.token}")
    response = await world.client.post(
        f"/join/{world.link.token}",
        data={
            "_csrf_token": csrf_from(page.text),
            "email": "zq@example.org",
            "first_name": "Zephyrine",
            "last_name": "Quist",
            "password": password,
            "password_confirm": password,
        },
        follow_redirects=False,
    )
    assert response.status_code in (303, 400), response.status_code
    return response.text if response.status_code == 400 else ""


async def test_the_join_form_refuses_guessable_passwords_off_the_event_loop(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    real = policy._estimate

    def spy(candidate: str, context: tuple[str, ...]) -> tuple[int, str]:
        threads.append(threading.get_ident())
        return real(candidate, context)

    monkeypatch.setattr(policy, "_estimate", spy)
    monkeypatch.setattr(policy, "_remembered", {})  # estimate afresh, whatever ran before
    loop_thread = threading.get_ident()
    async with open_world(settings, org="Acme") as world:
        page = await world.client.get(f"/join/{world.link.token}")
        assert "nothing built on your name, your email address or Acme" in page.text
        threads.clear()
        for weak in ("Password1!", "Welcome2024!", "Acme2026!", "Zephyrine4821"):
            text = await _join(world, weak)
            assert "This password is easy to guess" in text, weak
        assert "it is built on your name" in await _join(world, "Acme2026!")
        assert await _join(world, STRONG) == ""
        assert len(threads) == 5, "five different passwords, each estimated once (remembered)"
        created = await world.store.engine.scalar(
            "SELECT count(*) FROM users WHERE email = 'zq@example.org'"
        )
    assert created == 1
    assert threads and loop_thread not in threads


def test_cli_users_add_refuses_a_guessable_password(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    result = run_usher(
        "users", "add", "--first", "Ann", "--last", "Lee", "--email", "ann@acme.org",
        "--level", "member", "--password-file", "-", "--no-email", "--db", str(db),
        stdin="Acme2026!\n", USHER_ORG="Acme",
    )  # fmt: skip
    assert result.returncode == 2
    assert "easy to guess" in result.stderr and "organisation" in result.stderr
    assert "Acme2026!" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "template", ["/invite/{token:str}", "/password/set/{token:str}", "/account/password"]
)
async def test_every_other_password_form_refuses_a_guessable_one(
    settings: Settings, template: str
) -> None:
    async with open_world(settings, org="Acme") as world:
        page = await world.client.get(world.form_page(template))
        assert "nothing built on your name, your email address or Acme" in page.text
        fields = {**FORM_FIELDS[template], "password": "Acme2026!", "password_confirm": "Acme2026!"}
        response = await world.client.post(
            world.path(template),
            data={"_csrf_token": csrf_from(page.text), **fields},
            follow_redirects=False,
        )
        assert response.status_code == 400
        assert "This password is easy to guess: it is built on your name" in response.text

"""The strength estimate runs in threads (signups, the console's checks, bulk previews) and
zxcvbn keeps the context words of its current call in a module global: estimates made by many
threads at once must give exactly the answers one thread gives, each password judged against
its own person's name and address."""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Iterator

import pytest

from store.domain import passwords

THREADS = 8
PEOPLE = 48


def _person(rng: random.Random, index: int) -> tuple[str, str, tuple[str, ...]]:
    """(password built on the person's own name, email, names): a name no dictionary knows,
    so the answer depends on whose context the estimate reads."""

    def word(syllables: int) -> str:
        return "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(syllables))

    first, last = word(3).capitalize(), word(4).capitalize()
    email = f"{first.lower()}.{last.lower()}@example.org"
    return f"{first}{last}{index:02d}", email, (first, last, f"{first} {last}")


_RNG = random.Random(19)
PEOPLE_LIST = [_person(_RNG, i) for i in range(PEOPLE)]


def _answer(person: tuple[str, str, tuple[str, ...]]) -> str | None:
    password, email, names = person
    return passwords.password_problem(password, email=email, names=names, org="Acme")


@pytest.fixture
def switch_often() -> Iterator[None]:
    """Threads switch every microsecond instead of every 5 ms: the interleavings a busy
    server sees now and then happen in every run."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def test_many_threads_estimating_at_once_give_one_threads_answers(
    monkeypatch: pytest.MonkeyPatch, switch_often: None
) -> None:
    monkeypatch.setattr(passwords, "_remembered", {})  # estimate afresh
    alone = [_answer(person) for person in PEOPLE_LIST]
    # Each answer depends on its own context: against the next person's, some differ.
    monkeypatch.setattr(passwords, "_remembered", {})
    shifted = [
        _answer((password, *PEOPLE_LIST[(i + 1) % PEOPLE][1:]))
        for i, (password, _, _) in enumerate(PEOPLE_LIST)
    ]
    assert shifted != alone

    monkeypatch.setattr(passwords, "_remembered", {})  # the threads estimate afresh too
    together: list[str | None] = [None] * PEOPLE
    done = [False] * PEOPLE
    start = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            start.wait()
            for index in range(offset, PEOPLE, THREADS):
                together[index] = _answer(PEOPLE_LIST[index])
                done[index] = True
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    assert all(done)
    assert together == alone

"""`make screenshots`: the README's pictures, made from a seeded demo database so they stay true.

The console's screens are SVGs that Textual itself renders (Home, Approvals with rows, Bulk with
its preview); the invitee's pages are PNGs from Debian's chromium at a phone's size (the join
page and the check-your-email page). Run again after a change to any of them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.app import UsherApp  # noqa: E402
from store import Settings, Store, load_settings  # noqa: E402
from store.domain.addresses import address_key  # noqa: E402
from store.domain.clock import db_now  # noqa: E402
from store.onboarding.email_lists import ListEntry  # noqa: E402
from store.onboarding.invitations import send_invitations  # noqa: E402
from store.onboarding.links import LinkDraft, create_link  # noqa: E402

SIZE = (100, 30)
PHONE = {"width": 390, "height": 844}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PENDING = [
    ("Amara", "Okonkwo-Whitfield", "amara.okonkwo@acme.org"),
    ("Bjørn", "Halvorsen", "bjorn.h@acme.org"),
    ("Chen", "Wei", "chen.wei@partner.example"),
    ("Dolores", "Ibarra de la Fuente", "d.ibarra@acme.org"),
]
BULK_LINES = (
    "Ada Lovelace,ada@acme.org\n"
    "Grace Hopper,grace@acme.org\n"
    "Katherine Johnson,katherine.johnson@acme.org\n"
    "Alan Turing,alan@acme\n"
    "Edsger Dijkstra,edsger@acme.org\n"
)


async def seed(settings: Settings) -> str:
    """A month of an organisation's onboarding; returns the join path of the open link."""
    async with await Store.open(settings, watch=False) as store:
        open_link = await create_link(store, LinkDraft(label="Open house"), actor="ann")
        link = await create_link(
            store, LinkDraft(label="Spring cohort", auto_accept=False), actor="ann"
        )
        await create_link(store, LinkDraft(label="Partners"), actor="ann")
        await send_invitations(
            store,
            [ListEntry(line=n, address=f"guest{n}@acme.org") for n in range(1, 13)],
            level="member",
            actor="ann",
        )
        async with store.write("users") as tx:
            for day in range(14):
                for n in range((day * 7) % 5 + 1):
                    email = f"member{day}-{n}@acme.org"
                    at = db_now(-timedelta(days=day, hours=n))
                    await tx.execute(
                        "INSERT INTO users (email, email_key, first_name, last_name, level,"
                        " status, source, link_id, created_at, updated_at, confirmed_at)"
                        " VALUES (?, ?, 'Member', ?, 'member', 'active', 'link', ?, ?, ?, ?)",
                        (email, address_key(email), str(day), link.id, at, at, at),
                    )
            for first, last, email in PENDING:
                at = db_now(-timedelta(minutes=len(first) * 7))
                await tx.execute(
                    "INSERT INTO users (email, email_key, first_name, last_name, level, status,"
                    " source, link_id, created_at, updated_at, confirmed_at)"
                    " VALUES (?, ?, ?, ?, 'member', 'pending', 'link', ?, ?, ?, ?)",
                    (email, address_key(email), first, last, link.id, at, at, at),
                )
        return f"/join/{open_link.token}"


async def console_pictures(settings: Settings, out: Path) -> list[Path]:
    app = UsherApp(settings, no_server=True)
    made: list[Path] = []
    async with app.run_test(size=SIZE) as pilot:

        async def settle() -> None:
            await app.keys.settled.wait()
            for _ in range(10):
                await pilot.pause()
            await asyncio.sleep(0.3)  # let the change feed's first loads draw
            await pilot.pause()

        async def shot(name: str) -> None:
            app.save_screenshot(f"{name}.svg", str(out))
            made.append(out / f"{name}.svg")

        await settle()
        await shot("console-home")
        await pilot.press("f2")
        await settle()
        await shot("console-approvals")
        await pilot.press("f7")
        await settle()
        app.screen.query_one("#lines").load_text(BULK_LINES)  # type: ignore[attr-defined]
        await settle()
        await shot("console-bulk")
    return made


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def page_pictures(db: Path, join_path: str, out: Path) -> list[Path]:
    from playwright.async_api import async_playwright

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("USHER_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "console", "serve", "--db", str(db), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    made: list[Path] = []
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not re.search(r"http://\S+", line):
            raise SystemExit(f"usher serve printed {line!r}")
        base = f"http://127.0.0.1:{port}"
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            page = await browser.new_page(viewport=PHONE, device_scale_factor=2)
            await page.goto(base + join_path)
            made.append(out / "page-join.png")
            await page.screenshot(path=str(made[-1]), full_page=True)
            await page.fill("input[name=email]", "rosa.parks@acme.org")
            await page.fill("input[name=first_name]", "Rosa")
            await page.fill("input[name=last_name]", "Parks")
            passphrase = "a long and unusual passphrase " + secrets.token_hex(2)
            for field in await page.query_selector_all("input[type=password]"):
                await field.fill(passphrase)
            await page.click("button[type=submit]")
            await page.wait_for_load_state()
            made.append(out / "page-check-email.png")
            await page.screenshot(path=str(made[-1]), full_page=True)
            await browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return made


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "demo.db"
        settings = load_settings(
            {"db": str(db), "port": 0, "public_url": "https://usher.acme.org"}, environ={}
        )
        join_path = await seed(settings)
        made = await console_pictures(settings, out)
        made += await page_pictures(db, join_path, out)
    for path in made:
        print(path.relative_to(out.parent) if path.is_relative_to(out.parent) else path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "deploy" / "screenshots")
    asyncio.run(main(parser.parse_args().out.resolve()))

"""A realistic database for looking at every screen at 80x24: long names and addresses,
two-digit counts, a rejection with a reason, invitations, links, mail and audit rows."""

from __future__ import annotations

from store import Store
from store.onboarding.approvals import approve, reject
from store.onboarding.links import LinkDraft, create_link

from .fixtures_invitations import invite
from .fixtures_users import add_user

LONG = "maximiliane.oberhauser-whitfield@research.example.org"


async def populate(store: Store) -> None:
    spring = await create_link(
        store, LinkDraft(label="Spring cohort of research associates", max_uses=50), actor="ann"
    )
    await create_link(store, LinkDraft(label="Wiki", level="viewer"), actor="ann")
    ids = []
    for n in range(14):
        ids.append(
            await add_user(
                store,
                f"{n}.{LONG}",
                first=f"Maximiliane{n}",
                last="Oberhauser-Whitfield",
                link_id=spring.id,
            )
        )
    await approve(store, ids[:1], actor="ann")
    await reject(store, ids[1:2], actor="ann", reason="Not a member of the research staff")
    await invite(store, "\n".join(f"guest{n}.{LONG}" for n in range(11)), actor="ann")

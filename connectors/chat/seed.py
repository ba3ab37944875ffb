"""Believable Slack workspace for the demo and tests: Northwind's team chat.

The people are the help desk's agents (connectors/helpdesk/seed.py) plus the
engineers and the finance clerk they talk to, so "ask #billing about Raj Patel's
double charge" lines up with the help-desk ticket. The bot (Switchboard) is in
every channel except #random, which is there to show `not_in_channel`.
Messages are written through the simulator's own post method, so seeded history
has the same shape (ts, threads, reply counts) as anything posted later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.chat.simulator import ChatState

TEAM = {"id": "T05NRTHWND", "name": "Northwind", "domain": "northwind"}

BOT_USER_ID = "U05SWBOT001"
BOT_ID = "B05SWBOARD1"
APP_ID = "A05SWBOARD1"
BOT_NAME = "switchboard"
BOT_TOKEN = "xoxb-demo-northwind-switchboard"

# (id, handle, real name, email, title, time zone, admin)
USERS: list[tuple[str, str, str, str, str, str, bool]] = [
    (
        "U05PSHAH001",
        "priya.shah",
        "Priya Shah",
        "priya.shah@northwind.example",
        "Head of Support",
        "America/New_York",
        True,
    ),
    (
        "U05MROSSI01",
        "marco.rossi",
        "Marco Rossi",
        "marco.rossi@northwind.example",
        "Support Agent",
        "Europe/Rome",
        False,
    ),
    (
        "U05ATANAKA1",
        "aiko.tanaka",
        "Aiko Tanaka",
        "aiko.tanaka@northwind.example",
        "Support Agent",
        "Asia/Tokyo",
        False,
    ),
    (
        "U05ENOVAK01",
        "elena.novak",
        "Elena Novak",
        "elena.novak@northwind.example",
        "Finance Clerk",
        "Europe/Prague",
        False,
    ),
    (
        "U05NKIM0001",
        "noah.kim",
        "Noah Kim",
        "noah.kim@northwind.example",
        "Mobile Engineer",
        "America/Los_Angeles",
        False,
    ),
    (
        "U05LFISCHR1",
        "lena.fischer",
        "Lena Fischer",
        "lena.fischer@northwind.example",
        "Backend Engineer",
        "Europe/Berlin",
        False,
    ),
]

EVERYONE = [u[1] for u in USERS]

# (id, name, topic, purpose, member handles, bot is a member)
CHANNELS: list[tuple[str, str, str, str, list[str], bool]] = [
    (
        "C05GENERAL1",
        "general",
        "Company-wide announcements",
        "This channel is for workspace-wide communication and announcements.",
        EVERYONE,
        True,
    ),
    (
        "C05BILLING1",
        "billing",
        "Refunds, double charges, invoices - tag @elena.novak for payouts",
        "Billing questions from support and finance.",
        ["priya.shah", "marco.rossi", "elena.novak", "lena.fischer"],
        True,
    ),
    (
        "C05SUPPORT1",
        "support",
        "Queue health and escalations. Urgent? Page the on-call agent.",
        "Help-desk agents coordinating tickets and escalations.",
        ["priya.shah", "marco.rossi", "aiko.tanaka", "noah.kim"],
        True,
    ),
    (
        "C05FINANCE1",
        "finance",
        "Month-end close: books lock on the 3rd business day",
        "Finance team: journal entries, reconciliations, approvals.",
        ["priya.shah", "elena.novak"],
        True,
    ),
    (
        "C05RANDOM01",
        "random",
        "Non-work banter",
        "A place for non-work-related flimflam.",
        EVERYONE,
        False,
    ),
]


@dataclass
class SeedMessage:
    channel: str  # name
    author: str  # handle, or BOT_NAME
    hours_ago: float
    text: str
    replies: list[tuple[str, float, str]] = field(default_factory=list)  # (author, hours_ago, text)


MESSAGES: list[SeedMessage] = [
    SeedMessage(
        "general",
        "priya.shah",
        72,
        "Welcome to Northwind's workspace! Support lives in #support, money questions in #billing, "
        "and month-end chatter in #finance.",
    ),
    SeedMessage(
        "general",
        "lena.fischer",
        26,
        "Heads-up: the storefront deploy at 18:00 UTC includes the new password-reset flow.",
    ),
    SeedMessage(
        "support",
        "aiko.tanaka",
        28,
        "iOS app 4.12.0 crashes when customers open order history (accounts with 50+ orders). "
        "Filed ENG-2231, ticket #5 is the customer report.",
        replies=[
            ("noah.kim", 27, "Reproduced on my iPhone 13. Looks like a nil date in the orders page. On it."),
            ("aiko.tanaka", 26.5, "Thanks Noah! I'll tell Maria we're on it."),
        ],
    ),
    SeedMessage(
        "support",
        "marco.rossi",
        5,
        "Kevin Doyle (ticket #7) is threatening a chargeback over the NW-45530 desk refund. "
        "Can someone in #billing pull the refund ARN?",
    ),
    SeedMessage(
        "billing",
        "marco.rossi",
        4.5,
        "Refund for order NW-45530 ($349, Kevin Doyle) shows as issued on the 14th but the customer "
        "has nothing on his card. @elena.novak can you get the ARN from the payment provider?",
        replies=[("elena.novak", 4, "Looking now - I'll post the ARN here within the hour.")],
    ),
    SeedMessage(
        "billing",
        "priya.shah",
        2.5,
        "We have another Plus double-charge report (raj.patel@example.org, 2 x $9.99 on the 3rd). "
        "Lena, is this the webhook retry bug again?",
        replies=[("lena.fischer", 2, "Probably ENG-2236 - fix is in review. Refund the duplicate for now.")],
    ),
    SeedMessage(
        "finance",
        "elena.novak",
        30,
        "Reminder: October books lock on the 3rd business day. Please get refund approvals in before then.",
    ),
    SeedMessage(
        "finance",
        "priya.shah",
        8,
        "Elena, support issued 6 goodwill credits this week (total $84). Journal entry coming from "
        "Switchboard for approval.",
    ),
    SeedMessage("random", "noah.kim", 10, "Who left the oat milk in the fridge since March? 🥛"),
]


def seed(state: ChatState) -> None:
    """Fill an empty state: users, the bot, channels and a little history."""
    now = state.now()
    state.set_team(TEAM)
    for uid, handle, real_name, email, title, tz, admin in USERS:
        state.add_user(
            user_id=uid, name=handle, real_name=real_name, email=email, title=title, tz=tz, is_admin=admin
        )
    state.add_bot(user_id=BOT_USER_ID, bot_id=BOT_ID, app_id=APP_ID, name=BOT_NAME, real_name="Switchboard")
    by_handle = {u[1]: u[0] for u in USERS} | {BOT_NAME: BOT_USER_ID}
    creator = by_handle["priya.shah"]
    for cid, name, topic, purpose, members, bot_member in CHANNELS:
        ids = [by_handle[m] for m in members] + ([BOT_USER_ID] if bot_member else [])
        state.add_channel(
            channel_id=cid,
            name=name,
            topic=topic,
            purpose=purpose,
            members=ids,
            creator=creator,
            created=int(now - 400 * 86400),
            is_general=name == "general",
        )
    channel_ids = {c[1]: c[0] for c in CHANNELS}
    for m in sorted(MESSAGES, key=lambda m: -m.hours_ago):
        parent = state.post(
            channel_ids[m.channel], by_handle[m.author], m.text, at=now - m.hours_ago * 3600, check=False
        )
        for author, hours_ago, text in m.replies:
            state.post(
                channel_ids[m.channel],
                by_handle[author],
                text,
                thread_ts=parent["ts"],
                at=now - hours_ago * 3600,
                check=False,
            )

"""Believable Linear workspace for the demo and tests: Northwind's Engineering and Support teams.

Issues line up with the help desk's tickets (connectors/helpdesk/seed.py): ENG-2231
is the iOS order-history crash that ticket #5's internal note mentions, ENG-2218 the
login failure after a password reset (ticket #2), ENG-2236 the Plus double charge
(ticket #4), SUP-141 Kevin Doyle's missing refund (ticket #7). People are the help
desk's agents plus the engineers; the API key acts as the "Switchboard" app user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.tracker.simulator import TrackerState

ORGANIZATION = {"name": "Northwind", "urlKey": "northwind"}
API_KEY = "lin_api_demo_northwind_switchboard"
VIEWER_EMAIL = "switchboard@northwind.example"

# (name, display name, email, admin)
USERS: list[tuple[str, str, str, bool]] = [
    ("Priya Shah", "priya", "priya.shah@northwind.example", True),
    ("Marco Rossi", "marco", "marco.rossi@northwind.example", False),
    ("Aiko Tanaka", "aiko", "aiko.tanaka@northwind.example", False),
    ("Noah Kim", "noah", "noah.kim@northwind.example", False),
    ("Lena Fischer", "lena", "lena.fischer@northwind.example", False),
    ("Switchboard", "switchboard", VIEWER_EMAIL, False),
]

# (key, name, description)
TEAMS: list[tuple[str, str, str]] = [
    ("ENG", "Engineering", "Storefront, mobile apps, payments and the platform."),
    ("SUP", "Support", "Customer escalations, macros and help-centre content."),
]

# (name, type, color): every team gets the same workflow
STATES: list[tuple[str, str, str]] = [
    ("Backlog", "backlog", "#bec2c8"),
    ("Todo", "unstarted", "#e2e2e2"),
    ("In Progress", "started", "#f2c94c"),
    ("In Review", "started", "#0f783c"),
    ("Done", "completed", "#5e6ad2"),
    ("Canceled", "canceled", "#95a2b3"),
]

# (name, color, team key or None for a workspace label)
LABELS: list[tuple[str, str, str | None]] = [
    ("Bug", "#eb5757", None),
    ("Feature", "#bb87fc", None),
    ("Improvement", "#4ea7fc", None),
    ("Mobile", "#f2994a", "ENG"),
    ("Backend", "#26b5ce", "ENG"),
    ("Performance", "#0f783c", "ENG"),
    ("Customer reported", "#f7c8c1", "SUP"),
    ("Billing", "#4cb782", "SUP"),
]


@dataclass
class SeedIssue:
    team: str
    number: int
    title: str
    description: str
    priority: int  # 0 none, 1 urgent, 2 high, 3 medium, 4 low
    state: str
    labels: list[str]
    creator: str  # email
    hours_ago: float
    assignee: str | None = None
    comments: list[tuple[str, float, str]] = field(default_factory=list)  # (email, hours_ago, body)


ISSUES: list[SeedIssue] = [
    SeedIssue(
        "ENG",
        2195,
        "Catalogue search is slow (p95 2.8 s)",
        "Search on the catalogue page takes 2.8 s at p95 since the October catalogue import. "
        "The trigram index on `products.name` is not used for queries with a category filter.",
        2,
        "Done",
        ["Performance", "Backend"],
        "lena.fischer@northwind.example",
        500,
        assignee="lena.fischer@northwind.example",
        comments=[
            (
                "lena.fischer@northwind.example",
                430,
                "Added a composite index; p95 is down to 310 ms. Closing.",
            ),
        ],
    ),
    SeedIssue(
        "ENG",
        2209,
        "Shareable wishlist links",
        "Customers ask to share a wishlist with family before birthdays, as a link that opens without "
        "an account (see Zendesk ticket #6). Read-only, revocable, no prices of items already bought.",
        4,
        "Backlog",
        ["Feature"],
        "aiko.tanaka@northwind.example",
        118,
    ),
    SeedIssue(
        "ENG",
        2218,
        "Login fails after password reset until the session cache expires",
        "After resetting a password with the emailed link, signing in with the new password says "
        "'incorrect email or password' for up to 30 minutes, and repeated attempts lock the account "
        "(Zendesk ticket #2, Sam Okafor).\n\nSuspect: the auth service keeps the old password hash in "
        "the session cache and `reset_password` does not invalidate it.",
        1,
        "Todo",
        ["Bug", "Backend"],
        "marco.rossi@northwind.example",
        5,
        assignee="lena.fischer@northwind.example",
        comments=[
            (
                "lena.fischer@northwind.example",
                4,
                "Confirmed: the cache key is the email, and reset writes the new hash without evicting it. "
                "Fix is a one-liner plus a test.",
            ),
        ],
    ),
    SeedIssue(
        "ENG",
        2227,
        "Tracking page shows stale status for parcels held at customs",
        "For international parcels held at customs, the tracking page keeps showing 'in transit' "
        "with no update for days (Zendesk ticket #3, Malmö hub). We should show the carrier's "
        "'held at customs' event and the expected release time.",
        3,
        "Todo",
        ["Improvement"],
        "aiko.tanaka@northwind.example",
        70,
    ),
    SeedIssue(
        "ENG",
        2231,
        "iOS app crashes when opening order history",
        "The iPhone app (4.12.0, iOS 17.4) closes as soon as a customer taps 'Orders'. Reproduced on an "
        "iPhone 13 with an account with more than 50 orders (Zendesk ticket #5, Maria Gonzalez). "
        "The website works fine.",
        2,
        "In Progress",
        ["Bug", "Mobile"],
        "aiko.tanaka@northwind.example",
        28,
        assignee="noah.kim@northwind.example",
        comments=[
            (
                "noah.kim@northwind.example",
                27,
                "Crash is in `OrderHistoryPage.decode`: orders imported from the old shop have a null "
                "`delivered_at`, and the second page of results always contains one.",
            ),
            ("noah.kim@northwind.example", 6, "Fix is up for review; targeting 4.12.1."),
        ],
    ),
    SeedIssue(
        "ENG",
        2236,
        "Duplicate Plus renewal charge when the payment webhook is retried",
        "When the payment provider retries the `invoice.paid` webhook, we create a second Plus "
        "renewal charge instead of recognising the event id. Seen for raj.patel@example.org "
        "(2 x $9.99 on the 3rd, Zendesk ticket #4).",
        1,
        "In Review",
        ["Bug", "Backend"],
        "priya.shah@northwind.example",
        3,
        assignee="lena.fischer@northwind.example",
        comments=[
            (
                "lena.fischer@northwind.example",
                2,
                "PR stores processed webhook event ids and skips repeats. Refund affected customers manually.",
            ),
        ],
    ),
    SeedIssue(
        "ENG",
        2240,
        "Export order history as CSV",
        "Customers (and our finance team for B2B accounts) ask to export their order history. Add an "
        "'Export CSV' button under Account > Orders: order number, date, items, totals, VAT, status.",
        3,
        "Backlog",
        ["Feature"],
        "priya.shah@northwind.example",
        40,
        comments=[
            ("marco.rossi@northwind.example", 30, "+1 - three tickets this month asked for this."),
        ],
    ),
    SeedIssue(
        "SUP",
        138,
        "Macro for 2FA recovery identity checks",
        "Agents need one macro that asks for the recent order number and the last 4 digits of the card "
        "before we turn off two-factor authentication, matching the help-centre article.",
        4,
        "Done",
        ["Improvement"],
        "priya.shah@northwind.example",
        300,
        assignee="aiko.tanaka@northwind.example",
    ),
    SeedIssue(
        "SUP",
        141,
        "Refund for NW-45530 not received by the customer",
        "Kevin Doyle (kevin.doyle@example.net) returned a standing desk; the $349 refund was issued on "
        "the 14th but he sees nothing on his card. He threatens a chargeback (Zendesk ticket #7). "
        "Need the refund ARN from finance so his bank can trace it.",
        2,
        "In Progress",
        ["Customer reported", "Billing"],
        "marco.rossi@northwind.example",
        4.5,
        assignee="marco.rossi@northwind.example",
        comments=[
            ("marco.rossi@northwind.example", 4, "Asked Elena in #billing for the ARN."),
        ],
    ),
    SeedIssue(
        "SUP",
        142,
        "Corrected invoice with VAT ID for order NW-47102",
        "Jonas Weber needs an invoice with his company address and VAT ID DE298765432 for order "
        "NW-47102 (Zendesk ticket #8, in German).",
        3,
        "Todo",
        ["Customer reported", "Billing"],
        "marco.rossi@northwind.example",
        9,
    ),
    SeedIssue(
        "SUP",
        143,
        "GDPR data export for raj.patel@example.org",
        "Article 15 request received; waiting on identity verification. Legal deadline: 30 days from "
        "verification (Zendesk ticket #10).",
        2,
        "Todo",
        ["Customer reported"],
        "priya.shah@northwind.example",
        90,
        assignee="priya.shah@northwind.example",
    ),
]


def seed(state: TrackerState) -> None:
    """Fill an empty state: organization, people, teams with workflows and labels, issues, comments."""
    now = state.now()
    state.set_organization(ORGANIZATION["name"], ORGANIZATION["urlKey"])
    users = {}
    for name, display, email, admin in USERS:
        users[email] = state.add_user(name=name, display_name=display, email=email, admin=admin)["id"]
    state.viewer_id = users[VIEWER_EMAIL]
    teams = {}
    for key, name, description in TEAMS:
        team = state.add_team(key=key, name=name, description=description)
        teams[key] = team["id"]
        for position, (state_name, kind, color) in enumerate(STATES):
            state.add_state(team["id"], name=state_name, type=kind, color=color, position=float(position))
    for name, color, team_key in LABELS:
        state.add_label(name=name, color=color, team_id=teams[team_key] if team_key else None)
    for issue in sorted(ISSUES, key=lambda i: -i.hours_ago):
        created = state.create_issue(
            {
                "teamId": teams[issue.team],
                "title": issue.title,
                "description": issue.description,
                "priority": issue.priority,
                "labelIds": [state.label_id(teams[issue.team], n) for n in issue.labels],
                "stateId": state.state_id(teams[issue.team], issue.state),
                "assigneeId": users[issue.assignee] if issue.assignee else None,
            },
            creator_id=users[issue.creator],
            at=now.timestamp() - issue.hours_ago * 3600,
            number=issue.number,
        )
        for email, hours_ago, body in issue.comments:
            state.create_comment(
                {"issueId": created["id"], "body": body},
                user_id=users[email],
                at=now.timestamp() - hours_ago * 3600,
            )

"""A small data set in BANKING77's layout, written by the tests themselves.

BANKING77 is third-party data and not in the repository; the eval code is
tested on this stand-in (same files and columns, twelve intents with varied
wording), and measured on the real set by `switchboard eval banking77`.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

INTENTS: dict[str, list[str]] = {
    "card_arrival": [
        "my new card still has not arrived",
        "when will the card you posted get here",
        "I ordered a card two weeks ago and nothing came",
        "where is my card, it was supposed to be delivered",
        "has my replacement card been shipped yet",
    ],
    "card_linking": [
        "how do I link my card to the app",
        "I want to add my existing card to my account in the app",
        "can I connect a card I already have",
        "linking my card in the app does not work",
        "how to attach my card to the mobile app",
    ],
    "exchange_rate": [
        "what exchange rate do you use",
        "how is the currency conversion rate calculated",
        "is the exchange rate you give me fair",
        "which rate applies when I pay in dollars",
        "where can I see today's exchange rates",
    ],
    "lost_or_stolen_card": [
        "my card was stolen yesterday",
        "I lost my card, please block it",
        "someone took my wallet with the card",
        "I can't find my card anywhere",
        "freeze my card, I think it was stolen",
    ],
    "pin_blocked": [
        "my PIN is blocked after three tries",
        "I entered the wrong PIN too many times",
        "how do I unblock my PIN",
        "the ATM says my PIN is locked",
        "PIN locked, what now",
    ],
    "top_up_failed": [
        "my top up did not go through",
        "adding money to my account failed",
        "the top-up was declined",
        "why did my top up fail",
        "I tried to top up and got an error",
    ],
    "transfer_not_received_by_recipient": [
        "the person I sent money to never got it",
        "my transfer has not reached my friend",
        "recipient says the transfer is missing",
        "I sent money but it did not arrive on the other side",
        "bank transfer not received by the payee",
    ],
    "refund_not_showing_up": [
        "the shop refunded me but I don't see it",
        "my refund is not on my statement",
        "where is the refund from the merchant",
        "a refund was issued but it never showed up",
        "still no refund in my account",
    ],
    "cash_withdrawal_charge": [
        "why was I charged for taking out cash",
        "there is a fee on my ATM withdrawal",
        "do you charge for cash withdrawals",
        "I got a fee for withdrawing money",
        "how much does an ATM withdrawal cost",
    ],
    "change_pin": [
        "how can I change my PIN",
        "I want a new PIN number",
        "set a different PIN for my card",
        "where do I update my PIN",
        "can I pick my own PIN",
    ],
    "balance_not_updated_after_bank_transfer": [
        "my balance did not change after the bank transfer",
        "I transferred money in but the balance is the same",
        "the deposit by transfer is not in my balance",
        "bank transfer done, balance not updated",
        "why hasn't my balance gone up after the transfer",
    ],
    "terminate_account": [
        "I want to close my account",
        "please delete my account",
        "how do I cancel my account with you",
        "terminate my account today",
        "I'd like to stop using this account and close it",
    ],
}
OPENERS = ["", "Hi, ", "Hello. ", "Please help: ", "Quick question - ", "Hey there, "]
CLOSERS = ["", "?", ".", " please.", " thanks!", " asap."]
PER_INTENT = 30


def write_banking_like(folder: Path, *, seed: int = 7) -> Path:
    """train.csv (text,category) and categories.json, like BANKING77's, with 30 texts per intent."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for intent, phrases in INTENTS.items():
        variants = [f"{o}{p}{c}" for p in phrases for o in OPENERS for c in CLOSERS]
        rows += [(text, intent) for text in rng.sample(variants, PER_INTENT)]
    rng.shuffle(rows)
    with (folder / "train.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "category"])
        w.writerows(rows)
    (folder / "categories.json").write_text(json.dumps(list(INTENTS)), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def banking_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_banking_like(tmp_path_factory.mktemp("banking77-like"))

"""Earnings: balance, stake, reward stream, proofs. Until the agent keeps a ledger: "not yet", no numbers."""

from __future__ import annotations

from rich.text import Text

from agent.api.schema import EarningsView, StatusResponse

from .format import MISSING, format_neuro
from .pane import Pane, label_rows
from .plot import sparkline

REWARD_SPARK_CHARS = 12


def describe_earnings(earnings: EarningsView | None) -> Text:
    if earnings is None:
        rows = [(label, Text(MISSING, style="dim")) for label in ("balance", "stake", "rewards", "proofs")]
        text = label_rows(rows)
        text.append("\nnot yet: this agent keeps no ledger yet", style="italic dim")
        return text
    rate = MISSING if earnings.reward_rate_per_hour is None else f"{earnings.reward_rate_per_hour:,.4f}/h"
    stream = sparkline([reward.amount for reward in earnings.recent_rewards], REWARD_SPARK_CHARS)
    return label_rows([
        ("balance", Text(format_neuro(earnings.balance), style="bold")),
        ("stake", format_neuro(earnings.stake)),
        ("rewards", Text.assemble(rate, " ", (stream, "green"))),
        ("proofs", f"{earnings.proofs_accepted:,} accepted"),
        ("", f"{earnings.proofs_challenged:,} challenged, {earnings.proofs_pending:,} open"),
    ])


class EarningsPane(Pane):
    TITLE = "Earnings"

    def show_status(self, status: StatusResponse) -> None:
        self.show(describe_earnings(status.earnings))

"""Registries are filled explicitly at start-up, one per app, and refuse a name twice; both CLIs are one CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

from federation.handlers import register_handlers
from federation.jobs import register_sweeps as register_federation_sweeps
from federation.state import federation_of
from node.cli import all_commands, register_commands
from node.registry import DuplicateRegistration, Registry
from node.sweeps import register_sweeps
from protocol import MESSAGE_TYPES
from tests.procs import REPO, sifnet_command


def test_a_name_registered_twice_is_refused():
    registry = Registry[int]("thing")
    registry.add("a", 1)
    with pytest.raises(DuplicateRegistration, match="thing 'a' is registered twice"):
        registry.add("a", 2)
    assert registry["a"] == 1 and list(registry) == ["a"]


def test_registering_a_package_twice_is_refused(app):
    fed, ctx = federation_of(app), app.extensions["sifnet"]
    with pytest.raises(DuplicateRegistration):
        register_handlers(fed)
    with pytest.raises(DuplicateRegistration):
        register_sweeps(ctx.sweeps)
    with pytest.raises(DuplicateRegistration):
        register_federation_sweeps(ctx.sweeps)
    commands, groups = all_commands()
    with pytest.raises(DuplicateRegistration):
        register_commands(commands, groups)


def test_every_channel_message_type_has_its_handler(app):
    fed = federation_of(app)
    channel_types = {name for name, mt in MESSAGE_TYPES.items() if mt.channel}
    assert set(fed.channel_handlers) == channel_types
    assert set(fed.direct_handlers) == {"checkpoint"}
    assert set(fed.settlement_handlers) == {"position_statement", "settlement_proposal", "settlement_certificate"}


def test_each_app_has_its_own_sweeps_in_one_order(app):
    ctx = app.extensions["sifnet"]
    assert list(ctx.sweeps) == [
        "deliver_notifications",
        "pay_unchallenged_claims",
        "expire_invitations",
        "time_out_reviews",
        "remind_reviewers",
        "retry_matching",
        "solve_due_rounds",
        "remind_funding_deadlines",
        "forget_old_echoes",
        "forget_expired_requests",
        "forget_old_events",
        "forget_old_keys",
        "retry_deliveries",
        "exchange_checkpoints",
        "advance_clearing_rounds",
        "share_reviewer_pools",
        "share_funding_leads",
        "share_advice_offers",
        "pay_unchallenged_claims_abroad",
    ]


def _commands(cmd: list[str], group: str) -> list[str]:
    out = subprocess.run([*cmd, group, "--help"], capture_output=True, text=True, cwd=REPO, check=True).stdout
    choices = out[out.index("{") + 1 : out.index("}")]
    return sorted(choices.split(","))


@pytest.mark.parametrize("group", ["node", "directory"])
def test_both_command_lines_offer_the_same_commands(group):
    console_script = _commands(sifnet_command(), group)
    module = _commands([sys.executable, "-m", "node.cli"], group)
    assert console_script == module
    if group == "node":
        assert {"directory-apply", "directory-pin", "clearing-round", "peer-add", "init", "backup"} <= set(module)

"""A routing pass's decisions, the same as ``route_lead``'s lead by lead, at a fraction of the cost.

Two things make ``route_lead`` dear over a queue of 80k MQLs, and neither depends on more than a few values:

- which rules a lead matches depends only on the values of the fields the rules test (country, band,
  language...): a pass has a few hundred combinations of those. ``PassRouter`` tests the rules once per
  combination and keeps, per combination, the rules that match (in order);
- most leads of a pass follow their account's owner: the first matching rule is the account-owner rule and the
  owner can take the lead. Then ``route_lead`` assigns to the owner with an empty trail; ``PassRouter`` does so
  without walking the rules. The owner's availability (caps, out of office, inactive) is checked at each lead,
  as the caps count every lead: an owner who reaches a cap mid-pass sends the next leads through the rules.

Every other lead is decided by ``route_lead`` itself, given only its matching rules (the rules it skips are the
ones ``route_lead`` would skip). Decisions and changes to the SDR states are ``route_lead``'s, lead for lead
(tests/unit/test_routing_pass.py checks that on random rules, pools, rosters and queues).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadops.config import RoutingRules
from leadops.domain.routing import Decision, RoutableLead, SdrState, assign_to, route_lead, rule_matches


def _token(value: Any) -> Any:
    """Return what identifies ``value`` for matching: the value itself for text and None; else its type, value
    and text (``rule_matches`` compares both the value and its text: 1, True and 1.0 are equal keys of a dict but
    not the same text)."""
    return value if value is None or value.__class__ is str else (value.__class__, value, str(value))


class PassRouter:
    """``route_lead`` for the leads of one pass (one rules file): ``decide`` returns what ``route_lead`` returns
    and counts the assignment into the states as it does."""

    def __init__(self, rules: RoutingRules) -> None:
        self.rules = rules
        self.keys = tuple(sorted({k for r in rules.rules for k in r.when}))
        # per combination of the tested fields' values: the rules that match, and the account-owner rule's name
        # when it is the first of them
        self.seen: dict[tuple[Any, ...], tuple[RoutingRules, str | None]] = {}

    def matching(self, fields: Mapping[str, Any]) -> tuple[RoutingRules, str | None]:
        """Return the rules a lead of ``fields`` matches (in order, with every pool) and the name of the first of
        them when it routes to the account owner (else None); one look-up per distinct combination."""
        try:
            key = tuple([_token(fields.get(k)) for k in self.keys])
            return self.seen[key]
        except KeyError:
            found = self.seen[key] = self._match(fields)
            return found
        except TypeError:  # an unhashable value (a list): matched on its own
            return self._match(fields)

    def _match(self, fields: Mapping[str, Any]) -> tuple[RoutingRules, str | None]:
        probe = RoutableLead(0, dict(fields))
        matched = [r for r in self.rules.rules if rule_matches(r, probe)]
        first = matched[0].name if matched and matched[0].to.account_owner else None
        return self.rules.model_copy(update={"rules": matched}), first

    def decide(self, lead: RoutableLead, sdrs: dict[str, SdrState]) -> Decision:
        """Return ``route_lead(lead, rules, sdrs)`` and count it into ``sdrs`` as that does."""
        rules, owner_rule = self.matching(lead.fields)
        if owner_rule is not None and lead.account_owner:
            owner = sdrs.get(lead.account_owner)
            if owner is not None and owner.skip_reason() is None:
                # route_lead's first applicable rule gives it to the owner before anything joins the trail
                return assign_to(lead, owner, owner_rule, f"account owner of {lead.fields.get('email_domain')}", [])
        return route_lead(lead, rules, sdrs)

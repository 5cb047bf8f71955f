"""``opskeeper validate`` hook of the notification area: templates render, the plan can reach someone.

An escalation level that would tell nobody (no contact at that level, or none with an address for
the severity's channels, or no provider on-call) is an error, like any other broken plan: at run
time the escalation would only be recorded as ``notification.nobody_to_tell``, in an emergency.
"""

from __future__ import annotations

from opskeeper.config.estate import Estate, near_hint
from opskeeper.config.loader import Problem
from opskeeper.config.notify import EmailEndpoint
from opskeeper.notify import plan
from opskeeper.notify.plan import ONCALL_LEVEL
from opskeeper.notify.render import templates_dir_of, validate_templates


def validate(estate: Estate) -> list[Problem]:
    """Every event x language renders with sample data; every escalation level has someone to tell."""
    problems = [
        Problem(p.file, p.line, "", p.message)
        for p in validate_templates(templates_dir_of(estate.runbooks_dir))
    ]
    for severity, sev in estate.emergency_plan.severities.items():
        for i, step in enumerate(sev.escalation):
            field = f"emergency_plan.severities.{severity.value}.escalation[{i}].level"
            if step.level == ONCALL_LEVEL:
                why = plan.oncall_unreachable(estate, severity)
                problems += [Problem("(estate)", None, field, why)] if why else []
                continue
            for c in estate.customers:
                why = plan.nobody_at(estate, c, severity, step.level)
                problems += [Problem("(estate)", None, field, why)] if why else []
    return problems + _unknown_roles(estate) + _smtp_without_settings(estate)


def _unknown_roles(estate: Estate) -> list[Problem]:
    """A role the plan tells that no contact has: the message would quietly go to level 1 instead."""
    have = sorted({c.role for cust in estate.customers for c in cust.contacts})
    ep = estate.emergency_plan
    told = [(f"emergency_plan.severities.{sev.value}.roles", p.roles) for sev, p in ep.severities.items()]
    told.append(("emergency_plan.drills.roles", ep.drills.roles))
    return [Problem("(estate)", None, f"{at}[{i}]",
                    f"no contact has the role {role!r}; roles: {', '.join(have)}{near_hint(role, have)}")
            for at, roles in told for i, role in enumerate(roles) if role not in have]  # fmt: skip


def _smtp_without_settings(estate: Estate) -> list[Problem]:
    """An address to reach ``via: smtp`` when the plan has no ``smtp`` section: that mail could never leave."""
    if estate.emergency_plan.smtp is not None:
        return []
    return [Problem("(estate)", None, f"customers[{i}].contacts[{j}]",
                    f"contact {c.name!r}: an e-mail endpoint goes via smtp, but emergency_plan has no 'smtp' "
                    "section (host, sender, ...)")
            for i, cust in enumerate(estate.customers) for j, c in enumerate(cust.contacts)
            if any(isinstance(e, EmailEndpoint) and e.via == "smtp" for e in c.endpoints)]  # fmt: skip

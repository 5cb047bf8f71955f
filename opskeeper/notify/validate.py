"""``opskeeper validate`` hook of the notification area: templates render, the plan can reach someone.

An escalation level that would tell nobody (no contact at that level, or none with an address for
the severity's channels, or no provider on-call) is an error, like any other broken plan: at run
time the escalation would only be recorded as ``notification.nobody_to_tell``, in an emergency.
"""

from __future__ import annotations

from opskeeper.config.estate import Estate
from opskeeper.config.loader import Problem
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
    return problems

"""``opskeeper validate`` hook of the notification area: templates render, the plan can reach someone."""

from __future__ import annotations

from opskeeper.config.estate import Estate
from opskeeper.config.loader import Problem
from opskeeper.notify.plan import ONCALL_LEVEL
from opskeeper.notify.render import templates_dir_of, validate_templates


def validate(estate: Estate) -> list[Problem]:
    """Every event x language renders with sample data; escalation levels have someone to tell."""
    problems = [
        Problem(p.file, p.line, "", p.message)
        for p in validate_templates(templates_dir_of(estate.runbooks_dir))
    ]
    plan = estate.emergency_plan
    for severity, sev in plan.severities.items():
        for i, step in enumerate(sev.escalation):
            field = f"emergency_plan.severities.{severity.value}.escalation[{i}].level"
            if step.level == ONCALL_LEVEL:
                if not (estate.provider.oncall_email or estate.provider.oncall_webhook):
                    problems.append(Problem("(estate)", None, field, "level 9 is the provider's on-call, but "
                                            "provider.oncall_email / oncall_webhook are not set"))  # fmt: skip
                continue
            for c in estate.customers:
                if not any(k.escalation_level == step.level for k in c.contacts):
                    problems.append(Problem("(estate)", None, field, f"customer {c.id!r} has no contact with "
                                            f"escalation_level {step.level}"))  # fmt: skip
    return problems

"""The check registry: every check registers by its stable id with ``@check``; the rules package imports its modules."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from opskeeper.checks.security.model import CheckContext, CheckMeta, Facts, ObjectResult
from opskeeper.config.types import FindingSeverity
from opskeeper.i18n import translation_language

CheckFn = Callable[[Facts, CheckContext], Iterable[ObjectResult]]


@dataclass(frozen=True)
class Check:
    meta: CheckMeta
    fn: CheckFn


_REGISTRY: dict[str, Check] = {}


def check(
    id: str,
    *,
    title: str,
    title_i18n: Mapping[str, str],
    severity: FindingSeverity,
    rationale: str,
    remediation: str,
    needs: tuple[str, ...],
) -> Callable[[CheckFn], CheckFn]:
    """Register a check function under ``id`` (decorator). Ids are stable: they are in fingerprints.

    ``title_i18n`` is the title customers read in their language (``{"zh-CN": ..., "ru": ...}``).
    """
    translations = {translation_language(lang): text for lang, text in title_i18n.items()}

    def register(fn: CheckFn) -> CheckFn:
        if id in _REGISTRY and _REGISTRY[id].fn is not fn:
            raise ValueError(f"security check id {id!r} registered twice")
        meta = CheckMeta(id, title, severity, rationale, remediation, needs, translations)
        _REGISTRY[id] = Check(meta, fn)
        return fn

    return register


def _load_rules() -> None:
    """Import the built-in checks, at first use. Not at import: the rules import this module to register."""
    from opskeeper.checks.security import rules  # noqa: F401  (registers every built-in check)


def all_checks() -> list[Check]:
    _load_rules()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get(check_id: str) -> Check:
    _load_rules()
    try:
        return _REGISTRY[check_id]
    except KeyError:
        raise KeyError(f"unknown security check {check_id!r}") from None


def needed_sections(checks: Iterable[Check]) -> list[str]:
    return sorted({s for c in checks for s in c.meta.needs})

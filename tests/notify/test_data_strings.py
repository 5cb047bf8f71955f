"""Data strings inside messages (scenario and check titles, drill findings, maintenance failures) in the
customer's language: the translation is shown, the English text is not; English is the fallback."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from opskeeper.checks.security.registry import all_checks
from opskeeper.config.loader import load_estate
from opskeeper.config.types import Language
from opskeeper.drills import notices
from opskeeper.drills.evaluate import CheckOutcome, Phase, evaluate
from opskeeper.drills.phrases import finding_title
from opskeeper.drills.scenarios import find_scenario, list_names
from opskeeper.drills.timeline import Event as Mark
from opskeeper.drills.timeline import Timeline
from opskeeper.i18n import Localized
from opskeeper.notify.events import Event, sample_context
from opskeeper.notify.helpers import maintenance_failure
from opskeeper.notify.records import decode_context, encode_context
from opskeeper.notify.render import SAMPLE_FRAME, Renderer
from tests.notify.conftest import EXAMPLE

T0 = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
OTHERS = (Language.ZH_CN, Language.RU)
SCENARIOS = ("primary-host-lost", "data-corruption", "database-restore", "backup-target-lost")


def _shown(event: Event, lang: Language, context: dict) -> str:
    out = Renderer().render(event, lang, {**sample_context(event), **context}, SAMPLE_FRAME)
    return out.subject + "\n" + out.text + "\n" + out.html


def test_the_shipped_scenarios_are_translated() -> None:
    assert set(SCENARIOS) <= set(list_names())
    for name in SCENARIOS:
        s = find_scenario(name)
        for lang in OTHERS:
            assert s.title_i18n.get(lang, "").strip() and s.title_in(lang) != s.title, (name, lang)


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("event", [Event.DRILL_SCHEDULED, Event.DRILL_STARTED, Event.DRILL_COMPLETED])
def test_drill_messages_show_the_scenario_title_in_the_customers_language(name: str, event: Event) -> None:
    scenario = find_scenario(name)
    for lang in OTHERS:
        text = _shown(event, lang, {"scenario": scenario.localized_title()})
        assert scenario.title_in(lang) in text
        assert scenario.title not in text
    assert scenario.title in _shown(event, Language.EN, {"scenario": scenario.localized_title()})


def _evaluation():  # type: ignore[no-untyped-def]
    """A real evaluation of a failed drill: RTO missed, a verification failed."""
    tl = Timeline()
    tl.record(Mark.FAULT_INJECTED, "fault", at=T0)
    tl.record(Mark.SERVICE_RESTORED, "up", at=T0 + timedelta(hours=9))
    tl.record(Mark.DATA_VERIFIED, "ok", at=T0 + timedelta(hours=9))
    estate = load_estate(EXAMPLE)
    checks = [CheckOutcome(Phase.VERIFICATION, "data intact", False, "2", "0", "2 files differ")]
    return evaluate(find_scenario("data-corruption"), estate.tier_of(estate.customer("hanhai")), tl,
                    newest_restored=T0 - timedelta(minutes=5), checks=checks)  # fmt: skip


def test_drill_completed_lists_findings_and_summary_in_the_customers_language() -> None:
    ev = _evaluation()
    scenario = find_scenario("data-corruption")
    context = {"scenario": scenario.localized_title(), "verdict": "failed", "summary": notices.summary(ev),
               "findings": notices.findings(ev), "action_items": len(ev.findings)}  # fmt: skip
    english = _shown(Event.DRILL_COMPLETED, Language.EN, context)
    assert "RTO exceeded by 1h" in english and "Verification failed: data intact" in english
    zh = _shown(Event.DRILL_COMPLETED, Language.ZH_CN, context)
    assert "恢复时间超出目标（RTO）" in zh and "验证未通过：data intact" in zh and "评分" in zh
    ru = _shown(Event.DRILL_COMPLETED, Language.RU, context)
    assert "Превышено целевое время восстановления (RTO)" in ru and "Проверка не пройдена: data intact" in ru
    assert "Оценка" in ru
    for text in (zh, ru):
        assert "RTO exceeded" not in text and "Verification failed" not in text and "Score" not in text


def test_a_finding_code_not_in_the_catalogue_keeps_its_english_title() -> None:
    title = finding_title("something-new:x", "Something new happened")
    assert title.in_(Language.ZH_CN) == "Something new happened"


def test_every_security_check_title_renders_translated() -> None:
    for check in all_checks():
        meta = check.meta
        for lang in OTHERS:
            text = _shown(Event.SECURITY_FINDING, lang, {"title": meta.localized_title, "count": 3})
            assert meta.title_i18n[lang] in text and meta.title not in text, (meta.id, lang)
    zh = _shown(Event.SECURITY_FINDING, Language.ZH_CN, {"count": 3})
    assert "（共 3 项）" in zh and "items" not in zh
    assert "(объектов: 3)" in _shown(Event.SECURITY_FINDING, Language.RU, {"count": 3})


def test_maintenance_failure_is_framed_in_the_customers_language_without_host_names() -> None:
    reason = maintenance_failure(["compress-old-logs", "clean-temp"], 1, 2)
    zh = _shown(Event.MAINTENANCE_FAILED, Language.ZH_CN, {"reason": reason})
    assert "步骤 compress-old-logs、clean-temp 执行失败（2 台主机中有 1 台受影响）" in zh
    ru = _shown(Event.MAINTENANCE_FAILED, Language.RU, {"reason": reason})
    assert "шаги compress-old-logs, clean-temp завершились с ошибкой (затронуто узлов: 1 из 2)" in ru
    for text in (zh, ru):
        assert "failed (" not in text and "hosts affected" not in text
    crashed = maintenance_failure([], 0, 2, "run aborted: OSError: no route to db-internal-7")
    out = Renderer().render(Event.MAINTENANCE_FAILED, Language.RU,
                            {**sample_context(Event.MAINTENANCE_FAILED), "reason": crashed},
                            SAMPLE_FRAME, private=["db-internal-7"])  # fmt: skip
    assert "(технические сведения: run aborted: OSError: no route to […])" in out.text
    assert "db-internal-7" not in out.text + out.html + out.subject


def test_translations_survive_the_ledger_for_escalation_rounds() -> None:
    title = find_scenario("primary-host-lost").localized_title()
    context = {"scenario": title, "findings": [title], "window_start": T0}
    back = decode_context(encode_context(context))
    assert back == context
    assert isinstance(back["scenario"], Localized)
    assert back["scenario"].in_(Language.RU) == title.in_(Language.RU)


def test_a_missing_translation_falls_back_to_english() -> None:
    only_ru = Localized.of("Primary host lost", {Language.RU: "Потеря основного сервера"})
    zh = _shown(Event.DRILL_STARTED, Language.ZH_CN, {"scenario": only_ru})
    assert "Primary host lost" in zh
    frame = dataclasses.replace(SAMPLE_FRAME, drill=False)
    out = Renderer().render(Event.DRILL_STARTED, Language.RU, {**sample_context(Event.DRILL_STARTED),
                                                                "scenario": only_ru}, frame)  # fmt: skip
    assert "Потеря основного сервера" in out.text and "Primary host lost" not in out.text

"""Templates: every event x language renders; real Chinese and Russian text; drills marked; typos caught."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from opskeeper.config.types import Language
from opskeeper.notify.events import Event, sample_context
from opskeeper.notify.render import DEFAULT_DIR, SAMPLE_FRAME, Frame, Renderer, validate_templates
from opskeeper.notify.validate import validate

T0 = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)  # Saturday 22:00 in Shanghai, 17:00 in Moscow


def test_every_event_and_language_renders() -> None:
    assert validate_templates() == []
    r = Renderer()
    for event in Event:
        for lang in Language:
            out = r.render(event, lang, sample_context(event), SAMPLE_FRAME)
            assert out.subject and out.text and out.html.startswith("<!DOCTYPE html>")
            assert "\n" not in out.subject


def _maint_context() -> dict:
    return {
        "cadence": "monthly",
        "window_start": T0,
        "window_end": T0 + timedelta(hours=4),
        "systems": ["ERP"],
    }


def test_chinese_message_text() -> None:
    frame = Frame("瀚海贸易有限公司", "王伟", "Northwind Ops", "routine", "Asia/Shanghai")
    out = Renderer().render(Event.MAINTENANCE_SCHEDULED, Language.ZH_CN, _maint_context(), frame)
    assert out.subject == "月度维护计划通知：2026年11月28日 22:00 (CST)"
    assert "王伟，您好：" in out.text
    assert "维护时间：2026年11月28日 22:00 (CST)（星期六）至 2026年11月29日 02:00 (CST)" in out.text
    assert "Northwind Ops 运维团队" in out.text


def test_russian_message_text() -> None:
    frame = Frame("ООО «Волга Логистик»", "Ирина Петрова", "Northwind Ops", "routine", "Europe/Moscow")
    out = Renderer().render(Event.MAINTENANCE_SCHEDULED, Language.RU, _maint_context(), frame)
    assert out.subject == "Плановое ежемесячное обслуживание: 28 ноября 2026 г., 17:00 (MSK)"
    assert "Здравствуйте, Ирина Петрова!" in out.text
    assert (
        "Время работ: 28 ноября 2026 г., 17:00 (MSK) (суббота) — 28 ноября 2026 г., 21:00 (MSK)" in out.text
    )
    ctx = sample_context(Event.DRILL_COMPLETED)
    out = Renderer().render(Event.DRILL_COMPLETED, Language.RU, ctx, dataclasses.replace(frame, drill=True))
    assert out.subject.startswith("[УЧЕНИЯ] Учения завершены")
    assert "Время восстановления (RTO): 42 минуты при цели 8 часов" in out.text


def test_drills_are_marked_in_every_language() -> None:
    frame = dataclasses.replace(SAMPLE_FRAME, drill=True, escalated=False)
    markers = {Language.ZH_CN: "【演练】", Language.RU: "[УЧЕНИЯ]", Language.EN: "[DRILL]"}
    for lang, marker in markers.items():
        out = Renderer().render(Event.INCIDENT_DECLARED, lang, sample_context(Event.INCIDENT_DECLARED), frame)
        assert out.subject.startswith(marker)
        assert out.text.startswith(marker)
        assert marker in out.html


def test_private_strings_are_never_rendered() -> None:
    ctx = {**sample_context(Event.MAINTENANCE_FAILED), "reason": "disk full on 10.20.30.40 (db-internal-7)"}
    out = Renderer().render(
        Event.MAINTENANCE_FAILED, Language.EN, ctx, SAMPLE_FRAME, private=["10.20.30.40", "db-internal-7"]
    )
    for part in (out.subject, out.text, out.html):
        assert "10.20.30.40" not in part and "db-internal-7" not in part
    assert "disk full on […]" in out.text


def test_template_typo_is_caught_with_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "notifications"
    shutil.copytree(DEFAULT_DIR, folder)
    target = folder / "backup_failed.ru.j2"
    lines = target.read_text().splitlines()
    typo_line = next(i for i, line in enumerate(lines, 1) if "{{ reason }}" in line)
    lines[typo_line - 1] = lines[typo_line - 1].replace("{{ reason }}", "{{ reasn }}")
    target.write_text("\n".join(lines) + "\n")
    bad_syntax = folder / "sla_breached.en.j2"
    bad_syntax.write_text(bad_syntax.read_text().replace("{% endblock %}", "{% endblok %}", 1))

    problems = validate_templates(folder)
    by_file = {Path(p.file).name: p for p in problems}
    assert set(by_file) == {"backup_failed.ru.j2", "sla_breached.en.j2"}
    assert by_file["backup_failed.ru.j2"].line == typo_line
    assert "'reasn' is undefined" in by_file["backup_failed.ru.j2"].message
    assert by_file["sla_breached.en.j2"].line == 1
    assert str(by_file["backup_failed.ru.j2"]).endswith(
        f"backup_failed.ru.j2:{typo_line}: 'reasn' is undefined"
    )


def test_validate_hook_reports_typos_in_the_estates_templates(estate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert validate(estate) == []
    folder = tmp_path / "runbooks" / "templates" / "notifications"
    shutil.copytree(DEFAULT_DIR, folder)
    (folder / "incident_resolved.zh-CN.j2").write_text("{% block subject %}{{ incident_idd }}{% endblock %}\n"
                                                       "{% block text %}x{% endblock %}\n")  # fmt: skip
    estate.runbooks_dir = str(tmp_path / "runbooks")
    estate.customers[0].contacts = estate.customers[0].contacts[:1]  # nobody at escalation level 2
    problems = validate(estate)
    assert [(Path(p.file).name, p.line) for p in problems if p.file.endswith(".j2")] == [
        ("incident_resolved.zh-CN.j2", 1)
    ]
    assert any("has no contact with escalation_level 2" in p.message for p in problems)

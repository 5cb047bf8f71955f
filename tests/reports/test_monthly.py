"""The monthly customer report: month in the customer's zone, every section, languages, nothing private."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from opskeeper.ledger.drills import ActionItem, Drill
from opskeeper.ledger.findings import Finding, fingerprint
from opskeeper.reports import monthly
from tests.reports.conftest import NOV_RUN, PRIVATE, SECRET, TOKEN, Filled


def test_month_is_cut_in_the_customers_zone() -> None:
    p = monthly.month_period("2026-12", "Asia/Shanghai")
    assert p.start == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert p.end == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert monthly.month_period("2026-11", "Europe/Moscow").end == datetime(2026, 11, 30, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["2026-13", "2026-00", "2026/11", "26-11", "november", ""])
def test_a_bad_month_is_bad_input(bad: str) -> None:
    with pytest.raises(monthly.ReportInputError) as err:
        monthly.month_period(bad, "Asia/Shanghai")
    assert err.value.exit_code == 2


def test_a_run_at_1700_utc_on_30_november_is_decembers_in_shanghai(filled: Filled) -> None:
    nov = monthly.build(filled.estate, filled.ledger, "hanhai", "2026-11")
    dec = monthly.build(filled.estate, filled.ledger, "hanhai", "2026-12")
    assert [r.id for r in nov.runs] == [filled.nov_run]
    assert [r.id for r in dec.runs] == [filled.dec_run]
    md = monthly.render(dec, "md")
    assert "2026年12月1日 01:00 (CST)" in md  # shown in the customer's zone and language
    assert "2026年12月1日 00:00 (CST) – 2027年1月1日 00:00 (CST)" in md


def test_sections_of_the_month(filled: Filled) -> None:
    r = monthly.build(
        filled.estate, filled.ledger, "hanhai", "2026-11", now=datetime(2026, 12, 5, tzinfo=UTC)
    )
    run = r.runs[0]
    assert run.status == "failed" and [(p.step, p.status) for p in run.problems] == [
        ("db.optimise", "failed")
    ]
    disk = next(h for h in r.health if h.metric == "disk")
    assert (disk.subject, disk.latest, disk.low, disk.high, disk.samples) == ("/", 70.0, 70.0, 70.0, 1)
    (backup,) = r.backups
    assert (backup.dataset, backup.snapshots, backup.size, backup.verify_status) == (
        "erp-data",
        2,
        3072,
        "ok",
    )
    assert [x.files for x in r.restores] == [10]
    sec = r.security
    assert sec is not None
    # new: updates (first seen in November); resolved: ssh; open at the end: updates + ports; both overdue
    assert (sec.new, sec.resolved, sec.open, sec.overdue) == (1, 1, 2, 2)
    assert [x.severity for x in sec.open_rows] == ["critical", "high"]
    (score,) = sec.scores
    assert (score.previous, score.first, score.last, score.scans) == (60.0, 70.0, 82.5, 2)
    assert [(d.status, d.rto_met, d.rpo_met) for d in r.drills] == [
        ("pass", True, True),
        ("fail", False, True),
    ]
    acked = next(n for n in r.notices if n.event == "security_finding")
    assert acked.ack_after is not None and acked.ack_after.total_seconds() == 12 * 60
    assert sorted(b.kind for b in r.breaches) == ["maintenance", "response"]
    assert [(i.title, i.overdue) for i in r.items] == [
        ("Recovery too slow", True)
    ]  # due 23 Nov, open on 30 Nov


def test_chinese_report(filled: Filled) -> None:
    r = monthly.build(
        filled.estate, filled.ledger, "hanhai", "2026-11", now=datetime(2026, 12, 5, tzinfo=UTC)
    )
    for fmt in ("md", "html"):
        text = monthly.render(r, fmt)
        for heading in ("月度服务报告", "维护运行", "主机健康状况", "备份", "恢复测试", "安全发现", "加固评分",
                        "灾难恢复演练", "已发送的通知", "SLA 违约", "未完成的行动项"):  # fmt: skip
            assert heading in text, (fmt, heading)
        assert "12 分钟" in text  # acknowledged after, in Chinese
        assert "2026年11月1日 00:00 (CST)" in text
    assert '<html lang="zh-CN">' in monthly.render(r, "html")


def test_russian_report(filled: Filled) -> None:
    r = monthly.build(filled.estate, filled.ledger, "hanhai", "2026-11", lang="ru")
    text = monthly.render(r, "html")
    for heading in ("Ежемесячный отчёт об обслуживании", "Регламентные работы", "Состояние серверов",
                    "Резервные копии", "Замечания безопасности", "Учения по аварийному восстановлению",
                    "Отправленные уведомления", "Нарушения SLA", "Открытые задачи"):  # fmt: skip
        assert heading in text, heading
    assert "1 ноября 2026 г., 00:00 (CST)" in text and "12 минут" in text
    volga = monthly.render(monthly.build(filled.estate, filled.ledger, "volga", "2026-11"), "md")
    assert "Ежемесячный отчёт" in volga and "(MSK)" in volga and "В этом месяце нет." in volga


def test_no_secret_private_string_or_token_in_the_report(filled: Filled) -> None:
    r = monthly.build(filled.estate, filled.ledger, "hanhai", "2026-11")
    for fmt in ("md", "html", "json"):
        text = monthly.render(r, fmt)
        assert "vacuum failed on" in text  # the problem is shown ...
        assert SECRET not in text and PRIVATE not in text and TOKEN not in text  # ... not what is private
        assert "localhost" not in text  # host addresses are the provider's


def test_unknown_customer_and_language_are_bad_input(filled: Filled) -> None:
    with pytest.raises(monthly.ReportInputError, match="no customer 'acme'"):
        monthly.build(filled.estate, filled.ledger, "acme", "2026-11")
    with pytest.raises(monthly.ReportInputError, match="language"):
        monthly.build(filled.estate, filled.ledger, "hanhai", "2026-11", lang="de")
    r = monthly.build(filled.estate, filled.ledger, "hanhai", "2026-11")
    with pytest.raises(monthly.ReportInputError, match="format"):
        monthly.render(r, "pdf")


def test_json_form(filled: Filled) -> None:
    r = monthly.build(filled.estate, filled.ledger, "hanhai", "2026-12")
    data = json.loads(monthly.render(r, "json"))
    assert data["period"]["start"] == "2026-11-30T16:00:00+00:00" and data["lang"] == "zh-CN"
    assert [run["id"] for run in data["runs"]] == [filled.dec_run] and data["runs"][0]["duration"] == 600.0


def _translated_rows(filled: Filled) -> None:
    """A finding of a registered check and a drill's RTO action item, both stored in English."""
    at = NOV_RUN + timedelta(days=3)
    with filled.ledger.session() as s:
        s.add(Finding(fingerprint=fingerprint("hanhai-erp-1", "ssh.root-login", "sshd"), customer_id="hanhai",
                      system_id="erp", host="hanhai-erp-1", check_id="ssh.root-login", object="sshd",
                      severity="high", title="SSH permits root login", status="open", first_seen=at,
                      last_seen=at, due_by=at + timedelta(days=30)))  # fmt: skip
        drill = s.scalars(select(Drill).where(Drill.customer_id == "hanhai")).first()
        assert drill is not None
        s.add(ActionItem(customer_id="hanhai", scenario="data-corruption", fingerprint="rto-exceeded",
                         severity="high", title="RTO exceeded by 1h", owner="duty-engineer",
                         due=at + timedelta(days=9), opened_by_drill=drill.id, last_seen_drill=drill.id,
                         opened_at=at))  # fmt: skip


def test_data_strings_are_in_the_reports_language(filled: Filled) -> None:
    _translated_rows(filled)
    english = ("SSH permits root login", "Data corruption on the primary", "RTO exceeded")
    expected = {
        "zh-CN": ("SSH 允许 root 登录", "主服务器数据损坏", "恢复时间超出目标（RTO）"),
        "ru": ("SSH разрешает вход под root", "Повреждение данных на основном сервере",
               "Превышено целевое время восстановления (RTO)"),
    }  # fmt: skip
    for lang, shown in expected.items():
        r = monthly.build(filled.estate, filled.ledger, "hanhai", "2026-11", lang=lang,
                          now=datetime(2026, 12, 5, tzinfo=UTC))  # fmt: skip
        for fmt in ("md", "html"):
            text = monthly.render(r, fmt)
            for s in shown:
                assert s in text, (lang, fmt, s)
            for s in english:
                assert s not in text, (lang, fmt, s)
    en = monthly.render(monthly.build(filled.estate, filled.ledger, "hanhai", "2026-11", lang="en"), "md")
    assert all(s in en for s in english)


def test_gate_reasons_are_in_the_reports_language() -> None:
    table = {**monthly.labels()["en"], **monthly.labels()["ru"]}
    assert monthly._why("forced outside the maintenance window", table) == "принудительно вне окна обслуживания"
    assert monthly._why("forced inside blackout 'Новогодние каникулы'", table) == (
        "принудительно во время запретного периода «Новогодние каникулы»"
    )
    zh = {**monthly.labels()["en"], **monthly.labels()["zh-CN"]}
    assert monthly._why("blackout: 月末结账", zh) == "已跳过：禁止变更期 月末结账"
    assert monthly._why("3 of 4 hosts failed", zh) == "3 of 4 hosts failed"  # other text as it is
    en = monthly.labels()["en"]
    assert monthly._why("forced outside the maintenance window", en) == "forced outside the maintenance window"

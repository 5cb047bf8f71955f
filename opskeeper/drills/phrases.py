"""Drill findings in the customer's language: a catalogue keyed by the finding's stable code.

Findings are written by code (evaluate.py, the actions), so their wording is known here; the
code is the part of the fingerprint before ``:`` (``rto-exceeded``, ``verification:<probe>``).
The English title stays what the evaluation wrote (with its numbers: "RTO exceeded by 5m");
the other languages come from this catalogue, with the probe name from the fingerprint. A code
not in the catalogue keeps its English title, so a new finding is never lost, only untranslated.
"""

from __future__ import annotations

from opskeeper.config.types import Language
from opskeeper.i18n import Localized

EN, ZH, RU = Language.EN, Language.ZH_CN, Language.RU

FINDINGS: dict[str, dict[Language, str]] = {
    "rto-unmeasured": {
        EN: "Service was not restored and verified",
        ZH: "服务未能恢复并通过验证",
        RU: "Сервис не был восстановлен и проверен",
    },
    "rto-exceeded": {
        EN: "Recovery time objective (RTO) exceeded",
        ZH: "恢复时间超出目标（RTO）",
        RU: "Превышено целевое время восстановления (RTO)",
    },
    "rpo-unmeasured": {
        EN: "No restored data with a known time: RPO not measured",
        ZH: "没有可确定时间点的已恢复数据，未能测量数据丢失（RPO）",
        RU: "Нет восстановленных данных с известным временем: RPO не измерен",
    },
    "rpo-exceeded": {
        EN: "Recovery point objective (RPO) exceeded",
        ZH: "数据丢失超出目标（RPO）",
        RU: "Превышен допустимый объём потери данных (RPO)",
    },
    "not-detected": {
        EN: "Fault not detected by {name}",
        ZH: "检测项“{name}”未发现故障",
        RU: "Сбой не обнаружен проверкой «{name}»",
    },
    "verification": {
        EN: "Verification failed: {name}",
        ZH: "验证未通过：{name}",
        RU: "Проверка не пройдена: {name}",
    },
    "steady-state": {
        EN: "Steady state not regained: {name}",
        ZH: "系统未恢复到正常状态：{name}",
        RU: "Штатное состояние не восстановлено: {name}",
    },
    "cleanup-failed": {
        EN: "Cleanup failed: the system may still be faulted",
        ZH: "清理失败：系统可能仍处于故障状态",
        RU: "Очистка не удалась: система может оставаться в состоянии сбоя",
    },
    "aborted": {
        EN: "Drill aborted",
        ZH: "演练已中止",
        RU: "Учения прерваны",
    },
    "drill-error": {
        EN: "The drill stopped on an unexpected error",
        ZH: "演练因意外错误而停止",
        RU: "Учения остановлены из-за непредвиденной ошибки",
    },
    "no-secondary-target": {
        EN: "No other backup target can restore the data",
        ZH: "没有其他备份存储能够恢复数据",
        RU: "Ни одно другое хранилище резервных копий не может восстановить данные",
    },
}


def code_of(fingerprint: str) -> tuple[str, str]:
    """``verification:data intact`` -> (``verification``, ``data intact``)."""
    code, _, name = fingerprint.partition(":")
    return code, name


def finding_title(fingerprint: str, title: str) -> Localized:
    """A finding's title in every language the catalogue has; English is the evaluation's own title."""
    code, name = code_of(fingerprint)
    phrases = FINDINGS.get(code)
    if phrases is None:
        return Localized.of(title)
    translated = Localized.catalogue(phrases, name=name)
    return Localized(title, translated.translations)

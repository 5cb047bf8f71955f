"""Locale conventions for zh-CN, en and ru: dates and times in the customer's zone, durations, markers.

No locale database is needed (and none is installed on customer-facing hosts): the three
languages are spelled out here, which also keeps the output identical on every machine.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from opskeeper.config.types import Language

_RU_MONTHS = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip
_EN_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_ZH_WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
_RU_WEEKDAYS = ("понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье")
_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

DRILL_MARKERS = {Language.ZH_CN: "【演练】", Language.RU: "[УЧЕНИЯ]", Language.EN: "[DRILL]"}
ESCALATION_MARKERS = {Language.ZH_CN: "【升级】", Language.RU: "[ЭСКАЛАЦИЯ]", Language.EN: "[ESCALATED]"}


def _zone_label(local: datetime) -> str:
    name = local.tzname() or ""
    if not name or name[0] in "+-":  # zones without an abbreviation: show the offset
        off = local.utcoffset() or timedelta(0)
        minutes = int(off.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        name = f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return name


def format_datetime(at: datetime | None, lang: Language | str, tz: str) -> str:
    """'2026年11月28日 22:00 (CST)', '28 ноября 2026 г., 22:00 (MSK)', '28 November 2026, 22:00 (CET)'."""
    if at is None:
        return "—"
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()} cannot be shown in a customer's zone")
    local = at.astimezone(ZoneInfo(tz))
    zone = _zone_label(local)
    hm = f"{local:%H:%M}"
    match Language(lang):
        case Language.ZH_CN:
            return f"{local.year}年{local.month}月{local.day}日 {hm} ({zone})"
        case Language.RU:
            return f"{local.day} {_RU_MONTHS[local.month - 1]} {local.year} г., {hm} ({zone})"
        case Language.EN:
            return f"{local.day} {_EN_MONTHS[local.month - 1]} {local.year}, {hm} ({zone})"


def format_weekday(at: datetime, lang: Language | str, tz: str) -> str:
    local = at.astimezone(ZoneInfo(tz))
    table = {Language.ZH_CN: _ZH_WEEKDAYS, Language.RU: _RU_WEEKDAYS, Language.EN: _EN_WEEKDAYS}
    return table[Language(lang)][local.weekday()]


def _ru_plural(n: int, one: str, few: str, many: str) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def format_duration(td: timedelta | None, lang: Language | str) -> str:
    """'2 小时 10 分钟', '2 часа 10 минут', '2 hours 10 minutes' (days, hours, minutes)."""
    if td is None:
        return "—"
    total = max(0, int(td.total_seconds()) // 60)
    days, rest = divmod(total, 1440)
    hours, minutes = divmod(rest, 60)
    parts: list[str] = []
    language = Language(lang)
    for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")):
        if not n:
            continue
        match language:
            case Language.ZH_CN:
                parts.append(f"{n} {dict(d='天', h='小时', m='分钟')[unit]}")
            case Language.RU:
                forms = {"d": ("день", "дня", "дней"), "h": ("час", "часа", "часов"),
                         "m": ("минута", "минуты", "минут")}[unit]  # fmt: skip
                parts.append(f"{n} {_ru_plural(n, *forms)}")
            case Language.EN:
                word = {"d": "day", "h": "hour", "m": "minute"}[unit]
                parts.append(f"{n} {word}{'' if n == 1 else 's'}")
    if not parts:
        # Under a minute (a fast drill recovery): seconds, not a misleading "0 minutes".
        n = max(0, round(td.total_seconds()))
        match language:
            case Language.ZH_CN:
                return f"{n} 秒"
            case Language.RU:
                return f"{n} {_ru_plural(n, 'секунда', 'секунды', 'секунд')}"
            case Language.EN:
                return f"{n} second{'' if n == 1 else 's'}"
    return " ".join(parts)


def join_list(items: list[str], lang: Language | str) -> str:
    return ("、" if Language(lang) is Language.ZH_CN else ", ").join(items)


CADENCES = {
    Language.ZH_CN: {"monthly": "月度", "quarterly": "季度", "annual": "年度"},
    Language.RU: {"monthly": "ежемесячное", "quarterly": "ежеквартальное", "annual": "ежегодное"},
    Language.EN: {"monthly": "monthly", "quarterly": "quarterly", "annual": "annual"},
}


def cadence_label(cadence: str, lang: Language | str) -> str:
    return CADENCES[Language(lang)].get(str(cadence), str(cadence))

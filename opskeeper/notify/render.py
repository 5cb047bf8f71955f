"""Rendering: one Jinja2 template per event and language -> subject, plain text and HTML.

Templates live in ``runbooks/templates/notifications/<event>.<lang>.j2`` and define the blocks
``subject`` and ``text``. ``_common.<lang>.j2`` holds the drill and escalation banners and the
footer; ``_layout.html.j2`` turns the text into the HTML part. ``StrictUndefined`` makes a
missing variable an error (caught by :func:`validate_templates`), never a blank in an inbox.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from jinja2 import pass_context

from opskeeper.config.secrets import redact
from opskeeper.config.types import Language
from opskeeper.i18n import in_language
from opskeeper.notify import locale
from opskeeper.notify.events import Event, complete_context, sample_context
from opskeeper.notify.interface import NotifyError
from opskeeper.paths import TEMPLATES_DIR

DEFAULT_DIR = TEMPLATES_DIR / "notifications"
PRIVATE_MASK = "[…]"


class TemplateError(NotifyError):
    """A notification template is missing or does not render."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a template: where, and what."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line or 0}: {self.message}"


@dataclass(frozen=True)
class Rendered:
    language: Language
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class Frame:
    """What every message knows besides the event's own variables."""

    customer_name: str
    contact_name: str
    provider_name: str
    severity: str
    tz: str
    drill: bool = False
    escalated: bool = False
    ack_url: str | None = None
    deadline: datetime | None = None


SAMPLE_FRAME = Frame(
    "Sample Customer",
    "Sample Contact",
    "Sample Provider",
    "high",
    "Asia/Shanghai",
    drill=True,
    escalated=True,
    ack_url="http://127.0.0.1:8765/ack/SAMPLE",
    deadline=datetime.fromisoformat("2026-11-28T16:00:00+00:00"),
)


@pass_context
def _dt(ctx: jinja2.runtime.Context, value: datetime | None) -> str:
    return locale.format_datetime(value, ctx["lang"], ctx["tz"])


@pass_context
def _weekday(ctx: jinja2.runtime.Context, value: datetime) -> str:
    return locale.format_weekday(value, ctx["lang"], ctx["tz"])


@pass_context
def _duration(ctx: jinja2.runtime.Context, value: timedelta | None) -> str:
    return locale.format_duration(value, ctx["lang"])


@pass_context
def _join(ctx: jinja2.runtime.Context, value: list[str]) -> str:
    return locale.join_list([str(v) for v in value], ctx["lang"])


@pass_context
def _cadence(ctx: jinja2.runtime.Context, value: str) -> str:
    return locale.cadence_label(value, ctx["lang"])


def _paragraphs(text: str) -> list[list[str]]:
    return [p.splitlines() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


class Renderer:
    """Renders events in a language, with the customer's zone and the plan's drill marker."""

    def __init__(self, templates_dir: Path | None = None, *, drill_prefix: str = "DRILL") -> None:
        self.dir = Path(templates_dir or DEFAULT_DIR)
        self.drill_prefix = drill_prefix
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.dir)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # the text part is plain text; the HTML layout escapes itself
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            dt=_dt, weekday=_weekday, duration=_duration, join_list=_join, cadence=_cadence
        )

    def path(self, event: Event, lang: Language) -> Path:
        return self.dir / f"{event.value}.{lang.value}.j2"

    def has(self, event: Event, lang: Language) -> bool:
        return self.path(event, lang).is_file()

    def pick_language(self, event: Event, wanted: list[Language]) -> Language:
        """The first wanted language with a template; English as the last resort."""
        for lang in [*wanted, Language.EN]:
            if self.has(event, lang):
                return lang
        raise TemplateError(
            f"no template for event {event.value} in {', '.join(wanted)} or en under {self.dir}"
        )

    def render(
        self, event: Event, lang: Language, context: dict[str, Any], frame: Frame, private: Sequence[str] = ()
    ) -> Rendered:
        variables = {
            # data strings with translations (scenario and check titles, findings) in this message's language
            **in_language(complete_context(event, context), lang),
            **frame.__dict__,
            "lang": lang.value,
            "event": event.value,
        }
        try:
            body = self._blocks(f"{event.value}.{lang.value}.j2", variables, ("subject", "text"))
            common = self._blocks(
                f"_common.{lang.value}.j2", variables, ("drill_banner", "escalation_banner", "footer")
            )
        except jinja2.TemplateError as e:
            where = problem_from(e, self.dir)
            raise TemplateError(f"template {where}") from e
        subject = " ".join(body["subject"].split())
        sep = "" if lang is Language.ZH_CN else " "  # 【】 brackets need no space
        if frame.escalated:
            subject = f"{locale.ESCALATION_MARKERS[lang]}{sep}{subject}"
        if frame.drill:
            marker = f"[{self.drill_prefix}]" if lang is Language.EN else locale.DRILL_MARKERS[lang]
            subject = f"{marker}{sep}{subject}"
        banners = [common["drill_banner"]] if frame.drill else []
        banners += [common["escalation_banner"]] if frame.escalated else []
        text = "\n\n".join(p.strip() for p in [*banners, body["text"], common["footer"]] if p.strip()) + "\n"
        page = self.env.get_template("_layout.html.j2").render(
            lang=lang.value,
            subject=subject,
            drill=frame.drill,
            banners=[b.strip() for b in banners],
            paragraphs=_paragraphs(body["text"]),
            footer=_paragraphs(common["footer"]),
            ack_url=frame.ack_url,
        )
        scrub = _scrubber(private)
        return Rendered(lang, scrub(subject), scrub(text), scrub(page))

    def _blocks(self, name: str, variables: dict[str, Any], blocks: tuple[str, ...]) -> dict[str, str]:
        template = self.env.get_template(name)
        out = {}
        for block in blocks:
            if block not in template.blocks:
                raise jinja2.TemplateSyntaxError(f"missing block '{block}'", 1, name, template.filename)
            ctx = template.new_context(variables)
            try:
                out[block] = "".join(template.blocks[block](ctx))
            except Exception:
                self.env.handle_exception()  # re-raises with template file and line in the traceback
        return out


def _scrubber(private: Sequence[str]) -> Any:
    values = sorted({p for p in private if p and len(p) >= 3}, key=len, reverse=True)

    def scrub(text: str) -> str:
        for value in values:
            text = text.replace(value, PRIVATE_MASK).replace(html.escape(value), PRIVATE_MASK)
        return redact(text)

    return scrub


def problem_from(error: BaseException, base: Path) -> Problem:
    """File and line of a Jinja2 error: syntax errors carry them; runtime errors sit in the traceback."""
    if isinstance(error, jinja2.TemplateSyntaxError):
        return Problem(
            _rel(error.filename or error.name or "?", base), error.lineno, error.message or str(error)
        )
    file, line = "?", None
    tb: TracebackType | None = error.__traceback__
    while tb is not None:  # Jinja2 rewrites frames so that template code shows its own file and line
        name = tb.tb_frame.f_code.co_filename
        if name.endswith(".j2"):
            file, line = name, tb.tb_lineno
        tb = tb.tb_next
    return Problem(_rel(file, base), line, str(getattr(error, "message", None) or error))


def _rel(file: str, base: Path) -> str:
    """Relative to the working directory when below it (``runbooks/templates/...``), else absolute."""
    path = Path(file) if Path(file).is_absolute() else base / file
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


def validate_templates(templates_dir: Path | None = None) -> list[Problem]:
    """Render every event x language with a sample context; report syntax errors and undefined names."""
    renderer = Renderer(templates_dir)
    problems: list[Problem] = []
    if not renderer.dir.is_dir():
        return [Problem(str(renderer.dir), None, "notification templates folder is missing")]
    known = {f"{e.value}.{lang.value}.j2" for e in Event for lang in Language}
    for path in sorted(renderer.dir.glob("*.j2")):
        if not path.name.startswith("_") and path.name not in known:
            problems.append(Problem(_rel(str(path), renderer.dir), None, "not an event.language template"))
    for event in Event:
        for lang in Language:
            path = renderer.path(event, lang)
            if not path.is_file():
                problems.append(Problem(_rel(str(path), renderer.dir), None, "template missing"))
                continue
            try:
                renderer.render(event, lang, sample_context(event), SAMPLE_FRAME)
            except TemplateError as e:
                cause = e.__cause__ or e
                problems.append(problem_from(cause, renderer.dir))
    return _unique(problems)


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[Problem] = set()
    return [p for p in problems if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]


def templates_dir_of(runbooks_dir: str | Path) -> Path:
    """Where an estate's notification templates are: ``<runbooks_dir>/templates/notifications``, else the bundled."""
    folder = Path(runbooks_dir) / "templates" / "notifications"
    return folder if folder.is_dir() else DEFAULT_DIR

"""Data strings in the customer's language: translations kept next to the English text.

Templates are written once per language, but some values inside them are data: a drill
scenario's title, a security check's title, a drill finding, a maintenance failure. Each of
those is English (the text engineers read and the ledger keeps) with optional translations
beside it -- ``title`` and ``title_i18n: {zh-CN: ..., ru: ...}`` in YAML, ``title_i18n=`` on a
check. :class:`Localized` carries such a text through the notification context; the renderer
picks the message's language and falls back to English.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator


class Language(StrEnum):
    """The languages customers are told in (templates, reports, translated data strings).

    Defined here, below the config models that use it (``opskeeper.config.types`` re-exports it).
    """

    ZH_CN = "zh-CN"
    EN = "en"
    RU = "ru"


BASE = Language.EN
JSON_TAG = "$l10n"  # the ledger form: {"$l10n": {"en": ..., "zh-CN": ..., "ru": ...}}


def translation_language(value: Any) -> Language:
    """A key of a translations map: a supported language other than English (English is the text itself)."""
    others = ", ".join(lang.value for lang in Language if lang is not BASE)
    try:
        lang = Language(value)
    except ValueError:
        near = [lang.value for lang in Language if lang.value.lower() == str(value).lower()]
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ValueError(f"unknown language {value!r}{hint}; supported: {others}") from None
    if lang is BASE:
        raise ValueError(
            f"'{BASE.value}' is the English text in the field beside this map; list only {others} here"
        )
    return lang


def _non_empty(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("empty translation; leave the language out to fall back to English")
    return value


TranslationLanguage = Annotated[Language, BeforeValidator(translation_language)]
TranslatedText = Annotated[str, BeforeValidator(_non_empty)]
Translations = dict[TranslationLanguage, TranslatedText]
"""The pydantic type of a ``*_i18n`` field: language -> text, keys checked against the supported languages."""


@dataclass(frozen=True)
class Localized:
    """An English text and its translations; ``in_(lang)`` falls back to English."""

    en: str
    translations: tuple[tuple[Language, str], ...] = ()

    @classmethod
    def of(cls, en: str, translations: Mapping[Language, str] | None = None) -> Localized:
        pairs = {Language(k): v for k, v in (translations or {}).items() if Language(k) is not BASE and v}
        return cls(en, tuple(sorted(pairs.items())))

    @classmethod
    def catalogue(cls, phrases: Mapping[Language, str], **params: object) -> Localized:
        """One phrase per language (``str.format`` fields filled from ``params``); English is required."""
        filled = {lang: text.format(**params) for lang, text in phrases.items()}
        return cls.of(filled[BASE], filled)

    def in_(self, lang: Language | str) -> str:
        return dict(self.translations).get(Language(lang), self.en)

    def has(self, lang: Language | str) -> bool:
        return Language(lang) is BASE or Language(lang) in dict(self.translations)

    def map(self, fn: Any) -> Localized:
        """The same text with ``fn`` applied in every language (scrubbing, framing)."""
        return Localized(fn(self.en), tuple((lang, fn(text)) for lang, text in self.translations))

    def __str__(self) -> str:
        return self.en

    def to_json(self) -> dict[str, dict[str, str]]:
        return {JSON_TAG: {BASE.value: self.en, **{lang.value: text for lang, text in self.translations}}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Localized | None:
        """The value behind a :meth:`to_json` form, or None when ``data`` is something else."""
        if set(data) != {JSON_TAG} or not isinstance(data[JSON_TAG], dict):
            return None
        texts = data[JSON_TAG]
        return cls.of(str(texts.get(BASE.value, "")), {Language(k): str(v) for k, v in texts.items()})


def in_language(value: Any, lang: Language | str) -> Any:
    """``value`` with each :class:`Localized` in it (lists, tuples, dicts) replaced by its ``lang`` text."""
    if isinstance(value, Localized):
        return value.in_(lang)
    if isinstance(value, list | tuple):
        return [in_language(v, lang) for v in value]
    if isinstance(value, dict):
        return {k: in_language(v, lang) for k, v in value.items()}
    return value


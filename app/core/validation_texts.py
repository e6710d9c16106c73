"""German and English messages for Pydantic's validation error types."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.core.i18n import Language, Text

_TEXTS: dict[str, Text] = {
    "missing": Text(de="Dieses Feld ist erforderlich.", en="This field is required."),
    "extra_forbidden": Text(de="Dieses Feld ist nicht erlaubt.", en="This field is not allowed."),
    "string_type": Text(de="Erwartet wird eine Zeichenkette.", en="A string is expected."),
    "int_type": Text(de="Erwartet wird eine ganze Zahl.", en="An integer is expected."),
    "int_parsing": Text(de="Erwartet wird eine ganze Zahl.", en="An integer is expected."),
    "int_from_float": Text(de="Erwartet wird eine ganze Zahl.", en="An integer is expected."),
    "float_type": Text(de="Erwartet wird eine Zahl.", en="A number is expected."),
    "float_parsing": Text(de="Erwartet wird eine Zahl.", en="A number is expected."),
    "bool_type": Text(de="Erwartet wird true oder false.", en="true or false is expected."),
    "bool_parsing": Text(de="Erwartet wird true oder false.", en="true or false is expected."),
    "dict_type": Text(de="Erwartet wird ein JSON-Objekt.", en="A JSON object is expected."),
    "model_type": Text(de="Erwartet wird ein JSON-Objekt.", en="A JSON object is expected."),
    "model_attributes_type": Text(
        de="Erwartet wird ein JSON-Objekt.", en="A JSON object is expected."
    ),
    "list_type": Text(de="Erwartet wird eine Liste.", en="A list is expected."),
    "uuid_type": Text(de="Erwartet wird eine UUID.", en="A UUID is expected."),
    "uuid_parsing": Text(de="Erwartet wird eine gültige UUID.", en="A valid UUID is expected."),
    "date_type": Text(de="Erwartet wird ein Datum.", en="A date is expected."),
    "date_parsing": Text(
        de="Erwartet wird ein Datum im Format JJJJ-MM-TT.", en="A date as YYYY-MM-DD is expected."
    ),
    "date_from_datetime_parsing": Text(
        de="Erwartet wird ein Datum im Format JJJJ-MM-TT.", en="A date as YYYY-MM-DD is expected."
    ),
    "datetime_type": Text(de="Erwartet wird ein Zeitpunkt.", en="A date-time is expected."),
    "datetime_parsing": Text(
        de="Erwartet wird ein Zeitpunkt nach RFC 3339.", en="An RFC 3339 date-time is expected."
    ),
    "datetime_from_date_parsing": Text(
        de="Erwartet wird ein Zeitpunkt nach RFC 3339.", en="An RFC 3339 date-time is expected."
    ),
    "timezone_aware": Text(
        de="Der Zeitpunkt muss eine Zeitzone enthalten.",
        en="The date-time must include a time zone.",
    ),
    "enum": Text(
        de="Erlaubt sind nur: {expected}.", en="Only these values are allowed: {expected}."
    ),
    "literal_error": Text(
        de="Erlaubt sind nur: {expected}.", en="Only these values are allowed: {expected}."
    ),
    "string_too_short": Text(
        de="Mindestens {min_length} Zeichen erforderlich.",
        en="At least {min_length} characters are required.",
    ),
    "string_too_long": Text(
        de="Höchstens {max_length} Zeichen erlaubt.",
        en="At most {max_length} characters are allowed.",
    ),
    "string_pattern_mismatch": Text(de="Das Format ist ungültig.", en="The format is invalid."),
    "too_short": Text(
        de="Mindestens {min_length} Einträge erforderlich.",
        en="At least {min_length} items are required.",
    ),
    "too_long": Text(
        de="Höchstens {max_length} Einträge erlaubt.", en="At most {max_length} items are allowed."
    ),
    "greater_than": Text(
        de="Der Wert muss größer als {gt} sein.", en="The value must be greater than {gt}."
    ),
    "greater_than_equal": Text(
        de="Der Wert muss mindestens {ge} sein.", en="The value must be at least {ge}."
    ),
    "less_than": Text(
        de="Der Wert muss kleiner als {lt} sein.", en="The value must be less than {lt}."
    ),
    "less_than_equal": Text(
        de="Der Wert darf höchstens {le} sein.", en="The value must be at most {le}."
    ),
    "value_error": Text(de="Der Wert ist ungültig.", en="The value is invalid."),
    "email_invalid": Text(
        de="Erwartet wird eine gültige E-Mail-Adresse.", en="A valid e-mail address is expected."
    ),
    "url_parsing": Text(de="Erwartet wird eine gültige URL.", en="A valid URL is expected."),
    "url_type": Text(de="Erwartet wird eine URL.", en="A URL is expected."),
    "reference_invalid": Text(
        de="Das ist keine gültige Referenznummer. Sie sieht so aus: {example}",
        en="This is not a valid reference number. It looks like this: {example}",
    ),
}


_INVALID = _TEXTS["value_error"]


def translate_validation_error(error: Mapping[str, Any], language: Language) -> str:
    """Message for one Pydantic error in `language`; never the library's own English text."""
    text = _TEXTS.get(str(error.get("type", "")), _INVALID)
    context = {key: str(value) for key, value in (error.get("ctx") or {}).items()}
    try:
        return text.format(**context).get(language)
    except (KeyError, IndexError):
        return _INVALID.get(language)

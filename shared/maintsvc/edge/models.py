"""Pydantic models at the edge: request bodies in, resources out.

Request models validate with the contract's exact messages and report the
first failing field in the order docs/behaviour.md §3 lists them (pydantic
validates fields in declaration order and `info.data` carries the fields
already accepted, which the rrule check needs). Every field is declared as
`Any` with a before-validator, because the contract decides type errors
itself (booleans are not numbers, `null` reads as missing, ...).
"""

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from maintsvc import rrules
from maintsvc.errors import ValidationError
from maintsvc.numbers import MONITOR_TAG, is_number, minute_timestamp

MAX_DURATION = 31_536_000
IMPACTS = ("UP", "DOWN", "DEGRADED", "MAINTENANCE")
# Characters (code points), as the contract counts them: up to 40,000 bytes of UTF-8. A page
# too large for Lambda's response is a 400 at the edge (docs/decisions.md, "Response sizes").
MAX_DESCRIPTION = 10000
# C0 and C1 controls and DEL: invisible on a status page, and six bytes each once escaped.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A description may keep its layout: tab, line feed, carriage return.
DESCRIPTION_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Bidi embeddings, overrides and isolates (LRE..RLO, LRI..PDI): invisible, they reorder
# the text around them on a status page (a title can be made to read as another one).
# Right-to-left text itself needs none of them (docs/decisions.md, "Text must be Unicode
# text without control or bidi control characters").
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


class _Missing:
    """The field was absent from the body (distinct from an explicit null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("contract", message)


def timestamp(value: Any, field: str) -> int:
    """A finite number 0..MAX_TIMESTAMP, truncated down to the minute."""
    if value is MISSING or value is None:
        raise _fail(f"{field} is required")
    truncated = minute_timestamp(value)
    if truncated is None:
        raise _fail(f"{field} must be a valid timestamp (UTC seconds)")
    return truncated


def _text(value: str, field: str, forbidden: re.Pattern[str]) -> str:
    """Text DynamoDB can store (UTF-8: no lone surrogates) without control characters or
    bidirectional controls."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise _fail(f"{field} must be valid Unicode text") from None
    if forbidden.search(value):
        raise _fail(f"{field} must not contain control characters")
    if BIDI_CONTROLS.search(value):
        raise _fail(f"{field} must not contain bidirectional control characters")
    return value


def _creating(info: ValidationInfo) -> bool:
    return not (info.context or {}).get("existing")


def _existing(info: ValidationInfo, field: str) -> Any:
    return ((info.context or {}).get("existing") or {}).get(field)


class MaintenanceInput(BaseModel):
    """POST body (context {"existing": None}) or PATCH body (context {"existing": stored})."""

    model_config = ConfigDict(extra="ignore", arbitrary_types_allowed=True)

    title: Any = Field(default=MISSING, validate_default=True)
    start_date_time: Any = Field(default=MISSING, validate_default=True)
    timezone: Any = Field(default=MISSING, validate_default=True)
    rrule: Any = Field(default=MISSING, validate_default=True)
    duration_seconds: Any = Field(default=MISSING, validate_default=True)
    status: Any = Field(default=MISSING, validate_default=True)
    description: Any = Field(default=MISSING, validate_default=True)
    monitors: Any = Field(default=MISSING, validate_default=True)

    @field_validator("title", mode="before")
    @classmethod
    def _title(cls, value: Any, info: ValidationInfo) -> Any:
        if value is MISSING and not _creating(info):
            return MISSING
        if not isinstance(value, str) or not value.strip():
            raise _fail("title is required and must be a non-empty string")
        title = _text(value.strip(), "title", CONTROL_CHARACTERS)
        if len(title) > 255:
            raise _fail("title must be at most 255 characters")
        return title

    @field_validator("start_date_time", mode="before")
    @classmethod
    def _start(cls, value: Any, info: ValidationInfo) -> Any:
        if value is MISSING and not _creating(info):
            return MISSING
        return timestamp(value, "start_date_time")

    @field_validator("timezone", mode="before")
    @classmethod
    def _timezone(cls, value: Any, info: ValidationInfo) -> Any:
        if value is MISSING:
            return "UTC" if _creating(info) else MISSING
        try:
            return rrules.validate_timezone(value)
        except ValidationError as exc:
            raise _fail(exc.message) from None

    @field_validator("rrule", mode="before")
    @classmethod
    def _rrule(cls, value: Any, info: ValidationInfo) -> Any:
        if "start_date_time" not in info.data or "timezone" not in info.data:
            return value  # an earlier field failed: that error is the one reported
        start, zone = info.data["start_date_time"], info.data["timezone"]
        patching_other = value is MISSING and not _creating(info)
        if patching_other and start is MISSING and zone is MISSING:
            return MISSING
        try:
            # A PATCH of start or zone alone must still leave the stored rule an occurrence.
            text = rrules.normalise_rrule(
                _existing(info, "rrule")
                if patching_other
                else (None if value is MISSING else value)
            )
            rrules.parse_schedule(
                text,
                _existing(info, "start_date_time") if start is MISSING else start,
                _existing(info, "timezone") if zone is MISSING else zone,
            )
        except ValidationError as exc:
            raise _fail(exc.message) from None
        return MISSING if patching_other else text

    @field_validator("duration_seconds", mode="before")
    @classmethod
    def _duration(cls, value: Any, info: ValidationInfo) -> Any:
        if value is MISSING and not _creating(info):
            return MISSING
        if value is MISSING or value is None:
            raise _fail("duration_seconds is required")
        if not is_number(value) or value != int(value) or value <= 0:
            raise _fail("duration_seconds must be a positive number")
        if value > MAX_DURATION:
            raise _fail(f"duration_seconds must be at most {MAX_DURATION}")
        return int(value)

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any, info: ValidationInfo) -> Any:
        if value is MISSING:
            return "ACTIVE" if _creating(info) else MISSING
        if value not in ("ACTIVE", "INACTIVE"):
            raise _fail("status must be 'ACTIVE' or 'INACTIVE'")
        return value

    @field_validator("description", mode="before")
    @classmethod
    def _description(cls, value: Any, info: ValidationInfo) -> Any:
        if value is MISSING:
            return None if _creating(info) else MISSING
        if value is not None and not isinstance(value, str):
            raise _fail("description must be a string or null")
        if value is None:
            return None
        description = _text(value, "description", DESCRIPTION_CONTROL_CHARACTERS)
        if len(description) > MAX_DESCRIPTION:
            raise _fail(f"description must be at most {MAX_DESCRIPTION} characters")
        return description or None

    @field_validator("monitors", mode="before")
    @classmethod
    def _monitors(cls, value: Any, info: ValidationInfo) -> Any:
        if value is MISSING:
            return [] if _creating(info) else MISSING
        if not isinstance(value, list):
            raise _fail("monitors must be an array")
        if len(value) > 100:
            raise _fail("monitors must contain at most 100 items")
        monitors: list[dict[str, str]] = []
        seen: set[str] = set()
        for entry in value:
            tag = entry.get("monitor_tag") if isinstance(entry, dict) else None
            if not isinstance(tag, str) or not MONITOR_TAG.fullmatch(tag):
                raise _fail("Each monitor must have a valid monitor_tag")
            if tag in seen:
                raise _fail(f"Duplicate monitor_tag '{tag}'")
            seen.add(tag)
            impact = entry.get("impact")
            if impact is None:
                impact = "MAINTENANCE"
            if impact not in IMPACTS:
                shown = impact if isinstance(impact, str) else json.dumps(impact)
                raise _fail(f"Invalid impact '{shown}'. Must be one of: {', '.join(IMPACTS)}")
            monitors.append({"monitor_tag": tag, "impact": impact})
        return monitors


def validate_maintenance(body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    """The fields the body sets, validated and normalised (absent fields left out on PATCH)."""
    try:
        model = MaintenanceInput.model_validate(body, context={"existing": existing})
    except PydanticValidationError as exc:
        raise ValidationError(str(exc.errors()[0]["msg"])) from None
    return {k: v for k, v in model.model_dump().items() if v is not MISSING}

"""Staff-editable settings: every number in PRODUCT.md that staff may change without a deploy.

    HOLD_DAYS = config.register("ledger.hold_days", 7, "Days income stays pending", minimum=0)
    config.get(HOLD_DAYS)  # → 7, or what staff set in the admin

Apps register their settings at import time (in a ``config.py`` of their own, imported by the
app's ``ready``). Values are whole numbers or booleans (money in minor units; rates as
numerator/denominator pairs of whole numbers), never floats. Reads are cached for a short time in
the shared cache and the cache is cleared on change; every change is audited.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction

from creatornext.core.models import Setting

CACHE_SECONDS = 30


@dataclass(frozen=True)
class SettingDef:
    key: str
    default: Any
    help: str
    minimum: int | None = None
    maximum: int | None = None

    def validate(self, value: Any) -> Any:
        if isinstance(self.default, bool):
            if not isinstance(value, bool):
                raise ValidationError(f"{self.key} is true or false.")
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"{self.key} is a whole number.")
        if self.minimum is not None and value < self.minimum:
            raise ValidationError(f"{self.key} must be at least {self.minimum}.")
        if self.maximum is not None and value > self.maximum:
            raise ValidationError(f"{self.key} must be at most {self.maximum}.")
        return value


REGISTRY: dict[str, SettingDef] = {}


def register(key: str, default: Any, help: str, *, minimum: int | None = None,
             maximum: int | None = None) -> SettingDef:
    definition = SettingDef(key, default, help, minimum, maximum)
    definition.validate(default)
    existing = REGISTRY.get(key)
    if existing is not None and existing != definition:
        raise ValueError(f"Setting {key} registered twice with different definitions.")
    REGISTRY[key] = definition
    return definition


def _cache_key(key: str) -> str:
    return f"config:{key}"


# Within one web request a setting read twice (a throttle and a service, a service and its
# response's breakdown) is read from the shared cache once, and the request sees one value
# throughout. Only between request_started and request_finished (connected in core/apps.py):
# tasks and shells always read the shared cache.
_request_values: ContextVar[dict[str, Any] | None] = ContextVar("config_request_values", default=None)


def request_started(**_: Any) -> None:
    _request_values.set({})


def request_finished(**_: Any) -> None:
    _request_values.set(None)


def get(definition: SettingDef) -> Any:
    return get_many(definition)[0]


def _load(definition: SettingDef) -> Any:
    row = Setting.objects.filter(key=definition.key).values_list("value", flat=True).first()
    value = definition.default if row is None else row
    cache.set(_cache_key(definition.key), value, CACHE_SECONDS)
    return value


# PostgreSQL: the settings table's version, for a hot path's own query to select (``VERSION_SQL``)
# and hand to ``get_many``: values read at a version are kept by the process until the version
# changes, so the gift send reads no cache at all (a Redis round trip was ~10 % of its time).
# Every statement writing the table sets a new version in its own transaction (core migration
# 0005: a trigger, from a sequence), so a value kept for a version is the value at that version.
VERSION_SQL = "SELECT version FROM core_settings_version WHERE id = 1"
_versioned: dict[str, tuple[Any, Any]] = {}
_MEMO_VERSION = "\0version"  # in a request's memo: the version its values were read at, if given


def get_many(*definitions: SettingDef, version: Any = None) -> list[Any]:
    """The values of ``definitions`` with one cache round trip (hot paths read several), or none
    when the process read them at the same ``version`` of the settings table (``VERSION_SQL``,
    selected by the caller's own query, in its transaction)."""
    memo = _request_values.get()
    values: dict[str, Any] = {} if memo is None else memo
    if version is not None and values.get(_MEMO_VERSION, version) != version:
        # The request read values at another version (a hot path that planned once, found its
        # facts changed, and plans again): those are not this version's.
        values.clear()
    if version is not None:
        values[_MEMO_VERSION] = version
    wanted = [d for d in definitions if d.key not in values]
    if wanted and version is not None:
        kept = [_versioned.get(d.key) for d in wanted]
        if all(k is not None and k[0] == version for k in kept):
            values.update((d.key, k[1]) for d, k in zip(wanted, kept, strict=True) if k is not None)
            wanted = []
        else:
            # From the table, not the shared cache: the cache may still hold a value the version
            # has left behind (it is cleared after the change commits), and this process would
            # keep it. The rows read may be newer than ``version``: the next version misses again.
            rows = dict(Setting.objects.filter(key__in=[d.key for d in wanted]).values_list("key", "value"))
            for definition in wanted:
                value = rows.get(definition.key, definition.default)
                values[definition.key] = value
                _versioned[definition.key] = (version, value)
            wanted = []
    if wanted:
        keys = [_cache_key(d.key) for d in wanted]
        found = cache.get_many(keys)
        for key, definition in zip(keys, wanted, strict=True):
            values[definition.key] = found[key] if found.get(key) is not None else _load(definition)
    return [values[d.key] for d in definitions]


def set_value(*, definition: SettingDef, value: Any, actor: Any, reason: str = "") -> Setting:
    """Change a setting (validated, audited). Takes effect for new records at once."""
    from creatornext.audit.services import audit_record

    value = definition.validate(value)
    with transaction.atomic():
        row = Setting.objects.select_for_update(no_key=True).filter(key=definition.key).first()
        before = definition.default if row is None else row.value
        row, _ = Setting.objects.update_or_create(key=definition.key,
                                                  defaults={"value": value, "updated_by": actor})
        audit_record(actor=actor, action="setting.changed", obj=row, before={"value": before},
                     after={"value": value}, reason=reason)
        # Now (this transaction reads its own write) and after commit (a reader may have cached
        # the old value in between).
        cache.delete(_cache_key(definition.key))
        transaction.on_commit(lambda: cache.delete(_cache_key(definition.key)))
        memo = _request_values.get()
        if memo is not None:
            memo.pop(definition.key, None)
    return row


def ensure_rows() -> None:
    """One row per registered setting, holding its default, so staff see them all in the admin."""
    existing = set(Setting.objects.values_list("key", flat=True))
    Setting.objects.bulk_create(
        [Setting(key=d.key, value=d.default) for k, d in REGISTRY.items() if k not in existing],
        ignore_conflicts=True)

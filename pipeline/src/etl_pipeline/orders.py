"""Pure-Python rules for order records: validate, clean, convert, summarise.

An order record is a mapping with the fields ``order_id``, ``customer_id``, ``amount``,
``currency`` and ``order_ts``. These functions are the reference for the rules; the Spark job
(:mod:`etl_pipeline.spark_job`) applies exactly the same rules to a table, reusing the patterns
and constants defined here.

Rules, checked in this order (a rejected record counts under the first reason that applies):

1. ``missing_field``: a field is absent, ``None``, or blank (only spaces).
2. ``bad_amount``: the amount is not a plain decimal number (``12``, ``-3.5``, ``1.2e3``; no
   NaN/infinity, thousands separators or underscores), or, rounded half-up to cents, it is not
   positive or does not fit ``DECIMAL(18,2)``.
3. ``unknown_currency``: the currency (case-insensitive) is not in the rate table.
4. ``bad_timestamp``: ``order_ts`` is not an ISO 8601 date or date-time
   (``YYYY-MM-DD[(T| )HH:MM[:SS[.ffffff]][Z|+HH:MM|-HH:MM]]``) or names an impossible date or
   time. A time without an offset is UTC; the order's day is its UTC date.
5. ``duplicate_order_id``: another valid record has the same ``order_id``; the one kept is the
   earliest by (``order_ts``, ``customer_id``, ``currency``, ``amount``), so the choice does not
   depend on input order.

Text fields are trimmed of leading and trailing spaces (only spaces, as Spark's ``trim`` does).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any

REQUIRED_FIELDS: tuple[str, ...] = ("order_id", "customer_id", "amount", "currency", "order_ts")

MISSING_FIELD = "missing_field"
BAD_AMOUNT = "bad_amount"
UNKNOWN_CURRENCY = "unknown_currency"
BAD_TIMESTAMP = "bad_timestamp"
DUPLICATE_ORDER_ID = "duplicate_order_id"
#: Every reject reason, in the order the rules are checked.
REJECT_REASONS: tuple[str, ...] = (
    MISSING_FIELD,
    BAD_AMOUNT,
    UNKNOWN_CURRENCY,
    BAD_TIMESTAMP,
    DUPLICATE_ORDER_ID,
)

#: Amounts are stored as DECIMAL(18,2) (rounded half-up), rates as DECIMAL(18,8), converted
#: amounts as DECIMAL(38,2) (a DECIMAL(18,2) times a DECIMAL(18,8) always fits).
AMOUNT_PRECISION, AMOUNT_SCALE = 18, 2
RATE_PRECISION, RATE_SCALE = 18, 8
BASE_AMOUNT_PRECISION = 38
_CENTS = Decimal(1).scaleb(-AMOUNT_SCALE)
_RATE_QUANTUM = Decimal(1).scaleb(-RATE_SCALE)
_AMOUNT_LIMIT = Decimal(10) ** (AMOUNT_PRECISION - AMOUNT_SCALE)
_RATE_LIMIT = Decimal(10) ** (RATE_PRECISION - RATE_SCALE)
_PRECISION = 80  # decimal context precision: exact for every product of the sizes above

# Patterns shared with the Spark job. They carry no anchors: Python uses ``fullmatch``, Spark
# wraps them in ``^(?:...)\z``. Only ASCII digits and letters are spelled out, so Python's ``re``
# and Java's regex engine accept exactly the same strings.
AMOUNT_PATTERN = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
TIMESTAMP_PATTERN = (
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
CURRENCY_PATTERN = r"[A-Z]{3}"
_AMOUNT_RE = re.compile(AMOUNT_PATTERN)
_TIMESTAMP_RE = re.compile(TIMESTAMP_PATTERN)
_CURRENCY_RE = re.compile(CURRENCY_PATTERN)
_MAX_OFFSET_HOURS = 18  # the widest UTC offset Spark accepts

#: Example rate table (units of the base currency per unit of the currency), base EUR.
DEFAULT_BASE_CURRENCY = "EUR"
DEFAULT_RATES: Mapping[str, str] = {"EUR": "1", "USD": "0.92", "GBP": "1.17", "CHF": "1.04"}


@dataclass(frozen=True, order=True)
class Order:
    """A valid, normalised order. ``order_ts`` is timezone-aware UTC."""

    order_id: str
    customer_id: str
    amount: Decimal
    currency: str
    order_ts: datetime

    @property
    def order_date(self) -> date:
        return self.order_ts.date()

    def dedup_key(self) -> tuple[datetime, str, str, Decimal]:
        """Among records with the same ``order_id``, the smallest key is kept."""
        return (self.order_ts, self.customer_id, self.currency, self.amount)


@dataclass(frozen=True, order=True)
class ConvertedOrder(Order):
    """An order with its amount converted to the base currency (rounded half-up to cents)."""

    amount_base: Decimal
    base_currency: str


@dataclass(frozen=True)
class CleanResult:
    """Valid orders (input order, duplicates removed) and the count of rejects per reason."""

    orders: tuple[Order, ...]
    rejected: Mapping[str, int] = field(default_factory=dict)

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())

    @property
    def rows_read(self) -> int:
        return len(self.orders) + self.rows_rejected


@dataclass(frozen=True)
class DaySummary:
    order_date: date
    orders: int
    customers: int
    total_base: Decimal
    base_currency: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (date as ISO string, total as a decimal string)."""
        return {
            "order_date": self.order_date.isoformat(),
            "orders": self.orders,
            "customers": self.customers,
            "total_base": str(self.total_base),
            "base_currency": self.base_currency,
        }


def _text(value: Any) -> str | None:
    """The value as text trimmed of spaces, or None when absent or blank."""
    if value is None:
        return None
    # repr of a float is its shortest round-trip form, as Spark prints a double.
    text = repr(value) if isinstance(value, float) else str(value)
    text = text.strip(" ")
    return text or None


def parse_amount(value: Any) -> Decimal | None:
    """The amount rounded half-up to cents, or None if it is not a valid positive amount."""
    text = _text(value)
    if text is None or not _AMOUNT_RE.fullmatch(text):
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:  # an exponent beyond what decimal can represent
        return None
    if abs(number) >= _AMOUNT_LIMIT * 10:  # clearly too large; avoids quantizing huge values
        return None
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        rounded = number.quantize(_CENTS, rounding=ROUND_HALF_UP)
    if rounded <= 0 or abs(rounded) >= _AMOUNT_LIMIT:
        return None
    return rounded


def parse_timestamp(value: Any) -> datetime | None:
    """The timestamp as an aware UTC datetime, or None if it is not a valid ISO 8601 value.

    ``datetime`` values are accepted as they are (naive means UTC); ``date`` values mean
    midnight UTC. Strings must match :data:`TIMESTAMP_PATTERN`.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        return None
    match = _TIMESTAMP_RE.fullmatch(value.strip(" "))
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    tz = UTC
    if offset not in (None, "Z"):
        sign = -1 if offset[0] == "-" else 1
        off_hours, off_minutes = int(offset[1:3]), int(offset[4:6])
        if off_hours > _MAX_OFFSET_HOURS or off_minutes >= 60:
            return None
        tz = timezone(sign * timedelta(hours=off_hours, minutes=off_minutes))
    try:
        parsed = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:  # e.g. 2024-02-30 or 25:00
        return None
    return parsed.astimezone(UTC)


def normalise_currency(value: Any) -> str | None:
    text = _text(value)
    return text.upper() if text is not None else None


def normalise_rates(
    rates: Mapping[str, Any], base_currency: str = DEFAULT_BASE_CURRENCY
) -> dict[str, Decimal]:
    """Validate a rate table; return it with upper-case codes and rates rounded to 8 places.

    A rate is how many units of the base currency one unit of the currency is worth. The base
    currency is added with rate 1 if absent; if present its rate must be exactly 1.
    Raises ValueError naming the offending currency and the fix.
    """
    base = normalise_currency(base_currency)
    if base is None or not _CURRENCY_RE.fullmatch(base):
        raise ValueError(
            f"base currency {base_currency!r} is not a 3-letter currency code such as 'EUR'"
        )
    result: dict[str, Decimal] = {}
    for code, rate in rates.items():
        currency = normalise_currency(code)
        if currency is None or not _CURRENCY_RE.fullmatch(currency):
            raise ValueError(f"rate table key {code!r} is not a 3-letter currency code")
        if currency in result:
            raise ValueError(f"rate table lists currency {currency!r} twice; keep one entry")
        text = _text(rate)
        if text is None or not _AMOUNT_RE.fullmatch(text):
            raise ValueError(f"rate for {currency} is {rate!r}; give a positive decimal number")
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            number = Decimal(text)
            if abs(number) >= _RATE_LIMIT * 10:
                raise ValueError(f"rate for {currency} is {rate!r}; it must be below 1e10")
            value = number.quantize(_RATE_QUANTUM, rounding=ROUND_HALF_UP)
        if value <= 0 or value >= _RATE_LIMIT:
            raise ValueError(
                f"rate for {currency} is {rate!r}; it must be positive (at least 0.00000001)"
                " and below 1e10"
            )
        result[currency] = value
    if base in result and result[base] != 1:
        raise ValueError(f"rate for the base currency {base} is {result[base]}; it must be 1")
    result.setdefault(base, Decimal(1))
    return result


def validate_order(record: Any, currencies: Iterable[str]) -> tuple[Order, None] | tuple[None, str]:
    """Check one record against rules 1-4; return ``(order, None)`` or ``(None, reason)``."""
    if not isinstance(record, Mapping):
        return None, MISSING_FIELD
    texts = {name: _text(record.get(name)) for name in REQUIRED_FIELDS}
    if any(texts[name] is None for name in REQUIRED_FIELDS):
        return None, MISSING_FIELD
    amount = parse_amount(record["amount"])
    if amount is None:
        return None, BAD_AMOUNT
    currency = normalise_currency(record["currency"])
    if currency not in {normalise_currency(code) for code in currencies}:
        return None, UNKNOWN_CURRENCY
    order_ts = parse_timestamp(record["order_ts"])
    if order_ts is None:
        return None, BAD_TIMESTAMP
    order_id, customer_id = texts["order_id"], texts["customer_id"]
    assert order_id is not None and customer_id is not None and currency is not None
    return Order(order_id, customer_id, amount, currency, order_ts), None


def clean_orders(records: Iterable[Any], currencies: Iterable[str]) -> CleanResult:
    """Apply every rule to ``records``; keep valid orders, count rejects by reason.

    ``rejected`` has a key for every reason in :data:`REJECT_REASONS` (zero if none).
    """
    known = frozenset(code for code in map(normalise_currency, currencies) if code)
    rejected = dict.fromkeys(REJECT_REASONS, 0)
    valid: list[Order] = []
    for record in records:
        order, reason = validate_order(record, known)
        if order is None:
            assert reason is not None
            rejected[reason] += 1
        else:
            valid.append(order)
    best: dict[str, Order] = {}
    for order in valid:
        kept = best.get(order.order_id)
        if kept is None or order.dedup_key() < kept.dedup_key():
            best[order.order_id] = order
    kept_ids = {id(order) for order in best.values()}
    orders = tuple(order for order in valid if id(order) in kept_ids)
    rejected[DUPLICATE_ORDER_ID] = len(valid) - len(orders)
    return CleanResult(orders=orders, rejected=rejected)


def convert_amount(amount: Decimal, rate: Decimal) -> Decimal:
    """``amount * rate`` rounded half-up to cents, computed exactly."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return (amount * rate).quantize(_CENTS, rounding=ROUND_HALF_UP)


def convert_to_base(
    orders: Iterable[Order],
    rates: Mapping[str, Any],
    base_currency: str = DEFAULT_BASE_CURRENCY,
) -> list[ConvertedOrder]:
    """Convert each order's amount to the base currency with the given rate table."""
    table = normalise_rates(rates, base_currency)
    base = normalise_currency(base_currency)
    assert base is not None
    converted = []
    for order in orders:
        rate = table.get(order.currency)
        if rate is None:
            raise ValueError(
                f"order {order.order_id!r} is in {order.currency}, which has no rate;"
                " add it to the rate table (clean_orders rejects such orders)"
            )
        converted.append(
            ConvertedOrder(
                order.order_id,
                order.customer_id,
                order.amount,
                order.currency,
                order.order_ts,
                amount_base=convert_amount(order.amount, rate),
                base_currency=base,
            )
        )
    return converted


def summarise_by_day(orders: Iterable[ConvertedOrder]) -> list[DaySummary]:
    """Per UTC day: order count, distinct customers and total in the base currency."""
    days: dict[date, list[ConvertedOrder]] = {}
    for order in orders:
        days.setdefault(order.order_date, []).append(order)
    summaries = []
    for day in sorted(days):
        day_orders = days[day]
        bases = {order.base_currency for order in day_orders}
        if len(bases) != 1:
            raise ValueError(f"orders of {day} are in several base currencies: {sorted(bases)}")
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            total = sum((order.amount_base for order in day_orders), Decimal("0.00"))
        summaries.append(
            DaySummary(
                order_date=day,
                orders=len(day_orders),
                customers=len({order.customer_id for order in day_orders}),
                total_base=total,
                base_currency=bases.pop(),
            )
        )
    return summaries


def process_orders(
    records: Iterable[Any],
    rates: Mapping[str, Any] = DEFAULT_RATES,
    base_currency: str = DEFAULT_BASE_CURRENCY,
) -> tuple[CleanResult, list[ConvertedOrder], list[DaySummary]]:
    """The whole pipeline in pure Python: clean, convert, summarise (what the Spark job does)."""
    table = normalise_rates(rates, base_currency)
    result = clean_orders(records, table)
    converted = convert_to_base(result.orders, table, base_currency)
    return result, converted, summarise_by_day(converted)

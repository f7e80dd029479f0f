"""Unit tests of the pure order rules (no Spark needed)."""

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from etl_pipeline import orders
from etl_pipeline.orders import (
    BAD_AMOUNT,
    BAD_TIMESTAMP,
    DUPLICATE_ORDER_ID,
    MISSING_FIELD,
    REJECT_REASONS,
    UNKNOWN_CURRENCY,
    ConvertedOrder,
    Order,
    clean_orders,
    convert_amount,
    convert_to_base,
    normalise_rates,
    parse_amount,
    parse_timestamp,
    process_orders,
    summarise_by_day,
    validate_order,
)

UTC = UTC
CURRENCIES = {"EUR", "USD"}


def record(**overrides):
    base = {
        "order_id": "o-1",
        "customer_id": "c-1",
        "amount": "10.00",
        "currency": "EUR",
        "order_ts": "2024-05-01T10:00:00Z",
    }
    base.update(overrides)
    return base


# --- amounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10", Decimal("10.00")),
        (" 10.5 ", Decimal("10.50")),
        ("+3", Decimal("3.00")),
        (".5", Decimal("0.50")),
        ("1.2e3", Decimal("1200.00")),
        (7, Decimal("7.00")),
        (Decimal("1E+2"), Decimal("100.00")),
        # Half-up, like Spark's cast to DECIMAL(18,2); half-even would give 0.12.
        ("0.125", Decimal("0.13")),
        # A float is read by its shortest repr ("2.675"), not its binary value (2.67499...).
        (2.675, Decimal("2.68")),
        ("0.005", Decimal("0.01")),
        ("9999999999999999.99", Decimal("9999999999999999.99")),
    ],
)
def test_parse_amount_valid(value, expected):
    result = parse_amount(value)
    assert result == expected
    assert result.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "12,50",
        "1_000",
        "1 000",
        "NaN",
        "Infinity",
        float("nan"),
        float("inf"),
        True,
        "0",
        "-3.5",
        "0.004",  # rounds to 0.00: not positive
        "1e16",  # does not fit DECIMAL(18,2)
        "9999999999999999.995",  # rounds up to 10^16: does not fit
        "1e999999999999999999999",  # beyond what decimal can represent
        "10\n",
        "0x10",
        [10],
    ],
)
def test_parse_amount_invalid(value):
    assert parse_amount(value) is None


# --- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01 10:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-01T10:00:00.5Z", datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        # An offset moves the order to another UTC day.
        ("2024-05-01T23:30:00-02:00", datetime(2024, 5, 2, 1, 30, tzinfo=UTC)),
        ("2024-05-01T00:30:00+01:00", datetime(2024, 4, 30, 23, 30, tzinfo=UTC)),
        (datetime(2024, 5, 1, 10), datetime(2024, 5, 1, 10, tzinfo=UTC)),
        (
            datetime(2024, 5, 1, 10, tzinfo=timezone(timedelta(hours=2))),
            datetime(2024, 5, 1, 8, tzinfo=UTC),
        ),
        (date(2024, 5, 1), datetime(2024, 5, 1, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_valid(value, expected):
    result = parse_timestamp(value)
    assert result == expected
    assert result.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    [
        "2024-02-30",
        "2024-05-01T25:00",
        "2024-05-01T10:61",
        "01/05/2024",
        "2024-5-1",
        "2024-05-01T10:00:00+19:00",
        "2024-05-01T10:00:00.1234567",
        "2024-05-01Z",
        "yesterday",
        1714557600,
        None,
    ],
)
def test_parse_timestamp_invalid(value):
    assert parse_timestamp(value) is None


# --- one record ------------------------------------------------------------------------------


def test_validate_order_normalises_a_valid_record():
    order, reason = validate_order(
        record(order_id="  o-7 ", customer_id=42, amount=19.999, currency=" usd"), CURRENCIES
    )
    assert reason is None
    ts = datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert order == Order("o-7", "42", Decimal("20.00"), "USD", ts)
    assert order.order_date == date(2024, 5, 1)


@pytest.mark.parametrize("name", orders.REQUIRED_FIELDS)
@pytest.mark.parametrize("value", [None, "", "   ", "<absent>"])
def test_validate_order_missing_field(name, value):
    rec = record()
    if value == "<absent>":
        del rec[name]
    else:
        rec[name] = value
    assert validate_order(rec, CURRENCIES) == (None, MISSING_FIELD)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"amount": "ten"}, BAD_AMOUNT),
        ({"amount": "-1"}, BAD_AMOUNT),
        ({"currency": "JPY"}, UNKNOWN_CURRENCY),
        ({"currency": "EURO"}, UNKNOWN_CURRENCY),
        ({"order_ts": "2024-13-01"}, BAD_TIMESTAMP),
        # The first failing rule wins: missing beats bad amount, bad amount beats currency, ...
        ({"amount": "ten", "customer_id": None}, MISSING_FIELD),
        ({"amount": "ten", "currency": "JPY"}, BAD_AMOUNT),
        ({"currency": "JPY", "order_ts": "never"}, UNKNOWN_CURRENCY),
    ],
)
def test_validate_order_reject_reason(overrides, reason):
    assert validate_order(record(**overrides), CURRENCIES) == (None, reason)


def test_validate_order_rejects_a_non_mapping():
    assert validate_order(["o-1", "c-1", "1", "EUR", "2024-05-01"], CURRENCIES) == (
        None,
        MISSING_FIELD,
    )


def test_currency_codes_are_case_insensitive_on_both_sides():
    order, reason = validate_order(record(currency="Usd"), ["usd"])
    assert reason is None and order.currency == "USD"


# --- a batch ---------------------------------------------------------------------------------


def test_clean_orders_counts_every_reason_and_keeps_input_order():
    records = [
        record(order_id="b"),
        record(order_id="x1", amount="abc"),
        record(order_id="x2", currency="JPY"),
        record(order_id="x3", order_ts="not a time"),
        record(order_id="x4", customer_id=""),
        {"order_id": "x5"},
        record(order_id="a"),
    ]
    result = clean_orders(records, CURRENCIES)
    assert [order.order_id for order in result.orders] == ["b", "a"]
    assert result.rejected == {
        MISSING_FIELD: 2,
        BAD_AMOUNT: 1,
        UNKNOWN_CURRENCY: 1,
        BAD_TIMESTAMP: 1,
        DUPLICATE_ORDER_ID: 0,
    }
    assert list(result.rejected) == list(REJECT_REASONS)
    assert result.rows_rejected == 5
    assert result.rows_read == len(records)


def test_clean_orders_of_nothing():
    result = clean_orders([], CURRENCIES)
    assert result.orders == ()
    assert result.rows_read == 0
    assert set(result.rejected.values()) == {0}


@pytest.mark.parametrize("reverse", [False, True])
def test_duplicates_keep_the_earliest_whatever_the_input_order(reverse):
    later = record(order_id="o-1", amount="5", order_ts="2024-05-01T12:00:00Z")
    earlier = record(order_id="o-1", amount="7", order_ts="2024-05-01T09:00:00Z")
    other = record(order_id="o-2")
    records = [later, other, earlier]
    if reverse:
        records.reverse()
    result = clean_orders(records, CURRENCIES)
    kept = {order.order_id: order for order in result.orders}
    assert len(result.orders) == 2
    assert kept["o-1"].amount == Decimal("7.00")
    assert result.rejected[DUPLICATE_ORDER_ID] == 1


def test_duplicate_ids_match_after_trimming_and_invalid_rows_do_not_count():
    records = [
        record(order_id="o-1", order_ts="2024-05-01T09:00:00Z"),
        record(order_id=" o-1 ", order_ts="2024-05-01T08:00:00Z", customer_id="c-2"),
        record(order_id="o-1", amount="bad"),  # invalid: a bad amount, not a duplicate
    ]
    result = clean_orders(records, CURRENCIES)
    assert [order.customer_id for order in result.orders] == ["c-2"]
    assert result.rejected[DUPLICATE_ORDER_ID] == 1
    assert result.rejected[BAD_AMOUNT] == 1


def test_duplicate_tie_on_timestamp_is_broken_by_customer_then_currency_then_amount():
    ts = "2024-05-01T09:00:00Z"
    records = [
        record(order_id="o-1", customer_id="c-2", order_ts=ts),
        record(order_id="o-1", customer_id="c-1", currency="USD", amount="9", order_ts=ts),
        record(order_id="o-1", customer_id="c-1", currency="USD", amount="3", order_ts=ts),
    ]
    for ordering in (records, records[::-1], records[1:] + records[:1]):
        (kept,) = clean_orders(ordering, CURRENCIES).orders
        assert (kept.customer_id, kept.currency, kept.amount) == ("c-1", "USD", Decimal("3.00"))


# --- rates and conversion --------------------------------------------------------------------


def test_normalise_rates_upper_cases_rounds_and_adds_the_base():
    table = normalise_rates({"usd": 0.92, " GBP ": "1.171234565"}, "eur")
    assert table == {
        "USD": Decimal("0.92000000"),
        "GBP": Decimal("1.17123457"),  # half-up at 8 places
        "EUR": Decimal("1"),
    }


@pytest.mark.parametrize(
    ("rates", "base", "message"),
    [
        ({"USD": "0"}, "EUR", "rate for USD"),
        ({"USD": "-1"}, "EUR", "rate for USD"),
        ({"USD": "abc"}, "EUR", "rate for USD"),
        ({"USD": None}, "EUR", "rate for USD"),
        ({"USD": float("nan")}, "EUR", "rate for USD"),
        ({"USD": "0.000000001"}, "EUR", "rate for USD"),  # rounds to 0 at 8 places
        ({"USD": "1e10"}, "EUR", "below 1e10"),
        ({"DOLLAR": "1"}, "EUR", "'DOLLAR'"),
        ({"usd": "1", "USD": "1"}, "EUR", "twice"),
        ({"EUR": "1.1"}, "EUR", "base currency EUR"),
        ({}, "euro", "base currency 'euro'"),
    ],
)
def test_normalise_rates_rejects_bad_tables(rates, base, message):
    with pytest.raises(ValueError, match=message) as info:
        normalise_rates(rates, base)
    assert message in str(info.value)


def test_convert_amount_is_exact_and_rounds_half_up():
    assert convert_amount(Decimal("10.00"), Decimal("0.92")) == Decimal("9.20")
    assert convert_amount(Decimal("0.05"), Decimal("0.5")) == Decimal("0.03")  # 0.025 -> 0.03
    largest = Decimal("9999999999999999.99")
    assert convert_amount(largest, Decimal("9999999999.99999999")) == Decimal(
        "99999999999999999800000000.00"  # exactly ...800000000.0000000001
    )


def test_convert_to_base():
    result = clean_orders([record(amount="10", currency="USD"), record(order_id="o-2")], CURRENCIES)
    converted = convert_to_base(result.orders, {"USD": "0.92"}, "EUR")
    assert [(c.order_id, c.amount, c.amount_base, c.base_currency) for c in converted] == [
        ("o-1", Decimal("10.00"), Decimal("9.20"), "EUR"),
        ("o-2", Decimal("10.00"), Decimal("10.00"), "EUR"),
    ]
    assert all(isinstance(c, ConvertedOrder) for c in converted)


def test_convert_to_base_refuses_an_order_without_a_rate():
    (order,) = clean_orders([record(currency="USD")], CURRENCIES).orders
    with pytest.raises(ValueError, match="USD, which has no rate"):
        convert_to_base([order], {"GBP": "1.17"}, "EUR")


# --- per day ---------------------------------------------------------------------------------


def test_summarise_by_day():
    records = [
        record(order_id="1", customer_id="a", amount="10", order_ts="2024-05-02T01:00:00Z"),
        record(order_id="2", customer_id="a", amount="2.50", order_ts="2024-05-01T10:00:00Z"),
        record(
            order_id="3",
            customer_id="b",
            amount="10",
            currency="USD",
            order_ts="2024-05-01T23:00:00-01:00",
        ),  # 2024-05-02 in UTC
        record(order_id="4", customer_id="b", amount="1", order_ts="2024-05-01"),
    ]
    _, converted, days = process_orders(records, {"USD": "0.92"}, "EUR")
    assert len(converted) == 4
    assert [d.to_dict() for d in days] == [
        {
            "order_date": "2024-05-01",
            "orders": 2,
            "customers": 2,
            "total_base": "3.50",
            "base_currency": "EUR",
        },
        {
            "order_date": "2024-05-02",
            "orders": 2,
            "customers": 2,
            "total_base": "19.20",
            "base_currency": "EUR",
        },
    ]
    json.dumps([d.to_dict() for d in days])  # serialisable as is


def test_summarise_by_day_counts_distinct_customers():
    records = [record(order_id=str(i), customer_id="same") for i in range(3)]
    _, _, (day,) = process_orders(records)
    assert (day.orders, day.customers, day.total_base) == (3, 1, Decimal("30.00"))


def test_summarise_nothing():
    assert summarise_by_day([]) == []


def test_summarise_refuses_mixed_base_currencies():
    (order,) = clean_orders([record()], CURRENCIES).orders
    eur = convert_to_base([order], {}, "EUR")
    usd = convert_to_base([order], {"EUR": "1.09"}, "USD")
    with pytest.raises(ValueError, match="several base currencies"):
        summarise_by_day(eur + usd)


def test_process_orders_end_to_end():
    records = [
        record(order_id="1", amount="100", currency="gbp"),
        record(order_id="1", amount="100", currency="gbp", order_ts="2024-05-01T11:00:00Z"),
        record(order_id="2", amount="oops"),
        record(order_id="3", currency="XXX"),
    ]
    result, converted, days = process_orders(records)
    assert result.rows_read == 4
    assert [(c.order_id, c.amount_base) for c in converted] == [("1", Decimal("117.00"))]
    assert result.rejected[DUPLICATE_ORDER_ID] == 1
    assert result.rejected[BAD_AMOUNT] == 1
    assert result.rejected[UNKNOWN_CURRENCY] == 1
    assert days[0].total_base == Decimal("117.00")

"""The `daily_summary` wheel entry point checks its arguments before Spark is touched."""

import pytest
from etl_pipeline import daily


def test_arguments_are_validated_and_kept():
    args = daily.parse_arguments(
        [
            "--orders-table",
            "prod.sales.daily_orders",
            "--summary-table",
            "prod.sales.daily_summary",
            "--run-date",
            "2024-05-01",
        ]
    )
    assert args == daily.DailyArguments(
        "prod.sales.daily_orders", "prod.sales.daily_summary", "2024-05-01"
    )


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--orders-table", "prod.sales; DROP TABLE x", "orders_table"),
        ("--run-date", "2024-02-30", "run_date"),
    ],
)
def test_bad_arguments_are_refused_naming_them(flag, value, message):
    argv = {"--orders-table": "a.b.c", "--summary-table": "a.b.d", "--run-date": "2024-05-01"}
    argv[flag] = value
    with pytest.raises(ValueError, match=message):
        daily.parse_arguments([part for pair in argv.items() for part in pair])


def test_the_wheel_declares_the_entry_point_the_job_runs():
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert project["project"]["scripts"] == {"daily_summary": "etl_pipeline.daily:main"}

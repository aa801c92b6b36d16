"""Monthly cost model per 10,000 tasks, from the measured write and read item counts.

Assumptions are explicit below; prices are us-east-1 on-demand list prices (2026) and go stale.
"""

from __future__ import annotations

TASKS = 10_000
TASK_LIFETIME_HOURS = 24  # each task is replaced daily: 10,000 tasks reported ~30 times a month
KEEPALIVE_MINUTES = 15
QUERIES_PER_MONTH = 100_000
PRICE_PER_MILLION_WRITE_UNITS = 0.625
PRICE_PER_MILLION_READ_UNITS = 0.125
PRICE_PER_MILLION_API_CALLS = 3.50
PRICE_LAMBDA_GB_SECOND_ARM = 0.0000133334
PRICE_PER_MILLION_LAMBDA_REQUESTS = 0.20
LAMBDA_GB = 0.256
LAMBDA_SECONDS = 0.05
RECORD_WRITE_UNITS = 3  # a 2-3 KB record; transactional items cost twice


def run(store: dict[str, object]) -> dict[str, object]:
    tasks_started = TASKS * 30 * 24 / TASK_LIFETIME_HOURS
    keepalives = tasks_started * TASK_LIFETIME_HOURS * 60 / KEEPALIVE_MINUTES
    first = float(store["first_report_write_items"])  # type: ignore[arg-type]
    stop = float(store["stop_write_items"])  # type: ignore[arg-type]
    write_units = tasks_started * ((first + stop) * 2 + RECORD_WRITE_UNITS) + keepalives * RECORD_WRITE_UNITS
    read_units = (tasks_started * 2 + keepalives) * 1 + QUERIES_PER_MONTH * 200 * 0.5
    requests = tasks_started * 2 + keepalives + QUERIES_PER_MONTH
    dynamodb = (
        write_units / 1e6 * PRICE_PER_MILLION_WRITE_UNITS + read_units / 1e6 * PRICE_PER_MILLION_READ_UNITS
    )
    api = requests / 1e6 * PRICE_PER_MILLION_API_CALLS
    lam = (
        requests * LAMBDA_GB * LAMBDA_SECONDS * PRICE_LAMBDA_GB_SECOND_ARM
        + requests / 1e6 * PRICE_PER_MILLION_LAMBDA_REQUESTS
    )
    return {
        "requests_per_month": round(requests),
        "dynamodb_usd": round(dynamodb, 2),
        "api_gateway_usd": round(api, 2),
        "lambda_usd": round(lam, 2),
        "total_usd_per_10k_tasks_month": round(dynamodb + api + lam, 2),
        "total_usd_per_10k_tasks_month_note": (
            f"tasks live {TASK_LIFETIME_HOURS} h, keepalive {KEEPALIVE_MINUTES} min"
        ),
    }

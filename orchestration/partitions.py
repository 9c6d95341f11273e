"""Partitions: one dynamic partition per site-month submission batch (ingest), one per registry month (the rest).

A batch key is `<YYYY-MM>_<SITE>`: month first, so the insertion order the sensor produces is also a readable order.
"""

from __future__ import annotations

import dagster as dg

BATCH_PARTITIONS_NAME = "site_month_batch"
site_month_batches = dg.DynamicPartitionsDefinition(name=BATCH_PARTITIONS_NAME)

# Registry months from the first Korean commercial CAR-T infusions (tisagenlecleucel approved 2021-03).
# A month's partition exists once the month is complete; its data cut-off is the month's last day.
FIRST_REGISTRY_MONTH = "2021-04"
registry_months = dg.MonthlyPartitionsDefinition(start_date=FIRST_REGISTRY_MONTH, fmt="%Y-%m")


def batch_key(site: str, month: str) -> str:
    return f"{month}_{site}"


def parse_batch_key(key: str) -> tuple[str, str]:
    """Return (site, month) for a batch partition key."""
    month, _, site = key.partition("_")
    if not site or len(month) != 7:
        raise ValueError(f"not a site-month batch key: {key!r}")
    return site, month

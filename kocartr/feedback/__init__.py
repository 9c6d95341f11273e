"""Site feedback, beside the other quality outputs: the monthly query table (audit.site_queries, with stable ids
and status) and the per-site query workbooks built from it after every quality gate.

Public API:
    build_site_queries(con, month) -> polars.DataFrame      rebuild month's rows of audit.site_queries
    write_site_queries(con, site, month, out, submissions=None) -> dict[str, int]   one site's workbook
    query_sites(con), query_months(con)                     what the query table holds (for argument checks)
"""

from kocartr.feedback.queries import SITE_QUERIES, build_site_queries, query_id
from kocartr.feedback.workbook import write_site_queries
from kocartr.warehouse import table_exists


def query_sites(con) -> list[str]:
    if not table_exists(con, SITE_QUERIES):
        return []
    return [r[0] for r in con.sql(f"select distinct site_code from {SITE_QUERIES} order by 1").fetchall()]


def query_months(con) -> list[str]:
    if not table_exists(con, SITE_QUERIES):
        return []
    return [r[0] for r in con.sql(f"select distinct registry_month from {SITE_QUERIES} order by 1").fetchall()]


__all__ = ["SITE_QUERIES", "build_site_queries", "query_id", "query_months", "query_sites", "write_site_queries"]

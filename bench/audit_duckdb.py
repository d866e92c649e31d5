#!/usr/bin/env python3
"""The audit's classification as one DuckDB query, for bench/audit.sh.

Reads AWS Parquet flow logs and the plan's interval tables (written by
`portmatrix audit flows --sql ... --format parquet`), matches every record
with the intervals by range joins (IPv4 only: DuckDB reads addresses as text
here, without extensions), applies the same rules as portmatrix (a record is
credited to its best-ranked matching intents: connections, then local
flows, then FQDN egress; a record matching nothing is tried the other way
round, as the reply half of a flow), and writes per-intent and unplanned
totals as JSON.

usage: audit_duckdb.py PLAN_DIR THREADS OUT.json FILE.parquet...
"""
import json
import resource
import sys
import time

import duckdb


def main():
    plan_dir, threads, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    files = sys.argv[4:]
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET preserve_insertion_order = false")
    t0 = time.time()
    for t in ["intents", "intent_sources", "intent_destinations", "intent_ports", "intent_src_ports"]:
        con.execute(f"CREATE TABLE {t} AS SELECT * FROM read_parquet('{plan_dir}/{t}.parquet')")
    con.execute("""
        CREATE MACRO ip4(a) AS
          (CAST(split_part(a, '.', 1) AS UBIGINT) << 24) + (CAST(split_part(a, '.', 2) AS UBIGINT) << 16)
        + (CAST(split_part(a, '.', 3) AS UBIGINT) << 8) + CAST(split_part(a, '.', 4) AS UBIGINT)""")
    # services: port ranges, or every port for protocols without ports
    con.execute("""
        CREATE TABLE svc AS
        SELECT i.intent_id, i.protocol,
               CASE i.basis WHEN 'connection' THEN 0 WHEN 'local' THEN 1 ELSE 2 END AS rank,
               COALESCE(p.lo, 0) AS lo, COALESCE(p.hi, 65535) AS hi
        FROM intents i LEFT JOIN intent_ports p USING (intent_id)""")
    con.execute("""
        CREATE TABLE sp AS
        SELECT i.intent_id, COALESCE(x.lo, 0) AS lo, COALESCE(x.hi, 65535) AS hi
        FROM intents i LEFT JOIN intent_src_ports x USING (intent_id)""")
    con.execute("CREATE TABLE src AS SELECT intent_id, lo_v4 AS lo, hi_v4 AS hi FROM intent_sources WHERE family = 4")
    con.execute("CREATE TABLE dst AS SELECT intent_id, lo_v4 AS lo, hi_v4 AS hi FROM intent_destinations WHERE family = 4")
    flist = ", ".join(f"'{f}'" for f in files)
    con.execute(f"""
        CREATE VIEW f AS
        SELECT filename AS fn, file_row_number AS rn, ip4(srcaddr) AS s, ip4(dstaddr) AS d, protocol AS p,
               CASE WHEN protocol IN (6, 17, 132) THEN srcport ELSE 0 END AS sp,
               CASE WHEN protocol IN (6, 17, 132) THEN dstport ELSE 0 END AS dp,
               dstaddr, dstport, action = 'ACCEPT' AS acc, packets, bytes
        FROM read_parquet([{flist}], filename = true, file_row_number = true)
        WHERE log_status = 'OK'""")

    def candidates(rel, s, d, sp, dp):
        return f"""
            SELECT f.fn, f.rn, svc.intent_id, svc.rank, f.acc, f.packets, f.bytes
            FROM {rel} f
            JOIN dst ON f.{d} BETWEEN dst.lo AND dst.hi
            JOIN svc ON svc.intent_id = dst.intent_id AND svc.protocol = f.p AND f.{dp} BETWEEN svc.lo AND svc.hi
            JOIN src ON src.intent_id = svc.intent_id AND f.{s} BETWEEN src.lo AND src.hi
            JOIN sp ON sp.intent_id = svc.intent_id AND (f.{sp} IS NULL OR f.{sp} BETWEEN sp.lo AND sp.hi)"""

    con.execute(f"CREATE TEMP TABLE fwd AS {candidates('f', 's', 'd', 'sp', 'dp')}")
    # the other way round, for records that matched nothing
    con.execute("CREATE TEMP VIEW unmatched AS SELECT * FROM f ANTI JOIN (SELECT DISTINCT fn, rn FROM fwd) m USING (fn, rn)")
    con.execute(f"CREATE TEMP TABLE rev AS {candidates('unmatched', 'd', 's', 'dp', 'sp')}")
    per_intent = con.execute("""
        WITH c AS (SELECT *, false AS reply FROM fwd UNION ALL SELECT *, true AS reply FROM rev),
             best AS (SELECT fn, rn, min(rank) AS r FROM c GROUP BY fn, rn)
        SELECT intent_id, acc, count(*) AS records, sum(CAST(reply AS INT)) AS replies, sum(packets), sum(bytes)
        FROM c JOIN best USING (fn, rn) WHERE rank = r
        GROUP BY intent_id, acc ORDER BY intent_id, acc""").fetchall()
    unplanned = con.execute("""
        SELECT dstaddr, p, CASE WHEN p IN (6, 17, 132) THEN dstport END, acc, count(*), sum(packets), sum(bytes)
        FROM f ANTI JOIN (SELECT fn, rn FROM fwd UNION SELECT fn, rn FROM rev) m USING (fn, rn)
        GROUP BY ALL ORDER BY ALL""").fetchall()
    secs = time.time() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    records = sum(r[2] for r in per_intent)  # credited records (a record of several intents counts for each)
    json.dump({
        "seconds": secs,
        "peak_rss_bytes": peak,
        "duckdb": duckdb.__version__,
        "per_intent": [list(r) for r in per_intent],
        "unplanned_groups": len(unplanned),
        "unplanned_records": sum(r[4] for r in unplanned),
        "credited": records,
    }, open(out, "w"))
    print(f"duckdb {duckdb.__version__}: {secs:.1f} s, peak RSS {peak / 2**30:.2f} GiB, "
          f"{len(per_intent)} intent rows, {len(unplanned)} unplanned groups")


if __name__ == "__main__":
    main()

"""What one message-log row costs PostgreSQL: backend CPU and wall time per INSERT, by table shape.

    .venv/bin/python bench/pg_row_cost.py [--rows 3000] [--rounds 2]

INSERTs ``--rows`` copies of the newest row of ``wechat_app_messagelog`` (each with its own
dedupe key), one autocommitted prepared statement per row as the callback sends it, into scratch
copies of the table (``CREATE TABLE ... (LIKE wechat_app_messagelog INCLUDING ALL)``):

- ``as is``: every index, the two foreign keys (deferred, as Django makes them), jsonb columns;
- ``no secondary index``: the primary key and the unique (account, dedupe key) only;
- ``text, not jsonb``: ``message`` and ``reply`` stored as text;
- ``no foreign key``;
- ``all three``.

and prints the backend's CPU (``callback_bench.backend_cpu``: ``/proc/<backend pid>/schedstat``)
and the client's wall time per row. The server must be local (the bench reads its process). Run a
compare.py or callback_bench.py first: it needs one logged row to copy. Environment:
BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/wechat_bench).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import callback_bench as cb  # noqa: E402  (backend_cpu, the database's URL)

TABLE = "wechat_app_messagelog"
SHAPES = {
    "as is": {},
    "no secondary index": {"drop_indexes": True},
    "text, not jsonb": {"text_json": True},
    "no foreign key": {"no_foreign_keys": True},
    "all three": {"drop_indexes": True, "text_json": True, "no_foreign_keys": True},
}


def make_table(conn, name: str, drop_indexes=False, text_json=False, no_foreign_keys=False) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.execute(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING ALL)")  # LIKE copies no foreign key
    if drop_indexes:
        for (index,) in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef NOT LIKE '%%UNIQUE%%'",
                (name,)).fetchall():
            conn.execute(f"DROP INDEX {index}")
    if text_json:
        conn.execute(f"ALTER TABLE {name} ALTER message TYPE text, ALTER reply TYPE text")
    if not no_foreign_keys:
        for column, target in (("account_id", "wechat_app_account"), ("rule_id", "wechat_app_rule")):
            conn.execute(f"ALTER TABLE {name} ADD FOREIGN KEY ({column}) REFERENCES {target} (id) "
                         "DEFERRABLE INITIALLY DEFERRED")


def measure(conn, pid: int, rows: int, shape: dict) -> tuple[float, float]:
    name = "bench_pg_row_cost"
    make_table(conn, name, **shape)
    cursor = conn.execute(f"SELECT * FROM {TABLE} ORDER BY id DESC LIMIT 1")
    sample = cursor.fetchone()
    if sample is None:
        raise SystemExit(f"{TABLE} is empty: run bench/compare.py or bench/callback_bench.py first")
    columns = [d.name for d in cursor.description][1:]  # without the id
    values = [json.dumps(v) if isinstance(v, (dict, list)) else v for v in sample[1:]]
    key = columns.index("dedupe_key")
    quoted = ", ".join(f'"{c}"' for c in columns)
    sql = f"INSERT INTO {name} ({quoted}) VALUES ({', '.join(['%s'] * len(columns))}) RETURNING id"
    cpu, wall = cb.backend_cpu(pid), time.perf_counter()
    for i in range(rows):
        values[key] = f"bench-{i}"
        conn.execute(sql, values, prepare=True).fetchone()
    cpu, wall = cb.backend_cpu(pid) - cpu, time.perf_counter() - wall
    conn.execute(f"DROP TABLE {name}")
    return cpu / rows * 1e6, wall / rows * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2, help="every shape once per round")
    args = parser.parse_args()
    with psycopg.connect(cb.DATABASE_URL, autocommit=True) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        results = {label: [] for label in SHAPES}
        for _ in range(args.rounds):
            for label, shape in SHAPES.items():
                results[label].append(measure(conn, pid, args.rows, shape))
    print(f"\n{args.rows} rows per shape, {args.rounds} rounds; µs per row (range over the rounds)\n")
    print("| table | PostgreSQL CPU µs | wall µs |")
    print("|---|---|---|")
    for label, runs in results.items():
        cpus, walls = [r[0] for r in runs], [r[1] for r in runs]
        print(f"| {label} | {min(cpus):.0f}–{max(cpus):.0f} | {min(walls):.0f}–{max(walls):.0f} |")


if __name__ == "__main__":
    main()

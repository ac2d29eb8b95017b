"""The list section: `GET /v2/sites/{site}/assets` latency on a site of 10³ and of 10⁶ uploaded
assets, on SQLite and on PostgreSQL (issue 29: lists at a million assets).

The assets go straight into the database (one INSERT … SELECT, assetd's own schema and
triggers), half of them spread over a chain of 20 nested folders. Each kind of page is asked
`requests` times, one request at a time over one kept-alive connection, and timed until its
last byte. With `ASSETD_BENCH_BEFORE_BINARY` set, that build runs beside the current one on its
own copy of the data, and the two are asked in turn, request by request, so the machine's noise
falls on both alike.
"""
import contextlib
import http.client
import os
import pathlib
import sqlite3
import statistics
import subprocess
import time
import urllib.parse

from .services import PostgresDb, Assetd
from .table import Row, fail, met, ratio

BEFORE = os.environ.get("ASSETD_BENCH_BEFORE_BINARY")
CHAIN = 20  # folders, each in the previous one
FIRST_GOAL_MS, ANY_GOAL_MS = 10, 50


def folder_id(level):
    return f"ff{level:022x}"


def fill_sql(site, count, now_ms, sqlite):
    """Folders and `count` uploaded assets of `site`, as SQL for either database."""
    hex24 = "printf('%024x', i)" if sqlite else "lpad(to_hex(i), 24, '0')"
    chain = (f"printf('ff%022x', (i / 2) % {CHAIN})" if sqlite
             else f"'ff' || lpad(to_hex((i / 2) % {CHAIN}), 22, '0')")
    series = (f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {count - 1}) "
              if sqlite else "")
    source = "FROM n" if sqlite else f"FROM generate_series(0, {count - 1}) AS n(i)"
    folders = ", ".join(
        f"('{folder_id(k)}', '{site}', {'NULL' if k == 0 else repr(folder_id(k - 1))}, "
        f"'level-{k}', {now_ms}, {now_ms})" for k in range(CHAIN))
    start = now_ms - 365 * 86400 * 1000
    return [
        "INSERT INTO asset_folders (id, site_id, parent_folder, display_name, created_on, "
        f"last_updated) VALUES {folders}",
        f"{series}INSERT INTO assets (id, site_id, folder_id, original_file_name, display_name, "
        "alt_text, content_type, file_hash, storage_key, size, state, upload_expires_at, "
        "created_on, last_updated) "
        f"SELECT {hex24}, '{site}', CASE WHEN i % 2 = 0 THEN {chain} END, 'bulk.png', "
        f"{hex24} || '_bulk.png', NULL, 'image/png', '0123456789abcdef0123456789abcdef', "
        f"'{site}/' || {hex24} || '_bulk.png', 1024, 'uploaded', {start} + i + 3600000, "
        f"{start} + i, {start} + i {source}",
    ]


class Target:
    """One build on its own data: SQLite in its data dir, or its own PostgreSQL database."""

    def __init__(self, ctx, label, binary, backend, count):
        self.label, self.count, self.backend = label, count, backend
        self.pg = PostgresDb().create() if backend == "postgres" else None
        self.server = Assetd(ctx.children, ctx.work, f"list-{backend}-{count}-{label}",
                             database_url=self.pg.url if self.pg else None, binary=binary)
        self.conn = None

    def fill(self):
        self.server.start()
        statements = fill_sql(self.server.site, self.count, int(time.time() * 1000),
                              sqlite=self.pg is None)
        if self.pg is None:
            self.server.stop()
            path = self.server.data / "assetd.sqlite3"
            with contextlib.closing(sqlite3.connect(path)) as db, db:
                for sql in statements:
                    db.execute(sql)
            self.server.start()
        else:
            # An autovacuum would follow an insert this size; it sets the visibility map that
            # index-only scans read, and gives the planner the table's statistics.
            for sql in statements + ["VACUUM ANALYZE"]:
                subprocess.run(["psql", self.pg.url, "-qtAc", sql], check=True,
                               capture_output=True, text=True)
        host, port = urllib.parse.urlsplit(self.server.base).netloc.split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        return self

    def get(self, query):
        """Milliseconds to the last byte of one list, and its `pagination.total`."""
        path = f"/v2/sites/{self.server.site}/assets?{query}"
        start = time.perf_counter()
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {self.server.token}"})
        response = self.conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200:
            raise RuntimeError(f"{self.label}: GET {path}: {response.status} {body[:200]!r}")
        return elapsed

    def close(self):
        if self.conn:
            self.conn.close()
        self.server.stop()
        if self.pg:
            self.pg.drop()


def kinds(count):
    """(name, query, goal in ms) for a site of `count` assets (half of them in the chain)."""
    top, deepest = folder_id(0), folder_id(CHAIN - 1)
    in_deepest = count // 2 // CHAIN
    return [
        ("first page", "offset=0&limit=100", FIRST_GOAL_MS),
        ("middle page", f"offset={count // 2}&limit=100", ANY_GOAL_MS),
        ("last page", f"offset={count - 100}&limit=100", ANY_GOAL_MS),
        (f"folder tree of {CHAIN} levels, first page", f"folderId={top}&offset=0&limit=100",
         FIRST_GOAL_MS),
        (f"folder tree of {CHAIN} levels, middle page",
         f"folderId={top}&offset={count // 4}&limit=100", ANY_GOAL_MS),
        ("deepest folder, middle page", f"folderId={deepest}&offset={in_deepest // 2}&limit=100",
         ANY_GOAL_MS),
    ]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def lists(ctx):
    s = ctx.sizes
    sizes = (10**3, 10**4) if s.quick else (10**3, 10**6)
    requests = 20 if s.quick else 200
    print(f"\n== List assets: p50/p99 of {requests} lists, sites of {sizes[0]:,} and "
          f"{sizes[1]:,} assets, SQLite and PostgreSQL"
          + (f"; before: {BEFORE}" if BEFORE else ""), flush=True)
    rows = []
    for backend in ("sqlite", "postgres"):
        for count in sizes:
            builds = [("after", None)] + ([("before", pathlib.Path(BEFORE))] if BEFORE else [])
            targets = []
            try:
                for label, binary in builds:
                    started = time.perf_counter()
                    targets.append(Target(ctx, label, binary, backend, count))
                    targets[-1].fill()
                    ctx.note(f"list, {backend}, {count:,} assets, {label}: filled in "
                             f"{time.perf_counter() - started:.1f} s")
                for name, query, goal in kinds(count):
                    times = {t.label: [] for t in targets}
                    for _ in range(max(2, requests // 10)):  # warm-up
                        for t in targets:
                            t.get(query)
                    for _ in range(requests):
                        for t in targets:
                            times[t.label].append(t.get(query))
                    p = {label: (percentile(v, 50), percentile(v, 99)) for label, v in times.items()}
                    for label, (p50, p99) in p.items():
                        ctx.note(f"list, {backend}, {count:,} assets, {name}, {label}: "
                                 f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {max(times[label]):.1f} ms")
                    after = p["after"]
                    before = p.get("before")
                    rows.append(Row(
                        f"List, {count:,} assets, {name}, p99 (p50)",
                        f"assetd, {'SQLite' if backend == 'sqlite' else 'PostgreSQL'}",
                        f"{after[1]:.1f} ms ({after[0]:.1f})",
                        f"before: {before[1]:.1f} ms ({before[0]:.1f})" if before else "—",
                        ratio(before[1] / after[1]) if before else "—",
                        f"≤ {goal} ms", met(after[1] <= goal)))
            except Exception as err:  # noqa: BLE001 - one failed point is one failed row
                rows.append(fail(Row(f"List, {count:,} assets", backend, "error"),
                                 f"{type(err).__name__}: {err}"[:200]))
            finally:
                for t in targets:
                    t.close()
    return rows

"""The import section: `assetd import` copying a site of small files between two assetd
servers, against the straightforward SDK script a user would write (`bench/import_naive.py`:
list, download, create, post, one at a time), in the same run on the same machine.

Both copy the same source site into a fresh destination server of their own, in turn, three
rounds (one with --quick), and the medians are compared, so a burst of other work on the shared
machine falls on both; every copy is checked (every asset arrived). The importer's peak RSS
growth is read from /proc while it runs (VmHWM at the end − VmRSS at its start), worst round.
"""
import statistics
import os
import subprocess
import threading
import time

from .services import ASSETD, ROOT, Assetd
from .table import Row, fail, met, ratio

KiB = 1024
# 16 measured best on 2 vCPUs (2026-12-06, AMD EPYC: -j 8 4.6 s, 16 3.7–3.8 s, 32 3.4–3.6 s,
# 64 4.0 s); the CLI keeps 4 as its default, polite to Webflow's 60–120 calls a minute.
JOBS = 16


def seed(ctx, source, count, size):
    """`count` files of `size` random bytes, uploaded with `assetd upload` (PDFs: no variants,
    so the destinations' variant workers stay out of the timing)."""
    files = ctx.work / "import-files"
    files.mkdir(exist_ok=True)
    for i in range(count):
        (files / f"doc-{i:05d}.pdf").write_bytes(os.urandom(size))
    subprocess.run([str(ASSETD), "upload", "--site", source.site, "--api", f"{source.base}/v2",
                    "-j", "8", str(files)], check=True, capture_output=True,
                   env={**os.environ, "ASSETD_TOKEN": source.token})


def import_token(server):
    return subprocess.run(
        [str(ASSETD), "--data-dir", str(server.data), "token", "create", "--site", server.site,
         "--scope", "assets:read,assets:write,assets:import"],
        check=True, capture_output=True, text=True).stdout.strip()


def kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith(field + ":"))
    except (OSError, StopIteration):
        return None


def run_importer(ctx, source, dest, token, state):
    """Seconds, RSS growth in MiB, and the summary line of one `assetd import`."""
    argv = [str(ASSETD), "import", "--from-api", f"{source.base}/v2", "--from-token", source.token,
            "--from-site", source.site, "--to-api", f"{dest.base}/v2", "--to-token", token,
            "--to-site", dest.site, "--state", str(state), "-j", str(JOBS),
            "--variant-wait-secs", "0", "--json"]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples = {"first": None, "peak": 0}

    def watch():
        # Bounded by the process's life; every 10 ms.
        while proc.poll() is None:
            rss, hwm = kib(proc.pid, "VmRSS"), kib(proc.pid, "VmHWM")
            if rss is not None and samples["first"] is None:
                samples["first"] = rss
            if hwm is not None:
                samples["peak"] = max(samples["peak"], hwm)
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    out, err = proc.communicate(timeout=1800)
    seconds = time.perf_counter() - start
    watcher.join()
    if proc.returncode != 0:
        raise RuntimeError(f"assetd import failed: {err[-500:]}")
    growth = (samples["peak"] - (samples["first"] or 0)) / 1024
    return seconds, growth, out.strip().splitlines()[-1]


def listed(server, token=None):
    import json
    import urllib.request
    request = urllib.request.Request(f"{server.base}/v2/sites/{server.site}/assets?limit=1",
                                     headers={"Authorization": f"Bearer {token or server.token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["pagination"]["total"]


def run_script(source, dest):
    start = time.perf_counter()
    subprocess.run([str(ROOT / ".venv/bin/python"), str(ROOT / "bench/import_naive.py"),
                    f"{source.base}/v2", source.token, source.site,
                    f"{dest.base}/v2", dest.token, dest.site],
                   check=True, capture_output=True, timeout=3600)
    return time.perf_counter() - start


def imports(ctx):
    count, size = (50, 50 * KiB) if ctx.sizes.quick else (2000, 50 * KiB)
    rounds = 1 if ctx.sizes.quick else 3
    print(f"\n== Import: {count:,} files of {size // KiB} KiB between two assetd servers, "
          f"assetd import -j {JOBS} vs the SDK script one at a time, {rounds} rounds", flush=True)
    servers = [Assetd(ctx.children, ctx.work, "import-source")]
    try:
        source = servers[0].start()
        started = time.perf_counter()
        seed(ctx, source, count, size)
        ctx.note(f"import: seeded {count:,} × {size // KiB} KiB in "
                 f"{time.perf_counter() - started:.1f} s")
        ours, theirs, growths, short = [], [], [], []
        for n in range(rounds):
            dest = Assetd(ctx.children, ctx.work, f"import-dest-{n}").start()
            servers.append(dest)
            token = import_token(dest)
            seconds, growth, summary = run_importer(ctx, source, dest, token,
                                                    ctx.work / f"import-{n}.state")
            ours.append(seconds)
            growths.append(growth)
            ctx.note(f"import: round {n + 1}, assetd import {seconds:.2f} s, peak RSS growth "
                     f"{growth:.1f} MiB; {summary}")
            if listed(dest, token) != count:
                short.append(f"assetd import copied {listed(dest, token)}")
            dest.stop()
            dest = Assetd(ctx.children, ctx.work, f"import-dest-sdk-{n}").start()
            servers.append(dest)
            theirs.append(run_script(source, dest))
            ctx.note(f"import: round {n + 1}, SDK script {theirs[-1]:.2f} s")
            if listed(dest) != count:
                short.append(f"the SDK script copied {listed(dest)}")
            dest.stop()
        ours_s, theirs_s, growth = statistics.median(ours), statistics.median(theirs), max(growths)
        spread = lambda xs: f"{min(xs):.1f}–{max(xs):.1f} s" if len(xs) > 1 else f"{xs[0]:.1f} s"
        rows = [
            Row(f"Import {count:,} × {size // KiB} KiB, assetd → assetd, median of {rounds}",
                f"assetd import -j {JOBS}", f"{ours_s:.1f} s ({count / ours_s:.0f} files/s; {spread(ours)})",
                f"SDK script: {theirs_s:.1f} s ({count / theirs_s:.0f} files/s; {spread(theirs)})",
                ratio(theirs_s / ours_s), "≥ 5×", met(theirs_s / ours_s >= 5)),
            Row("Import, peak RSS growth of assetd import", "assetd import",
                f"{growth:.1f} MiB", "—", "—", "< 64 MiB", met(growth < 64)),
        ]
        if short:
            for row in rows:
                fail(row, f"{count} assets, but " + "; ".join(short))
        return rows
    except Exception as err:  # noqa: BLE001 - one failed section is one failed row
        return [fail(Row("Import", "assetd import", "error"), f"{type(err).__name__}: {err}"[:200])]
    finally:
        for s in servers:
            if s.child and s.child.alive():
                s.stop()

"""`bench/run`'s harness: measures assetd and its peers side by side in one run and prints one
markdown table (also written to target/bench-results.md). See BENCHMARKS.md.

Run through `bench/run`, which installs what this needs; directly:
    .venv/bin/python -m bench.harness [--duration 20] [--quick] [--only create,presign,...]
"""
import argparse
import datetime
import os
import pathlib
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback

from . import imports, lists, measures
from .procs import Children
from .services import ASSETD, ROOT, Assetd
from .table import Row, fail, render

SECTIONS = ("create", "presign", "upload", "delivery", "scaling", "variants", "list", "import")
RESULTS = ROOT / "target/bench-results.md"


def machine():
    """One line about the machine the numbers come from."""
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                  if l.startswith("model name")), "?")
    mem_kib = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    disk = subprocess.run(["df", "-h", "--output=source,fstype,size", str(ROOT / "target")],
                          capture_output=True, text=True).stdout.splitlines()[-1].split()
    return (f"{os.cpu_count()} × {model}, {mem_kib / 1024**2:.1f} GiB RAM, "
            f"disk {disk[0]} ({disk[1]}, {disk[2]}), Linux {platform.release()}")


def parse_args():
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20,
                        help="seconds per load test (scaling steps take a quarter); default 20")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: tiny durations and sizes, under a minute")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (data dirs, logs) under target/")
    args = parser.parse_args()
    if args.quick and "--duration" not in sys.argv:
        args.duration = 2
    args.only = [s for s in args.only.split(",") if s]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    return args


def stop_on_signal(signum, _frame):
    # Turns SIGTERM/SIGHUP into an exception so the `finally` below stops every child.
    raise KeyboardInterrupt(f"signal {signum}")


def main():
    args = parse_args()
    if not ASSETD.exists():
        sys.exit(f"{ASSETD} is missing: build it first (cargo build --release)")
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop_on_signal)
    sizes = measures.Sizes(duration=args.duration, quick=args.quick)
    work = ROOT / "target/bench-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    children = Children()
    ctx = measures.Context(children=children, work=work, sizes=sizes)
    started = time.monotonic()
    header = (f"assetd benchmark, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
              f"{'--quick, ' if args.quick else ''}--duration {args.duration:g}; {machine()}")
    print(header, flush=True)
    rows = []

    def section(name, measure, *measure_args):
        # A section that breaks becomes a failed row; the others still run.
        if name not in args.only:
            return
        try:
            rows.extend(measure(ctx, *measure_args))
        except Exception as err:  # noqa: BLE001 - reported in the table and on stderr
            traceback.print_exc()
            rows.append(fail(Row(name, "—", "error"), f"{type(err).__name__}: {err}"[:200]))

    try:
        section("create", measures.create)
        section("presign", measures.presign)
        # One assetd for uploads and delivery (documents up to twice the big upload), started by
        # whichever of the two runs first.
        files = Assetd(children, work, "assetd-files",
                       extra=["--document-max-bytes", str(2 * sizes.big_upload)])

        def files_assetd():
            return files if files.child and files.child.alive() else files.start()

        section("upload", lambda ctx: measures.upload(ctx, files_assetd()))
        section("delivery", lambda ctx: measures.delivery(ctx, files_assetd()))
        if files.child:
            files.stop()
        section("scaling", measures.scaling)
        section("variants", measures.variants)
        section("list", lists.lists)
        section("import", imports.imports)
    finally:
        children.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    table = render(rows)
    elapsed = time.monotonic() - started
    notes = "\n".join(f"- {n}" for n in ctx.notes)
    RESULTS.write_text(f"{header}; took {elapsed:.0f} s\n\n{table}\n\nDetails:\n\n{notes}\n")
    print(f"\n{table}\n\n(took {elapsed:.0f} s; table and details in {RESULTS.relative_to(ROOT)})")
    failed = [r for r in rows if r.failed]
    if failed:
        print(f"\nFAILED: {len(failed)} measurement(s) had errors; their numbers do not count.",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)

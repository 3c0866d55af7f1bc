"""Command line:

python -m expectations.corpus --out DIR --count N [--seed S] [--workers N]
[--variants digital,scan300,scan_degraded]

python -m expectations.corpus captures --out DIR --count N [--split tune|heldout] [--seed S]
[--workers N] [--conditions rotated,photo,fax,stamped]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .generate import ALL_VARIANTS, DEFAULT_SEED, describe_manifest, generate_corpus

CAPTURES = "captures"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [CAPTURES]:
        captures(argv[1:])
        return
    parser = argparse.ArgumentParser(prog="python -m expectations.corpus",
                                     description="Generate the synthetic golden invoice corpus. "
                                     f"'{CAPTURES} --help' for the capture conditions.")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--count", type=int, required=True, help="number of invoices")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"corpus seed (default {DEFAULT_SEED})")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--variants", default=",".join(ALL_VARIANTS),
                        help=f"comma-separated subset of {','.join(ALL_VARIANTS)}")
    args = parser.parse_args(argv)
    variants = tuple(name.strip() for name in args.variants.split(",") if name.strip())
    started = time.monotonic()
    try:
        manifest = generate_corpus(args.out, args.count, args.seed, variants, args.workers)
    except ValueError as error:
        parser.error(str(error))
    print(describe_manifest(manifest, args.out, time.monotonic() - started))


def captures(argv: list[str]) -> None:
    """Invoices as people upload them: rotated scans, phone photos, faxes, stamped copies."""
    from .capture import CONDITIONS, SPLITS, TUNE, generate_capture_corpus

    parser = argparse.ArgumentParser(
        prog=f"python -m expectations.corpus {CAPTURES}",
        description="Generate the capture-condition corpus: each invoice as its digital PDF and "
                    "once per condition, with truth files and a manifest carrying the drawn "
                    "parameters.")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--count", type=int, required=True, help="number of invoices")
    parser.add_argument("--split", choices=SPLITS, default=TUNE,
                        help="parameter ranges and invoices: tune (invoices 1..N) or heldout "
                             "(1001..1000+N); default tune")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"corpus seed (default {DEFAULT_SEED})")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--conditions", default=",".join(CONDITIONS),
                        help=f"comma-separated subset of {','.join(CONDITIONS)}")
    args = parser.parse_args(argv)
    conditions = tuple(name.strip() for name in args.conditions.split(",") if name.strip())
    started = time.monotonic()
    try:
        manifest = generate_capture_corpus(args.out, args.count, args.split, conditions,
                                           args.seed, args.workers)
    except ValueError as error:
        parser.error(str(error))
    print(f"[{args.split}] " + describe_manifest(manifest, args.out, time.monotonic() - started))


if __name__ == "__main__":
    main()

"""Command line: python -m expectations.corpus --out DIR --count N [--seed S] [--workers N]
[--variants digital,scan300,scan_degraded]"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .generate import ALL_VARIANTS, DEFAULT_SEED, describe_manifest, generate_corpus


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m expectations.corpus",
                                     description="Generate the synthetic golden invoice corpus.")
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


if __name__ == "__main__":
    main()

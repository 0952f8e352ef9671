"""Detection-quality benchmark: `python -m bench.detection [--corpus DIR] [--nab DIR | --no-nab] [--write-corpus DIR]`.

Without --corpus it replays the built-in synthetic corpus (tests/support/detection/synth.py). With --corpus it
backtests the rules on scenarios in the corpus format (costwarden/corpus.py), e.g. your own exported
history. Then it scores the rules on the real-world series of the Numenta Anomaly Benchmark
(tests/support/detection/nab.py) if the corpus is there (`../shared/corpora/nab` beside the checkout, or --nab DIR);
without it, it says so and skips that table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from costwarden import corpus
from tests.support.detection import engine, nab, score, synth
from tests.support.detection.synth import monday_base


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, help="directory of scenarios (default: the built-in synthetic corpus)")
    parser.add_argument("--write-corpus", type=Path, help="write the built-in corpus in the corpus format and exit")
    parser.add_argument("--workdir", type=Path, help="keep the TSDB and logs here (default: a temporary directory)")
    parser.add_argument("--nab", type=Path, default=nab.DEFAULT_CORPUS, help="the NAB corpus (default: %(default)s)")
    parser.add_argument("--nab-max-days", type=float, default=21.0, help="NAB series up to this long (default: 21)")
    parser.add_argument(
        "--nab-outage-after",
        type=float,
        metavar="MINUTES",
        help="NAB readings further apart than this are an exporter outage, as Prometheus would record one: no samples "
        "between them (default: each reading held until the next, as the reference scorer does)",
    )
    parser.add_argument("--no-nab", action="store_true", help="skip the real-world (NAB) table")
    parser.add_argument("--no-synthetic", action="store_true", help="skip the synthetic corpus")
    args = parser.parse_args()
    if args.write_corpus:
        for scenario in synth.build(monday_base()):
            corpus.write(scenario, args.write_corpus / scenario.name)
        print(f"wrote the corpus to {args.write_corpus}")
        return 0
    if not args.no_synthetic:
        scenarios = corpus.read_all(args.corpus) if args.corpus else synth.build(monday_base())
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="cw-detect-") as tmp:
            firings = engine.replay(scenarios, args.workdir or Path(tmp) / "work")
        scores = [score.score(s, firings) for s in scenarios]
        print(f"\nDetection quality ({len(scenarios)} scenarios, real rules, Prometheus query engine, "
              f"{time.monotonic() - started:.0f} s)\n")  # fmt: skip
        print(score.table(scores))
    if args.no_nab:
        return 0
    if not (args.nab / "labels" / "combined_windows.json").is_file():
        print(f"\nReal-world series skipped: no NAB corpus at {args.nab} (pass --nab DIR).")
        return 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cw-nab-") as tmp:
        work = (args.workdir or Path(tmp)) / "nab"
        base = monday_base(days_back=int(args.nab_max_days) + 7)
        results = nab.run(args.nab, work, base, args.nab_max_days, args.nab_outage_after)
    outages = (
        f", readings more than {args.nab_outage_after:g} minutes apart replayed as exporter outages"
        if args.nab_outage_after is not None
        else ""
    )
    print(f"\nReal-world series (NAB, series of <= {args.nab_max_days:g} days{outages}, alert starts scored with NAB's "
          f"standard profile, {time.monotonic() - started:.0f} s)\n")  # fmt: skip
    print(nab.table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

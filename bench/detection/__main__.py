"""Detection-quality benchmark: `python -m bench.detection [--corpus DIR] [--write-corpus DIR]`.

Without --corpus it replays the built-in synthetic corpus (bench/detection/synth.py). With --corpus it backtests the
rules on scenarios in the corpus format (bench/detection/corpus.py), e.g. your own exported history.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.detection import corpus, engine, score, synth


def monday_base(days_back: int = 21) -> float:
    """A Monday 00:00 UTC far enough back that every scenario lies in the past."""
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_back)
    return (day - timedelta(days=day.weekday())).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, help="directory of scenarios (default: the built-in synthetic corpus)")
    parser.add_argument("--write-corpus", type=Path, help="write the built-in corpus in the corpus format and exit")
    parser.add_argument("--workdir", type=Path, help="keep the TSDB and logs here (default: a temporary directory)")
    args = parser.parse_args()
    if args.write_corpus:
        for scenario in synth.build(monday_base()):
            corpus.write(scenario, args.write_corpus / scenario.name)
        print(f"wrote the corpus to {args.write_corpus}")
        return 0
    scenarios = corpus.read_all(args.corpus) if args.corpus else synth.build(monday_base())
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cw-detect-") as tmp:
        firings = engine.replay(scenarios, args.workdir or Path(tmp) / "work")
    scores = [score.score(s, firings) for s in scenarios]
    print(f"\nDetection quality ({len(scenarios)} scenarios, real rules, Prometheus query engine, "
          f"{time.monotonic() - started:.0f} s)\n")  # fmt: skip
    print(score.table(scores))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

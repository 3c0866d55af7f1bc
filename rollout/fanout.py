"""Fan-out of document reads: a corpus split into shards that Airflow's mapped tasks (``.expand``)
read side by side, on whichever workers are free, and the reduce that joins their scores.

A shard is a plain list of document paths and a shard's result a list of small JSON-able dicts,
so both travel as XCom. The golden gate's shards (``plugins/ocr_migration_ops.py``: the rows its
Great Expectations suite validates) and the ``ocr_evaluate`` DAG (the report ``ocr-migrate
evaluate --output json`` prints, from ``ocr_engines.evaluation.summarise``) are built on this;
``bench/bench_fanout.py`` measures it against ``run_documents`` in one process.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Iterable

from ocr_engines.evaluation import DocumentScore, GoldenDocument, golden_documents, run_documents, summarise


def split(paths: list[str], shards: int) -> list[list[str]]:
    """``paths`` dealt round robin into ``shards`` lists (fewer when there are fewer paths, none
    of them empty). No paths give one empty shard: the reduce still runs and judges an empty
    read the way an unsharded one would (the golden suite's row count fails it)."""
    if not paths:
        return [[]]
    count = max(1, min(int(shards), len(paths)))
    return [paths[i::count] for i in range(count)]


def pick(docs: list[GoldenDocument], paths: Iterable[str]) -> list[GoldenDocument]:
    """The documents a shard names, in its order. A path the corpus no longer lists (it changed
    between the split and the read) is an error, not a document quietly left out."""
    by_path = {str(d.path): d for d in docs}
    paths = list(paths)
    missing = [p for p in paths if p not in by_path]
    if missing:
        raise FileNotFoundError(f"{len(missing)} documents of the shard are not in the corpus any more, "
                                f"e.g. {missing[:3]}")
    return [by_path[p] for p in paths]


def corpus_shards(corpus: Path, shards: int, limit: int = 0) -> list[list[str]]:
    """A corpus folder's documents (the first ``limit``, as ``evaluate --limit``) in shards."""
    docs = golden_documents(Path(corpus))
    if not docs:
        raise FileNotFoundError(f"{corpus}: no document has a truth file (X.json beside X)")
    return split([str(d.path) for d in (docs[:limit] if limit else docs)], shards)


def evaluate_shard(corpus: Path, paths: list[str], engine_name: str, options: dict | None = None) -> dict:
    """One shard read in this process and scored: ``{"started", "ended", "scores"}``, the scores
    as plain dicts (``DocumentScore`` fields), the times as epoch seconds for the reduce's wall
    time."""
    docs = pick(golden_documents(Path(corpus)), paths)
    started = time.time()
    scores = [asdict(score) for score in run_documents(docs, engine_name, 1, options)]
    return {"started": started, "ended": time.time(), "scores": scores}


def evaluation_report(shards: Iterable[dict]) -> dict:
    """The shards' scores as one evaluation report (``summarise``, what ``ocr-migrate evaluate
    --output json`` prints), in document order. Its ``elapsed_s`` is the fan-out's wall time:
    from the first shard's start to the last one's end."""
    shards = [s for s in shards if s is not None]
    scores = sorted((DocumentScore(**score) for shard in shards for score in shard["scores"]), key=lambda s: s.path)
    timed = [s for s in shards if s["scores"]]
    elapsed = max(s["ended"] for s in timed) - min(s["started"] for s in timed) if timed else 0.0
    return summarise(scores, elapsed)


def shard_figures(shards: Iterable[dict]) -> list[dict]:
    """Per shard: its documents and how long reading them took inside the task."""
    return [{"documents": len(s["scores"]), "read_s": round(s["ended"] - s["started"], 3)}
            for s in shards if s is not None]

"""
### OCR evaluate: `ocr-migrate evaluate` over a corpus, fanned out over the workers

**shards** lists the corpus folder's documents (each `X.pdf|png|jpg|tif` with its truth in
`X.json`, or a corpus with a `manifest.json`) and splits them into `shards` lists of paths;
**evaluate_shard** is mapped over them (one task per shard, wherever a worker slot is free) and
reads and scores its documents; **report** joins the scores into the report
`ocr-migrate evaluate --output json` prints, writes it to `output` (default
`<data_dir>/evaluations/<run id>.json`) and returns its headline figures. The report's
`elapsed_s` is the fan-out's wall time, first shard's start to last shard's end.

`airflow dags trigger ocr_evaluate --conf '{"corpus": "data/golden-full", "shards": 8}'`
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Param

import ocr_migration_ops as ops

with DAG(
    dag_id="ocr_evaluate",
    description="Engine accuracy on a corpus, its documents read in mapped shards",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["ocr", "evaluation"],
    doc_md=__doc__,
    params={
        "corpus": Param("expectations/golden", type="string", minLength=1,
                        description="folder of documents with their truth (relative: to the project folder), "
                                    "e.g. data/golden-full from scripts/evaluate.sh"),
        "engine": Param("tesseract", type="string", description="engine name"),
        "shards": Param(4, type="integer", minimum=1, maximum=256, description="mapped tasks the documents are "
                        "split into"),
        "limit": Param(0, type="integer", minimum=0, description="only the first N documents (0 = all)"),
        "output": Param("", type="string", description="report path; empty: <data_dir>/evaluations/<run id>.json"),
    },
) as dag:
    shards = PythonOperator(task_id="shards", python_callable=ops.evaluation_shards)
    scores = ops.evaluate_shard.expand(shard=shards.output)
    PythonOperator(task_id="report", python_callable=ops.evaluation_report, op_kwargs={"shards": scores})

"""Great Expectations 1.x for the golden gate: the suites in ``expectations/gx/expectations/``
(GX JSON, the source of truth) run over rows in an ephemeral context whose results and Data Docs
go to the folder the caller names. A suite must load and evaluate every expectation its JSON
declares (``SuiteIntegrityError``): GX drops an unregistered expectation with only a log line.

GX and pandas are imported inside the functions: ``import great_expectations`` alone takes
seconds, and the golden gate is imported by DAG files."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from .schema import jsonable

DOCS_SITE = "gate_site"


class SuiteIntegrityError(RuntimeError):
    """A suite did not load or evaluate every expectation its JSON declares (GX drops an expectation
    whose class is not registered with only a logged traceback; a gate must not pass on fewer checks)."""


def default_gx_dir() -> Path:
    """``OCR_MIGRATE_GX_DIR``, else ``gx/`` beside the ``expectations`` package (a non-editable
    install carries it only when the package data includes ``gx/**``)."""
    override = os.environ.get("OCR_MIGRATE_GX_DIR")
    if override:
        return Path(override)
    import expectations

    return Path(expectations.__file__).resolve().parent / "gx"


def suite_path(name: str, gx_dir: Path | None = None) -> Path:
    return (gx_dir or default_gx_dir()) / "expectations" / f"{name}.json"


def declared_expectations(name: str, gx_dir: Path | None = None) -> list[dict]:
    """The expectations a suite's JSON declares (what GX must load and evaluate, all of them)."""
    path = suite_path(name, gx_dir)
    if not path.is_file():
        raise FileNotFoundError(f"GX suite {name!r} not found at {path}: point OCR_MIGRATE_GX_DIR at the "
                                f"repository's expectations/gx, or install the package with its gx/ data")
    return json.loads(path.read_text())["expectations"]


class Validator:
    """One ephemeral GX context per gate: suites read from the repo's file-context store, results
    and Data Docs written under ``data_docs_dir`` (validation JSON in ``.validations/``, so the site
    index lists every gate validated into the same folder)."""

    def __init__(self, data_docs_dir: Path, gx_dir: Path):
        self.gx_dir = Path(gx_dir).resolve()
        self.site = data_docs_dir
        self.ctx = _gx_context(self.gx_dir, data_docs_dir)

    def validate(self, suite_name: str, asset_name: str, rows: list[dict], run_name: str) -> dict:
        gx, pd = _gx(), _pandas()
        from great_expectations.core.run_identifier import RunIdentifier

        declared = declared_expectations(suite_name, self.gx_dir)
        suite = self.ctx.suites.get(suite_name)
        loaded = [e.expectation_type for e in suite.expectations]
        if len(loaded) != len(declared):
            missing = sorted({d["type"] for d in declared} - set(loaded))
            raise SuiteIntegrityError(f"suite {suite_name}: the JSON declares {len(declared)} expectations, GX "
                                      f"loaded {len(loaded)}; dropped (class not registered?): {missing}")
        frame = pd.DataFrame(rows)
        for column in sorted({d["kwargs"]["column"] for d in declared if "column" in d["kwargs"]}):
            if column not in frame.columns:
                frame[column] = None
        source = self.ctx.data_sources.add_pandas(f"{suite_name}_source")
        asset = source.add_dataframe_asset(asset_name)
        batch = asset.add_batch_definition_whole_dataframe("rows")
        definition = self.ctx.validation_definitions.add(
            gx.ValidationDefinition(name=f"{suite_name}_validation", data=batch, suite=suite))
        result_format = {"result_format": "SUMMARY", "partial_unexpected_count": 10}
        if "document" in frame.columns:
            result_format["unexpected_index_column_names"] = ["document"]
        checkpoint = self.ctx.checkpoints.add(gx.Checkpoint(
            name=f"{suite_name}_gate", validation_definitions=[definition], result_format=result_format,
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=[DOCS_SITE])]))
        run = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name))
        (identifier, result), = run.run_results.items()
        stats = result.statistics
        if stats["evaluated_expectations"] != len(declared):
            raise SuiteIntegrityError(f"suite {suite_name}: {stats['evaluated_expectations']} expectations "
                                      f"evaluated, the JSON declares {len(declared)}")
        failed, observed = [], {}
        for er in result.results:
            summary = _expectation_summary(er)
            if "observed" in summary:
                key = summary.get("column") or ("row_count" if "row_count" in summary["expectation"]
                                                 else summary["expectation"])
                observed[key] = summary["observed"]
            if not er.success:
                failed.append(summary)
        urls = self.ctx.get_docs_sites_urls(resource_identifier=identifier, site_name=DOCS_SITE)
        page = _url_path(urls[0]["site_url"]) if urls and urls[0].get("site_url") else None
        return {"suite": suite_name, "success": bool(result.success), "evaluated": stats["evaluated_expectations"],
                "successful": stats["successful_expectations"], "failed": failed, "observed": observed,
                "documents": len(frame), "data_docs": str(page) if page else None}

    def index_path(self) -> Path:
        return self.site / "index.html"


def _expectation_summary(er) -> dict:
    config = er.expectation_config
    kwargs = config.kwargs
    out = {"expectation": config.type}
    for key in ("column", "min_value", "max_value", "mostly", "value_set"):
        if kwargs.get(key) is not None:
            out[key] = kwargs[key]
    result = er.result or {}
    if "observed_value" in result:
        out["observed"] = result["observed_value"]
    for key in ("element_count", "unexpected_count", "unexpected_percent", "missing_count"):
        if key in result:
            out[key] = result[key]
    if result.get("partial_unexpected_list"):
        out["unexpected"] = result["partial_unexpected_list"][:10]
    if result.get("partial_unexpected_index_list"):
        out["unexpected_documents"] = [i.get("document", i) if isinstance(i, dict) else i
                                       for i in result["partial_unexpected_index_list"][:10]]
    info = er.exception_info or {}
    if info.get("raised_exception"):
        out["exception"] = info.get("exception_message")
    else:  # GX 1.x keys exception info by metric
        for value in info.values():
            if isinstance(value, dict) and value.get("raised_exception"):
                out["exception"] = value.get("exception_message")
                break
    return jsonable(out)


def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    for name in ("great_expectations", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return gx


def _pandas():
    import pandas

    return pandas


def _gx_context(gx_dir: Path, data_docs_dir: Path):
    gx = _gx()
    from great_expectations.data_context.types.base import DataContextConfig, ProgressBarsConfig

    data_docs_dir.mkdir(parents=True, exist_ok=True)

    def files(base: Path) -> dict:
        return {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(base),
                "suppress_store_backend_id": True}

    memory = {"class_name": "InMemoryStoreBackend"}
    config = DataContextConfig(
        config_version=4,
        expectations_store_name="expectations_store",
        validation_results_store_name="validation_results_store",
        checkpoint_store_name="checkpoint_store",
        stores={
            # read-only use of the repo's file-context suites: the same store class and layout
            "expectations_store": {"class_name": "ExpectationsStore", "store_backend": files(gx_dir / "expectations")},
            "validation_results_store": {"class_name": "ValidationResultsStore",
                                         "store_backend": files(data_docs_dir / ".validations")},
            "checkpoint_store": {"class_name": "CheckpointStore", "store_backend": memory},
            "validation_definition_store": {"class_name": "ValidationDefinitionStore", "store_backend": memory},
        },
        data_docs_sites={DOCS_SITE: {
            "class_name": "SiteBuilder", "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(data_docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}}},
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        analytics_enabled=False,
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _url_path(url: str) -> Path:
    return Path(unquote(urlparse(url).path))

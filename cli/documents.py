"""The document verbs: extract, evaluate, compare, documentai-double, calibrate, corpus."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import typer
from rich.table import Table

from presentation.formatting import safe
from .common import EXIT_CONFIG, EXIT_DOCUMENT, EXIT_ENGINE, Output, OutputOpt, console, err_console, fail

commands = typer.Typer()


def _settings(output: Output):
    from pydantic import ValidationError

    from rollout.settings import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        fail(output, EXIT_CONFIG, "invalid_settings", str(exc).replace("\n", "; "))


@commands.command()
def extract(
    file: Path = typer.Argument(..., help="invoice: PDF, PNG, JPEG or TIFF, or a KSeF e-invoice (FA(3) XML)"),
    engine: str = typer.Option(None, help="engine name (default: ksef for XML, tesseract for the rest)"),
    output: Output = OutputOpt,
) -> None:
    """Read one invoice and print the extraction result."""
    from ocr_engines import DocumentError, OcrError, available_engines, get_engine
    from ocr_engines.ksef import looks_like_xml

    settings = _settings(output)
    if engine is None:  # an e-invoice needs no OCR: the structured path
        engine = "ksef" if file.is_file() and looks_like_xml(file) else "tesseract"
    if engine not in available_engines():
        fail(output, EXIT_CONFIG, "unknown_engine", f"{engine!r}; choose one of {available_engines()}")
    try:
        result = get_engine(engine, **settings.engine_options(engine)).extract(file)
    except DocumentError as exc:
        fail(output, EXIT_DOCUMENT, exc.code, exc.message)
    except OcrError as exc:
        fail(output, EXIT_ENGINE, exc.code, exc.message)
    except Exception as exc:  # a bug in our code: one line for the user, details in the log
        logging.getLogger(__name__).debug("extract failed", exc_info=True)
        fail(output, EXIT_ENGINE, "internal_error", f"{file.name}: {type(exc).__name__}: {exc}")
    data = result.to_dict()
    if output is Output.json:
        print(json.dumps(data, ensure_ascii=False, indent=1))
        return
    table = Table(title=f"{safe(file.name)}: {data['engine']} {data['engine_version']}, {data['pages']} page(s), "
                        f"confidence {data['confidence']:.2f}")
    table.add_column("field")
    table.add_column("value")
    table.add_column("confidence", justify="right")
    for name, fv in data["fields"].items():
        table.add_row(name, safe(fv["value"]), f"{fv['confidence']:.2f}")
    console.print(table)
    if data["line_items"]:
        items = Table(title="line items")
        for key in ("description", "quantity", "unit_price", "amount", "vat_rate"):
            items.add_column(key, justify="left" if key == "description" else "right")
        for item in data["line_items"]:
            items.add_row(*(safe(item.get(k, "")) for k in ("description", "quantity", "unit_price", "amount",
                                                            "vat_rate")))
        console.print(items)
    for warning in data["warnings"]:
        console.print(f"[yellow]warning[/]: {safe(warning)}")
    console.print(f"timings (ms): {data['timings_ms']}")
    if data.get("capture"):
        console.print(f"capture: {data['capture']['kind']}")


@commands.command()
def evaluate(
    golden: list[Path] = typer.Option(..., "--golden", help="directory of documents with X.json truth beside X, "
                                      "or a corpus with a manifest (e.g. ../shared/corpora/ksef-official); repeatable"),
    engine: str = typer.Option("tesseract", help="engine name"),
    workers: int = typer.Option(2, min=1, help="parallel processes"),
    limit: int = typer.Option(0, min=0, help="evaluate only the first N documents of each directory (0 = all)"),
    output: Output = OutputOpt,
) -> None:
    """Score an engine against golden truth: per-field exact match, documents, CER, pages/s."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from ocr_engines import OcrError, available_engines, get_engine
    from ocr_engines.evaluation import golden_documents, run_documents, summarise

    settings = _settings(output)
    if engine not in available_engines():
        fail(output, EXIT_CONFIG, "unknown_engine", f"{engine!r}; choose one of {available_engines()}")
    try:  # configuration errors surface here, once, not in every worker
        get_engine(engine, **settings.engine_options(engine))
    except OcrError as exc:
        fail(output, EXIT_CONFIG, exc.code, exc.message)
    docs = []
    for directory in golden:
        try:
            found = golden_documents(directory)
        except FileNotFoundError as exc:
            fail(output, EXIT_CONFIG, "no_golden_dir", str(exc))
        if not found:
            fail(output, EXIT_CONFIG, "no_documents", f"{directory}: no document has a truth file (X.json beside X)")
        docs += found[:limit] if limit else found
    scores = []
    start = time.perf_counter()
    progress = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err_console, transient=True,
                        disable=not err_console.is_terminal)
    with progress:
        task = progress.add_task(f"{engine} on {', '.join(map(str, golden))}", total=len(docs))
        for score in run_documents(docs, engine, workers, settings.engine_options(engine)):
            scores.append(score)
            progress.advance(task)
    report = summarise(scores, time.perf_counter() - start)
    if output is Output.json:
        print(json.dumps(report, indent=1))
        return
    _print_report(report)


@commands.command()
def compare(
    file: Path = typer.Argument(..., help="invoice: PDF, PNG, JPEG or TIFF"),
    control: str = typer.Option("documentai", help="the engine users rely on today"),
    candidate: str = typer.Option("tesseract", help="the engine being proven"),
    ignore: list[str] = typer.Option([], help="benign difference: FIELD (skip) or FIELD:case; repeatable"),
    output: Output = OutputOpt,
) -> None:
    """Run two engines on one document and print the per-field diff."""
    from ocr_engines import DocumentError, OcrError, get_engine
    from ocr_engines.compare import IgnoreRule, compare as compare_results

    settings = _settings(output)
    try:
        rules = [IgnoreRule.parse(text) for text in ignore]
    except ValueError as exc:
        fail(output, EXIT_CONFIG, "invalid_ignore_rule", str(exc))
    outcomes = {}
    for role, name in (("control", control), ("candidate", candidate)):
        try:
            outcomes[role] = get_engine(name, **settings.engine_options(name)).extract(file)
        except DocumentError as exc:
            fail(output, EXIT_DOCUMENT, exc.code, exc.message)  # the upload itself is unusable
        except OcrError as exc:
            outcomes[role] = exc  # an engine failing is a finding of the comparison, not a crash
    result = compare_results(outcomes["control"], outcomes["candidate"], rules)
    data = {"file": str(file), "control": control, "candidate": candidate, **result.to_dict()}
    if output is Output.json:
        print(json.dumps(data, ensure_ascii=False, indent=1))
        return
    agreement = "-" if result.agreement is None else f"{result.agreement:.0%}"
    table = Table(title=f"{safe(file.name)}: {control} (control) vs {candidate} (candidate), agreement {agreement}")
    for column in ("field", "status", control, candidate):
        table.add_column(column)
    colours = {"match": "green", "mismatch": "red", "missing": "red", "extra": "yellow", "ignored": "dim"}
    diffs = list(result.fields.values()) + ([result.line_items] if result.line_items else [])
    for diff in diffs:
        table.add_row(diff.field, f"[{colours[diff.status]}]{diff.status}[/]", safe(diff.control),
                      safe(diff.candidate))
    console.print(table)
    for role, error in (("control", result.control_error), ("candidate", result.candidate_error)):
        if error:
            console.print(f"[red]{role} failed[/]: {safe(error)}")


@commands.command("documentai-double")
def documentai_double(
    golden: list[Path] = typer.Option([Path("expectations/golden")], help="documents it answers from their truth "
                                      "(repeat for more folders: every corpus the traffic sends)"),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8081),
    latency_median_s: float = typer.Option(0.0, help="log-normal latency median (2.0 plays Google's 1-4 s)"),
    failure_rate: float = typer.Option(0.0, min=0, max=1, help="share of requests answered with an error code"),
    failure_codes: str = typer.Option("429,500,503", help="HTTP codes the failures draw from"),
    field_error_rate: float = typer.Option(0.0, min=0, max=1, help="share of fields answered wrong"),
    output: Output = OutputOpt,
) -> None:
    """Serve the LOCAL TEST DOUBLE of the Document AI API (never Google; for tests and the demo)."""
    from staging.documentai_double import DocumentAIDouble, DoubleConfig

    try:
        codes = [int(code) for code in failure_codes.split(",") if code.strip()]
    except ValueError:
        fail(output, EXIT_CONFIG, "invalid_failure_codes", f"{failure_codes!r}: expected e.g. 429,500,503")
    double = DocumentAIDouble(None, DoubleConfig(latency_median_s=latency_median_s, failure_rate=failure_rate,
                                                 failure_codes=codes, field_error_rate=field_error_rate))
    for folder in golden:
        double.load(folder)
    cfg = double.config
    info = {"url": f"http://{host}:{port}", "documents": len(double.index), "project": cfg.project,
            "location": cfg.location, "processor_id": cfg.processor_id}
    if output is Output.json:
        print(json.dumps(info), flush=True)
    else:
        console.print(f"Document AI TEST DOUBLE on {info['url']} answering {info['documents']} golden documents. "
                      f"Point the engine at it with:\n  OCR_MIGRATE_DOCUMENTAI_ENDPOINT={info['url']} "
                      f"OCR_MIGRATE_DOCUMENTAI_PROJECT={cfg.project} OCR_MIGRATE_DOCUMENTAI_LOCATION={cfg.location} "
                      f"OCR_MIGRATE_DOCUMENTAI_PROCESSOR_ID={cfg.processor_id}")
    try:
        double.serve_forever(host, port)
    except OSError as exc:
        fail(output, EXIT_CONFIG, "cannot_listen", f"{host}:{port}: {exc}")
    except KeyboardInterrupt:
        pass


@commands.command()
def calibrate(
    golden: Path = typer.Option(Path("data/golden-full"), "--golden", help="generated corpus to fit on "
                                "(generated there first when it has no manifest)"),
    count: int = typer.Option(100, min=1, help="invoices to generate when the folder is empty"),
    families: Path = typer.Option(Path("data/families"), "--families", help="layout-family corpus, read "
                                  "leave-one-family-out (generated there first when it has no manifest)"),
    per_family: int = typer.Option(6, min=1, help="invoices per family to generate when that folder is empty"),
    workers: int = typer.Option(2, min=1, help="parallel processes"),
    out: Path = typer.Option(None, "--out", help="table to write (default: the engine's own calibration.json)"),
    output: Output = OutputOpt,
) -> None:
    """Fit the document-confidence table (field confidence -> probability right) on generated invoices:
    our layouts, and the layout families each read with its own wording unknown (as an unseen layout is)."""
    from expectations.corpus import DEFAULT_SEED, generate_corpus
    from expectations.corpus.families import leave_out_plan
    from expectations.corpus.generate import generate_family_corpus
    from ocr_engines.calibration import CALIBRATION_FILE, field_pairs, fit
    from ocr_engines.evaluation import golden_documents, run_documents

    if not (golden / "manifest.json").is_file():
        generate_corpus(golden, count, DEFAULT_SEED, workers=workers)
    if not (families / "manifest.json").is_file():
        generate_family_corpus(families, per_family, workers=workers)
    options = _settings(output).engine_options("tesseract")
    docs = golden_documents(golden)
    scores = list(run_documents(docs, "tesseract", workers, options))
    family_docs = golden_documents(families)
    for name, (withheld, known) in leave_out_plan().items():
        part = [d for d in family_docs if d.family == name]
        scores += list(run_documents(part, "tesseract", workers, options, withheld=withheld, known=known))
    table = fit(field_pairs(scores), f"{golden.name}: {len(docs)} generated documents; {families.name}: "
                                     f"{len(family_docs)} documents of layout families, each left out")
    target = out or CALIBRATION_FILE
    target.write_text(json.dumps(table, indent=1) + "\n")
    if output is Output.json:
        print(json.dumps({"out": str(target), **table}))
    else:
        console.print(f"wrote {target}: p(right) per field-confidence bin {table['p_correct']} "
                      f"(fields per bin {table['fields_per_bin']})")


@commands.command()
def corpus(
    out: Path = typer.Option(..., "--out", help="output directory"),
    count: int = typer.Option(100, min=1, help="number of invoices (each gives 3 documents)"),
    seed: int = typer.Option(None, help="corpus seed (default: the golden corpus seed)"),
    workers: int = typer.Option(2, min=1, help="parallel processes"),
    output: Output = OutputOpt,
) -> None:
    """Generate the synthetic golden invoice corpus (deterministic for a seed)."""
    from expectations.corpus import DEFAULT_SEED, generate_corpus
    from expectations.corpus.generate import describe_manifest

    start = time.perf_counter()
    try:
        manifest = generate_corpus(out, count, DEFAULT_SEED if seed is None else seed, workers=workers)
    except (ValueError, OSError) as exc:
        fail(output, EXIT_CONFIG, "corpus_failed", str(exc))
    if output is Output.json:
        print(json.dumps({"out": str(out), "documents": len(manifest["documents"]), "seed": manifest.get("seed")}))
    else:
        console.print(describe_manifest(manifest, out, time.perf_counter() - start))


def _print_report(report: dict) -> None:
    groups = report["groups"]
    names = list(groups) + (["overall"] if len(groups) > 1 else [])
    stats = {**groups, "overall": report["overall"]}
    table = Table(title=f"{report['documents']} documents, {report['pages']} pages, "
                        f"{report['pages_per_s']} pages/s")
    table.add_column("metric")
    for name in names:
        table.add_column(f"{name} ({stats[name]['documents']})", justify="right")
    fields = list(dict.fromkeys(f for n in names for f in stats[n]["per_field"]))
    rows = [("field exact-match", "field_exact_match"), ("header fields (12)", "header_exact_match"),
            ("all fields correct", "all_fields_correct"), ("character error rate", "cer"),
            ("line item exact-match", "line_item_exact_match"), ("line item F1", "line_item_f1"),
            ("absent fields", "absent_fields"), ("wrong fields", "wrong_fields"), ("errors", "errors")]
    for label, key in rows:
        table.add_row(f"[bold]{label}[/]", *(_fmt(stats[n][key]) for n in names))
    for field_name in fields:
        table.add_row(f"  {field_name}", *(_fmt(stats[n]["per_field"].get(field_name)) for n in names))
    console.print(table)
    if len(report["families"]) > 1:
        by_family = Table(title="by layout family")
        for column in ("family", "variant", "documents", "header fields", "line item F1", "absent", "wrong"):
            by_family.add_column(column, justify="left" if column in ("family", "variant") else "right")
        for family, figures in report["families"].items():
            for variant, g in figures["groups"].items():
                by_family.add_row(family, variant, str(g["documents"]), _fmt(g["header_exact_match"]),
                                  _fmt(g["line_item_f1"]), str(g["absent_fields"]), str(g["wrong_fields"]))
        console.print(by_family)
    for error in report["errors"][:20]:
        console.print(f"[red]{safe(error['file'])}[/]: {safe(error['error'])}")


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2%}" if value <= 1 else f"{value:.3f}"
    return str(value)

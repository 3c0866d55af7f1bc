"""The migration's operators: the golden gate's (a PythonOperator with a Data Docs link) and a
stage's human approval (Airflow's Human-in-the-loop)."""

from __future__ import annotations

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import BaseOperatorLink, Param


class DataDocsLink(BaseOperatorLink):
    """A golden gate's Great Expectations Data Docs, served by the OCR migration UI plugin."""

    name = "Data Docs"

    def get_link(self, operator, *, ti_key) -> str:
        return "/ocr-migration/data-docs/index.html"


class GoldenGateOperator(PythonOperator):
    """A PythonOperator for the golden gate, with a "Data Docs" link on the task."""

    operator_extra_links = (DataDocsLink(),)
    ui_color = "#e0f0ff"


class StageApprovalOperator(ApprovalOperator):
    """A stage's human approval (Airflow's Human-in-the-loop: the "Required Actions" page, or
    ``PATCH /api/v2/dags/…/taskInstances/…/hitlDetails`` with ``{"chosen_options": ["Approve"]}``).

    *Approve* continues the migration. *Reject* fails this task, on purpose and without a retry (a
    person answered; asking again would be wrong): the stage's ``rollback`` task then returns to
    the previous percentage, with the reviewer and the reason from the form in the audit log, and
    the run stops as after a FAIL. The answer is kept in XCom ``approval`` for that task."""

    ui_color = "#e0d4f7"

    def __init__(self, **kwargs):
        kwargs.setdefault("fail_on_reject", True)
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)

    def execute_complete(self, context, event):
        if "error" not in event:
            user = event.get("responded_by_user") or {}
            context["ti"].xcom_push(key="approval", value={
                "chosen": list(event.get("chosen_options") or []),
                "by": str(user.get("name") or user.get("id") or ""),
                "reason": str((event.get("params_input") or {}).get("reason") or ""),
                "at": str(event.get("responded_at") or "")})
        return super().execute_complete(context, event)


def approval_form() -> dict:
    """The approval form's fields. Give them as the operator's ``params`` where it is built (in the
    DAG file): Airflow merges a task's params with the DAG's when the outermost ``__init__`` is
    called, and HITLOperator keeps only the task-sourced ones for its form."""
    return {"reason": Param("", type="string", title="Reason", source="task",
                            description="why (kept in the audit log)")}


def rejection_of(approval: dict | None) -> dict | None:
    """The approval task's answer when it was a rejection."""
    return approval if approval and ApprovalOperator.REJECT in (approval.get("chosen") or []) else None

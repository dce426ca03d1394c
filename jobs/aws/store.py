"""JobStore on DynamoDB: one item per job, keyed by jobId, deleted by TTL after expiresAt.

Counters change by atomic ADD (concurrent ranges never lose an update); a job is created only
if its id is new (a conditional put); a finished job's status never changes again (a condition
expression, checked by DynamoDB, not read-then-write).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ocr_contract.jobs import FINISHED, JobRequest, Status

from ..model import Job

# Job attribute (model.Job) -> item attribute; the item's names are the API's (camelCase).
COUNTERS = {
    "documents_total": "documentsTotal",
    "documents_done": "documentsDone",
    "pages_total": "pagesTotal",
    "pages_done": "pagesDone",
    "pages_failed": "pagesFailed",
}
# Items that are not jobs share the table under a prefix of the key (the task tokens of
# inferences in flight, handlers.py); they carry no status.
TOKEN_PREFIX = "inference#"


class JobExists(Exception):
    pass


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _client_error_code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def to_item(job: Job) -> dict[str, Any]:
    item: dict[str, Any] = {
        "jobId": job.job_id,
        "owner": job.owner,
        "request": job.request.to_dict(),
        "status": job.status,
        "createdAt": job.created_at,
        "updatedAt": job.updated_at,
        "expiresAt": int(job.expires_at),
    }
    for field, name in COUNTERS.items():
        item[name] = int(getattr(job, field))
    if job.result_key is not None:
        item["resultKey"] = job.result_key
    if job.error is not None:
        item["error"] = job.error
    return item


def from_item(item: dict[str, Any]) -> Job:
    return Job(
        job_id=item["jobId"],
        owner=item.get("owner", ""),
        request=JobRequest.from_dict(item.get("request", {})),
        status=item.get("status", "QUEUED"),
        created_at=item.get("createdAt", ""),
        updated_at=item.get("updatedAt", ""),
        result_key=item.get("resultKey"),
        error=_plain(item["error"]) if "error" in item else None,
        expires_at=int(item.get("expiresAt", 0)),
        **{field: int(item.get(name, 0)) for field, name in COUNTERS.items()},
    )


def _plain(value: Any) -> Any:
    """DynamoDB's numbers come back as Decimal; JSON and the model want int."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class DynamoJobStore:
    """`table` is a boto3 DynamoDB Table resource (boto3.resource("dynamodb").Table(name))."""

    def __init__(self, table: Any, *, clock=time.time):
        self.table = table
        self.clock = clock

    def create(self, job: Job) -> None:
        if job.job_id.startswith(TOKEN_PREFIX):
            raise ValueError("a job id may not start with the token prefix")
        try:
            self.table.put_item(Item=to_item(job), ConditionExpression="attribute_not_exists(jobId)")
        except Exception as exc:
            if _client_error_code(exc) == "ConditionalCheckFailedException":
                raise JobExists(job.job_id) from None
            raise

    def get(self, job_id: str) -> Job | None:
        if job_id.startswith(TOKEN_PREFIX):
            return None
        item = self.table.get_item(Key={"jobId": job_id}, ConsistentRead=True).get("Item")
        # DynamoDB deletes expired items within days, not at once: an expired one is gone already.
        if item is None or int(item.get("expiresAt", 0)) and int(item["expiresAt"]) < self.clock():
            return None
        return from_item(item)

    def set_status(
        self, job_id: str, status: Status, *, result_key: str | None = None, error: dict | None = None
    ) -> None:
        names = {"#status": "status", "#updatedAt": "updatedAt"}
        values: dict[str, Any] = {":status": status, ":now": now_iso()}
        sets = ["#status = :status", "#updatedAt = :now"]
        if result_key is not None:
            names["#resultKey"] = "resultKey"
            values[":resultKey"] = result_key
            sets.append("#resultKey = :resultKey")
        if error is not None:
            names["#error"] = "error"
            values[":error"] = error
            sets.append("#error = :error")
        finished = sorted(FINISHED)
        for i, name in enumerate(finished):
            values[f":f{i}"] = name
        try:
            self.table.update_item(
                Key={"jobId": job_id},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=(
                    "attribute_exists(jobId) AND NOT (#status IN ("
                    + ", ".join(f":f{i}" for i in range(len(finished)))
                    + "))"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            # Finished already (or gone): its status stays as it is.
            if _client_error_code(exc) != "ConditionalCheckFailedException":
                raise

    def add(self, job_id: str, **increments: int) -> None:
        unknown = set(increments) - set(COUNTERS)
        if unknown:
            raise ValueError(f"not counters: {sorted(unknown)}")
        names = {"#updatedAt": "updatedAt"}
        values: dict[str, Any] = {":now": now_iso()}
        adds = []
        for i, (field, amount) in enumerate(sorted(increments.items())):
            names[f"#c{i}"] = COUNTERS[field]
            values[f":c{i}"] = int(amount)
            adds.append(f"#c{i} :c{i}")
        expression = "SET #updatedAt = :now" + (" ADD " + ", ".join(adds) if adds else "")
        try:
            self.table.update_item(
                Key={"jobId": job_id},
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(jobId)",  # never make a job of a stray update
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            if _client_error_code(exc) != "ConditionalCheckFailedException":
                raise

    def unfinished(self) -> list[Job]:
        jobs = []
        kwargs: dict[str, Any] = {
            "FilterExpression": "#status IN (:q, :r)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":q": "QUEUED", ":r": "RUNNING"},
        }
        while True:
            page = self.table.scan(**kwargs)
            jobs += [from_item(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return jobs
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # The task tokens of inferences in flight (handlers.py): small items beside the jobs.

    def put_token(self, inference_id: str, token: str, work: dict, expires_at: int) -> None:
        self.table.put_item(
            Item={"jobId": TOKEN_PREFIX + inference_id, "taskToken": token, "work": work, "expiresAt": int(expires_at)}
        )

    def get_token(self, inference_id: str) -> tuple[str, dict] | None:
        """The token and work of an inference in flight, or None (answered, or never stored)."""
        item = self.table.get_item(Key={"jobId": TOKEN_PREFIX + inference_id}, ConsistentRead=True).get("Item")
        if not item:
            return None
        return item["taskToken"], _plain(item.get("work", {}))

    def delete_token(self, inference_id: str) -> None:
        """Forget an inference's token, once Step Functions has taken its answer."""
        self.table.delete_item(Key={"jobId": TOKEN_PREFIX + inference_id})

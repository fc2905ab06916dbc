"""template.yaml: the transition queue, its dead-letter queue and the worker, least privilege."""

import json
from typing import Any

from tests.test_template_guardrails import RESOURCES, _as_list, _role_of, _statements
from tests.test_template_guardrails import transformed as transformed  # the fixture

QUEUE_ARN = {"Fn::GetAtt": ["TransitionQueue", "Arn"]}


def _grants(role: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (action, json.dumps(resource, sort_keys=True))
        for statement in _statements(role)
        for action in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    }


def test_the_queue_is_encrypted_and_dead_letters_after_three_tries() -> None:
    queue = RESOURCES["TransitionQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["TransitionDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 3,
    }
    # Lambda's SQS event source wants six times the function's timeout.
    timeout = RESOURCES["TransitionWorkerFunction"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert RESOURCES["TransitionDeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"] is True


def test_the_worker_takes_batches_of_ten_and_reports_failures_per_message() -> None:
    event = RESOURCES["TransitionWorkerFunction"]["Properties"]["Events"]["DueChanges"]
    assert event["Type"] == "SQS"
    properties = event["Properties"]
    assert properties["Queue"] == QUEUE_ARN
    assert properties["BatchSize"] == 10
    assert properties["MaximumBatchingWindowInSeconds"] == 0  # no wait: on the second
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["ScalingConfig"] == {
        "MaximumConcurrency": {"Ref": "TransitionWorkerMaxConcurrency"}
    }


def test_the_worker_may_do_only_what_a_transition_needs(transformed: dict[str, Any]) -> None:
    role = _role_of(transformed, "TransitionWorkerFunction")
    assert "ManagedPolicyArns" not in role["Properties"]
    table = json.dumps({"Fn::GetAtt": ["Table", "Arn"]}, sort_keys=True)
    queue = json.dumps(QUEUE_ARN, sort_keys=True)
    logs = json.dumps({"Fn::GetAtt": ["TransitionWorkerLogGroup", "Arn"]}, sort_keys=True)
    assert _grants(role) == {
        ("dynamodb:BatchGetItem", table),
        ("dynamodb:UpdateItem", table),
        ("dynamodb:ConditionCheckItem", table),
        ("sqs:ReceiveMessage", queue),
        ("sqs:DeleteMessage", queue),
        ("sqs:GetQueueAttributes", queue),
        ("logs:CreateLogStream", logs),
        ("logs:PutLogEvents", logs),
    }


def test_the_scheduler_knows_the_queue_and_may_send_to_it(transformed: dict[str, Any]) -> None:
    properties = RESOURCES["SchedulerFunction"]["Properties"]
    assert properties["Environment"]["Variables"]["TRANSITION_QUEUE_URL"] == {
        "Ref": "TransitionQueue"
    }
    grants = _grants(_role_of(transformed, "SchedulerFunction"))
    assert ("sqs:SendMessage", json.dumps(QUEUE_ARN, sort_keys=True)) in grants
    assert not {g for g in grants if g[0].startswith("sqs:") and "TransitionQueue" in g[1]} - {
        ("sqs:SendMessage", json.dumps(QUEUE_ARN, sort_keys=True))
    }

"""The production guard rails of template.yaml, each asserted so removing one fails a test.

Two views of the template: as written (devtools.template.read_yaml, short tags in
their long form) and as CloudFormation will receive it (samtranslator, the SAM
transform sam-cli runs), because the IAM a function really gets is only visible
after the transform.
"""

import json
import re
from typing import Any

import pytest

from devtools.template import read_yaml
from tests.conftest import ROOT

TEMPLATE = read_yaml(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
FUNCTIONS = sorted(lid for lid, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function")

TABLE_ARN = {"Fn::GetAtt": ["Table", "Arn"]}
TABLE_INDEXES = {"Fn::Sub": "${Table.Arn}/index/*"}
STREAM_ARN = {"Fn::GetAtt": ["Table", "StreamArn"]}
STREAM_ACTIONS = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
}
ALARM_ACTIONS = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"

# What each function may do to the table (what its code uses): nothing wider.
TABLE_AND_INDEXES = (TABLE_ARN, TABLE_INDEXES)


def _grants(actions: tuple[str, ...], *resources: Any) -> set[tuple[str, str]]:
    """(action, resource as JSON) for each DynamoDB action on each resource."""
    return {
        (f"dynamodb:{action}", json.dumps(resource, sort_keys=True))
        for action in actions
        for resource in resources
    }


# Fences: the partition keys (dynamodb:LeadingKeys, ForAllValues:StringLike) each write
# action of each function may touch, exactly the prefixes its code writes (maintsvc.storage.keys
# builds them; test_least_privilege watches every write). An UpdateItem creates a missing item,
# so it is fenced like a put. No function may write an API key (KEY#, KEYNAME#): maintctl does,
# with an operator's credentials.
MAINTENANCE, SEQUENCE, IDEMPOTENCY = "M#*", "SEQ", "IDEM#*"
# Patterns fenced ahead of the code that writes them (test_least_privilege tolerates them).
NOT_YET_WRITTEN: set[str] = set()
WRITE_ACTIONS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}
WRITE_FENCES: dict[str, dict[str, set[str]]] = {
    # Maintenances, their events, markers and tombstones; the id sequence (by update only);
    # Idempotency-Key records (PutItem claims, UpdateItem stores, DeleteItem drops a 5xx).
    "MaintenancesFunction": {
        "PutItem": {MAINTENANCE, IDEMPOTENCY},
        "UpdateItem": {MAINTENANCE, SEQUENCE, IDEMPOTENCY},
        "DeleteItem": {MAINTENANCE, IDEMPOTENCY},
        "BatchWriteItem": {MAINTENANCE},
    },
    # Creates nothing but its Idempotency-Key records; updates and deletes events.
    "EventsFunction": {
        "PutItem": {IDEMPOTENCY},
        "UpdateItem": {MAINTENANCE, IDEMPOTENCY},
        "DeleteItem": {MAINTENANCE, IDEMPOTENCY},
    },
    "SchedulerFunction": {
        "PutItem": {MAINTENANCE},
        "UpdateItem": {MAINTENANCE, SEQUENCE},
        "DeleteItem": {MAINTENANCE},
        "BatchWriteItem": {MAINTENANCE},
    },
    "TransitionWorkerFunction": {"UpdateItem": {MAINTENANCE}},
    # Counted-record markers, counters, the window index (buckets and the tag registry, start
    # order).
    "IndexerFunction": {
        "PutItem": {"COUNTED#*"},
        "UpdateItem": {"COUNT#*", "MW#*"},
        "BatchWriteItem": {"MN#*"},
    },
    # Its checkpoint; the counters and the window index it repairs.
    "ReconcilerFunction": {
        "PutItem": {"RECONCILE"},
        "UpdateItem": {"COUNT#*", "MW#*"},
        "BatchWriteItem": {"MN#*"},
    },
    "MonitorsFunction": {},
    "NotifierFunction": {},
}


def _writes(function: str) -> set[tuple[str, str]]:
    """Write actions are granted on the table only (an index takes no writes)."""
    return _grants(tuple(WRITE_FENCES[function]), TABLE_ARN)


DYNAMODB_GRANTS: dict[str, set[tuple[str, str]]] = {
    "MaintenancesFunction": _grants(("GetItem", "Query", "ConditionCheckItem"), *TABLE_AND_INDEXES)
    | _writes("MaintenancesFunction"),
    "EventsFunction": _grants(
        ("GetItem", "BatchGetItem", "Query", "ConditionCheckItem"), *TABLE_AND_INDEXES
    )
    | _writes("EventsFunction"),
    "SchedulerFunction": _grants(
        (
            "GetItem",
            "BatchGetItem",
            "Query",
            # The ConditionCheck of a held event's first start (TransactWriteItems).
            "ConditionCheckItem",
        ),
        *TABLE_AND_INDEXES,
    )
    | _writes("SchedulerFunction"),
    # Read-only: the API key, the window index, a maintenance the index's directory lacks.
    "MonitorsFunction": _grants(("GetItem", "BatchGetItem", "Query"), TABLE_ARN),
    "TransitionWorkerFunction": _grants(("BatchGetItem", "ConditionCheckItem"), TABLE_ARN)
    | _writes("TransitionWorkerFunction"),
    "NotifierFunction": _grants(("BatchGetItem",), TABLE_ARN)
    | {(action, json.dumps(STREAM_ARN, sort_keys=True)) for action in STREAM_ACTIONS},
    # The reads behind the indexer's writes: the batch's maintenances, a maintenance's events,
    # a tag's windows.
    "IndexerFunction": _grants(("BatchGetItem", "Query"), TABLE_ARN)
    | _writes("IndexerFunction")
    | {(action, json.dumps(STREAM_ARN, sort_keys=True)) for action in STREAM_ACTIONS},
    # The sweep reads the checkpoint (Get), the listing, feed partitions and purge queue
    # (Query on indexes), events and maintenances (BatchGet); its writes are fenced.
    "ReconcilerFunction": _grants(("GetItem", "BatchGetItem", "Query"), *TABLE_AND_INDEXES)
    | _writes("ReconcilerFunction"),
}


def string_like(pattern: str, value: str) -> bool:
    """IAM's StringLike: `*` matches any run of characters, `?` any one; case-sensitive."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch("".join(parts), value, re.DOTALL) is not None


def admits(fence: set[str], partition_key: str) -> bool:
    """Whether ForAllValues:StringLike on dynamodb:LeadingKeys lets a write of this key by."""
    return any(string_like(pattern, partition_key) for pattern in fence)


class _ManagedPolicies:
    """The transform looks managed policy names up in IAM; the template names none."""

    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    """template.yaml through the SAM transform, offline (code locations stubbed as S3)."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    document = yaml_parse((ROOT / "template.yaml").read_text())
    for resource in document["Resources"].values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if key in properties:
                properties[key] = "s3://bucket/key"
    result: dict[str, Any] = transform(document, {}, _ManagedPolicies())
    return result


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in role["Properties"].get("Policies") or []
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_of(transformed: dict[str, Any], function: str) -> dict[str, Any]:
    role_arn = transformed["Resources"][function]["Properties"]["Role"]
    assert set(role_arn) == {"Fn::GetAtt"} and role_arn["Fn::GetAtt"][1] == "Arn"
    role: dict[str, Any] = transformed["Resources"][role_arn["Fn::GetAtt"][0]]
    assert role["Type"] == "AWS::IAM::Role"
    return role


# -- the table --------------------------------------------------------------------------------


def test_table_is_retained_on_delete_and_replace() -> None:
    assert RESOURCES["Table"]["DeletionPolicy"] == "Retain"
    assert RESOURCES["Table"]["UpdateReplacePolicy"] == "Retain"


# -- IAM: stream permission scoped, DynamoDB actions not widened ------------------------------


def test_no_role_gets_the_dynamodb_execution_managed_policy(transformed: dict[str, Any]) -> None:
    for logical_id, resource in transformed["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        managed = resource["Properties"].get("ManagedPolicyArns") or []
        assert not [arn for arn in managed if "DynamoDBExecutionRole" in json.dumps(arn)], (
            logical_id
        )
        # Anything else managed would grant actions these tests cannot see.
        assert set(map(json.dumps, managed)) <= {json.dumps(BASIC_EXECUTION)}, logical_id


def test_stream_reads_only_on_the_table_stream(transformed: dict[str, Any]) -> None:
    granted: set[str] = set()
    for resource in transformed["Resources"].values():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for statement in _statements(resource):
            actions = set(_as_list(statement["Action"]))
            stream_actions = actions & STREAM_ACTIONS
            if not stream_actions:
                continue
            assert actions == stream_actions, "stream reads share no statement with other grants"
            assert _as_list(statement["Resource"]) == [STREAM_ARN]
            granted |= stream_actions
    assert granted == STREAM_ACTIONS


def test_notifier_runs_as_its_own_least_privilege_role(transformed: dict[str, Any]) -> None:
    assert RESOURCES["NotifierFunction"]["Properties"]["Role"] == {
        "Fn::GetAtt": ["NotifierRole", "Arn"]
    }
    assert "Policies" not in RESOURCES["NotifierFunction"]["Properties"]
    role = _role_of(transformed, "NotifierFunction")
    assert "ManagedPolicyArns" not in role["Properties"]
    grants = {
        (action, json.dumps(resource, sort_keys=True))
        for statement in _statements(role)
        for action in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    }
    bus = {
        "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}"
        ":event-bus/${EventBusName}"
    }
    expected = DYNAMODB_GRANTS["NotifierFunction"] | {
        ("logs:CreateLogStream", json.dumps({"Fn::GetAtt": ["NotifierLogGroup", "Arn"]})),
        ("logs:PutLogEvents", json.dumps({"Fn::GetAtt": ["NotifierLogGroup", "Arn"]})),
        ("events:PutEvents", json.dumps(bus, sort_keys=True)),
        ("sqs:SendMessage", json.dumps({"Fn::GetAtt": ["NotifierFailureQueue", "Arn"]})),
    }
    assert grants == expected
    assert all(statement["Effect"] == "Allow" for statement in _statements(role))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_dynamodb_actions_are_unchanged(transformed: dict[str, Any], function: str) -> None:
    role = _role_of(transformed, function)
    grants = {
        (action, json.dumps(resource, sort_keys=True))
        for statement in _statements(role)
        for action in _as_list(statement["Action"])
        if action.startswith("dynamodb:")
        for resource in _as_list(statement["Resource"])
    }
    assert grants == DYNAMODB_GRANTS[function]


def test_every_function_is_covered_by_the_grant_table() -> None:
    assert set(FUNCTIONS) == set(DYNAMODB_GRANTS)


def _fences(role: dict[str, Any]) -> dict[str, set[str]]:
    """Write action -> the LeadingKeys patterns the role's statements allow it on, checking
    that every statement granting a write is exactly such a fence."""
    fences: dict[str, set[str]] = {}
    for statement in _statements(role):
        actions = {a.removeprefix("dynamodb:") for a in _as_list(statement["Action"])}
        assert not [a for a in actions if "*" in a], statement  # no wildcard action
        writes = actions & WRITE_ACTIONS
        if not writes:
            continue
        assert actions == writes, "writes share a statement only with writes"
        assert statement["Effect"] == "Allow"
        assert _as_list(statement["Resource"]) == [TABLE_ARN]
        ((operator, keys_condition),) = statement["Condition"].items()
        assert operator == "ForAllValues:StringLike", statement
        ((condition_key, patterns),) = keys_condition.items()
        assert condition_key == "dynamodb:LeadingKeys", statement
        for action in writes:
            fences.setdefault(action, set()).update(_as_list(patterns))
    return fences


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_write_is_fenced_to_exactly_the_key_prefixes_it_writes(
    transformed: dict[str, Any], function: str
) -> None:
    assert _fences(_role_of(transformed, function)) == WRITE_FENCES[function]


def _sample_keys() -> dict[str, str]:
    """A partition key of every kind the code writes, built as the code builds it."""
    from maintsvc.storage import keys

    return {
        "maintenance": keys.maintenance_pk(1),
        "sequence": keys.seq_key()["PK"],
        "idempotency": keys.idempotency_pk("0f" * 32),
        "counter": keys.count_pk(2, 117),
        "top counter": keys.count_pk(keys.COUNT_TOP_LEVEL, None),
        "counted record": keys.counted_record_key("0f" * 16)["PK"],
        "window index": keys.monitor_windows_pk("db"),
        "tag registry": keys.tag_registry_key("db")["PK"],
        "reconciler checkpoint": keys.RECONCILE_KEY["PK"],
        "start order": keys.next_windows_pk("db"),
    }


API_KEY_SAMPLES = ["KEY#abc", "KEYNAME#x", "KEY#", "KEYNAME#"]


def test_the_samples_include_the_api_keys_as_the_code_builds_them() -> None:
    from maintsvc.storage import keys

    assert keys.api_key_key("abc")["PK"] == "KEY#abc"
    assert keys.api_key_name_key("x")["PK"] == "KEYNAME#x"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_function_can_write_an_api_key(transformed: dict[str, Any], function: str) -> None:
    """API keys (KEY#, KEYNAME#) are written by maintctl only, with operator credentials."""
    for action, fence in _fences(_role_of(transformed, function)).items():
        assert not [k for k in API_KEY_SAMPLES if admits(fence, k)], (function, action)


def test_every_fence_pattern_admits_a_key_the_code_builds() -> None:
    """A pattern that matches no real key (a typo such as `M*#`) would deny real writes."""
    samples = _sample_keys()
    for function, fences in WRITE_FENCES.items():
        for action, fence in fences.items():
            for pattern in fence - NOT_YET_WRITTEN:
                assert [k for k in samples.values() if string_like(pattern, k)], (
                    function,
                    action,
                    pattern,
                )


def test_fences_admit_what_they_name_and_nothing_else() -> None:
    samples = _sample_keys()
    assert admits({MAINTENANCE}, "M#1") and not admits({MAINTENANCE}, "MW#db")
    assert admits({"COUNT#*"}, samples["counter"]) and admits({"COUNT#*"}, samples["top counter"])
    assert not admits({"COUNT#*"}, samples["counted record"])
    assert admits({"MW#*"}, samples["tag registry"]) and not admits({"MW#*"}, "MN#db")
    assert admits({SEQUENCE}, "SEQ") and not admits({SEQUENCE}, "SEQ#1")
    assert not admits({IDEMPOTENCY}, "idem#x")  # case-sensitive, as IAM's StringLike
    assert string_like("a?c", "abc") and not string_like("a?c", "ac")


def test_api_functions_get_the_public_site_url() -> None:
    for function in ("MaintenancesFunction", "EventsFunction"):
        variables = RESOURCES[function]["Properties"]["Environment"]["Variables"]
        assert variables["PUBLIC_SITE_URL"] == {"Ref": "PublicSiteUrl"}
    assert PARAMETERS["PublicSiteUrl"]["Default"] == ""


# -- failure destinations and retries ---------------------------------------------------------


def _queue(logical_id: str) -> dict[str, Any]:
    queue = RESOURCES[logical_id]
    assert queue["Type"] == "AWS::SQS::Queue"
    properties: dict[str, Any] = queue["Properties"]
    return properties


@pytest.mark.parametrize(
    "queue",
    [
        "SchedulerFailureQueue",
        "NotifierFailureQueue",
        "IndexerFailureQueue",
        "TransitionDeadLetterQueue",
    ],
)
def test_failure_queues_are_encrypted_and_keep_messages_14_days(queue: str) -> None:
    properties = _queue(queue)
    assert properties["SqsManagedSseEnabled"] is True
    assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_scheduler_async_invocations_are_not_retried_and_failures_are_kept() -> None:
    properties = RESOURCES["SchedulerFunction"]["Properties"]
    config = properties["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 0
    assert config["MaximumEventAgeInSeconds"] == 60
    assert config["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["SchedulerFailureQueue", "Arn"]},
    }
    tick = properties["Events"]["Tick"]
    assert tick["Type"] == "Schedule"
    assert tick["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] == 0


def test_scheduler_role_may_send_to_its_failure_queue(transformed: dict[str, Any]) -> None:
    role = _role_of(transformed, "SchedulerFunction")
    assert any(
        "sqs:SendMessage" in _as_list(statement["Action"])
        and _as_list(statement["Resource"]) == [{"Fn::GetAtt": ["SchedulerFailureQueue", "Arn"]}]
        for statement in _statements(role)
    )


def test_notifier_stream_source_gives_up_into_its_failure_queue() -> None:
    event = RESOURCES["NotifierFunction"]["Properties"]["Events"]["StatusChanges"]
    assert event["Type"] == "DynamoDB"
    properties = event["Properties"]
    assert properties["Stream"] == STREAM_ARN
    assert properties["BisectBatchOnFunctionError"] is True
    # Well inside the stream's 24 h retention, so a given-up batch can still be replayed.
    assert 60 <= properties["MaximumRecordAgeInSeconds"] <= 6 * 3600
    assert properties["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["NotifierFailureQueue", "Arn"]},
    }
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_indexer_retries_a_batch_until_it_leaves_the_stream_then_keeps_it() -> None:
    """Counting is idempotent per batch, so retries are safe; nothing may be skipped silently."""
    event = RESOURCES["IndexerFunction"]["Properties"]["Events"]["EventChanges"]
    properties = event["Properties"]
    assert (event["Type"], properties["Stream"]) == ("DynamoDB", STREAM_ARN)
    assert properties["StartingPosition"] == "TRIM_HORIZON"
    assert properties["MaximumRetryAttempts"] == -1
    assert properties["MaximumRecordAgeInSeconds"] == 86400
    assert properties["BisectBatchOnFunctionError"] is True
    assert properties["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["IndexerFailureQueue", "Arn"]},
    }
    assert RESOURCES["IndexerFunction"]["Properties"]["Role"] == {
        "Fn::GetAtt": ["IndexerRole", "Arn"]
    }


def test_notifier_reserved_concurrency_mirrors_the_scheduler() -> None:
    assert PARAMETERS["NotifierConcurrency"]["Type"] == "Number"
    assert PARAMETERS["NotifierConcurrency"]["Default"] >= 1
    assert PARAMETERS["NotifierConcurrency"]["MinValue"] == 0
    assert TEMPLATE["Conditions"]["ReserveNotifierConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "NotifierConcurrency"}, 0]}]
    }
    assert RESOURCES["NotifierFunction"]["Properties"]["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "ReserveNotifierConcurrency",
            {"Ref": "NotifierConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }


# -- logs ---------------------------------------------------------------------------------


def _log_group_with_retention(reference: Any) -> str:
    ((kind, target),) = reference.items()
    logical_id = target[0] if kind == "Fn::GetAtt" else target
    assert kind in ("Ref", "Fn::GetAtt")
    group = RESOURCES[logical_id]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    return str(logical_id)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_logs_to_a_stack_owned_group_with_retention(function: str) -> None:
    logging = RESOURCES[function]["Properties"]["LoggingConfig"]
    _log_group_with_retention(logging["LogGroup"])


def test_log_groups_are_not_shared() -> None:
    groups = [
        _log_group_with_retention(RESOURCES[f]["Properties"]["LoggingConfig"]["LogGroup"])
        for f in FUNCTIONS
    ]
    access = RESOURCES["HttpApi"]["Properties"]["AccessLogSettings"]["DestinationArn"]
    groups.append(_log_group_with_retention(access))
    assert len(set(groups)) == len(groups)


def test_log_retention_parameter() -> None:
    parameter = PARAMETERS["LogRetentionDays"]
    assert parameter["Default"] in parameter["AllowedValues"]
    assert {1, 7, 30, 90, 365, 3653} <= set(parameter["AllowedValues"])


def test_http_api_access_log_is_json_with_the_fields_we_need() -> None:
    settings = RESOURCES["HttpApi"]["Properties"]["AccessLogSettings"]
    assert _log_group_with_retention(settings["DestinationArn"]) == "HttpApiAccessLogGroup"
    fields = json.loads(settings["Format"])
    assert {
        "requestId",
        "ip",
        "routeKey",
        "status",
        "responseLength",
        "integrationError",
        "latency",
    } <= set(fields)
    assert fields["requestId"] == "$context.requestId"


# -- HTTP API throttling ----------------------------------------------------------------------


def test_http_api_default_route_throttling_comes_from_parameters() -> None:
    settings = RESOURCES["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    for name in ("ApiThrottlingBurstLimit", "ApiThrottlingRateLimit"):
        assert PARAMETERS[name]["Type"] == "Number"
        assert PARAMETERS[name]["Default"] >= PARAMETERS[name]["MinValue"] >= 1


def test_throttling_reaches_the_stage(transformed: dict[str, Any]) -> None:
    stages = [
        r for r in transformed["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Stage"
    ]
    assert len(stages) == 1
    properties = stages[0]["Properties"]
    assert properties["DefaultRouteSettings"]["ThrottlingRateLimit"] == {
        "Ref": "ApiThrottlingRateLimit"
    }
    assert properties["AccessLogSettings"]["DestinationArn"] == {
        "Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]
    }


# -- alarms -------------------------------------------------------------------------------

SERVICE = [{"Name": "service", "Value": "maintenance-windows"}]


def _function(name: str) -> list[dict[str, Any]]:
    return [{"Name": "FunctionName", "Value": {"Ref": name}}]


def _queue_name(name: str) -> list[dict[str, Any]]:
    return [{"Name": "QueueName", "Value": {"Fn::GetAtt": [name, "QueueName"]}}]


# logical id: namespace, metric, dimensions, statistic, period, comparison, threshold,
# evaluation periods, datapoints to alarm
SINGLE_METRIC_ALARMS: dict[str, tuple[Any, ...]] = {
    "SchedulerErrorsAlarm": (
        "AWS/Lambda", "Errors", _function("SchedulerFunction"), "Sum", 60,
        "GreaterThanOrEqualToThreshold", 1, 5, 3,
    ),
    "SchedulerStoppedEarlyAlarm": (
        "MaintenanceWindows", "TickStoppedEarly", SERVICE, "Sum", 60,
        "GreaterThanOrEqualToThreshold", 1, 3, 3,
    ),
    "SchedulerBacklogAlarm": (
        "MaintenanceWindows", "DueBacklog", SERVICE, "Maximum", 60,
        "GreaterThanThreshold", 0, 5, 5,
    ),
    "SchedulerTopupFailureAlarm": (
        "MaintenanceWindows", "TopupFailures", SERVICE, "Sum", 300,
        "GreaterThanOrEqualToThreshold", 1, 1, None,
    ),
    "SchedulerFailureQueueAlarm": (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", _queue_name("SchedulerFailureQueue"),
        "Maximum", 300, "GreaterThanThreshold", 0, 1, None,
    ),
    "TransitionWorkerErrorsAlarm": (
        "AWS/Lambda", "Errors", _function("TransitionWorkerFunction"), "Sum", 60,
        "GreaterThanOrEqualToThreshold", 1, 5, 3,
    ),
    "TransitionLagAlarm": (
        "MaintenanceWindows", "QueuedTransitionLag", SERVICE, "Maximum", 60,
        "GreaterThanThreshold", 5, 5, 3,
    ),
    "TransitionDeadLetterQueueAlarm": (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible",
        _queue_name("TransitionDeadLetterQueue"), "Maximum", 300, "GreaterThanThreshold", 0, 1,
        None,
    ),
    "NotifierErrorsAlarm": (
        "AWS/Lambda", "Errors", _function("NotifierFunction"), "Sum", 60,
        "GreaterThanOrEqualToThreshold", 1, 5, 3,
    ),
    "NotifierIteratorAgeAlarm": (
        "AWS/Lambda", "IteratorAge", _function("NotifierFunction"), "Maximum", 60,
        "GreaterThanThreshold", 300000, 3, 3,
    ),
    "NotifierFailureQueueAlarm": (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", _queue_name("NotifierFailureQueue"),
        "Maximum", 300, "GreaterThanThreshold", 0, 1, None,
    ),
    "WebhookDeadLetterQueueAlarm": (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", _queue_name("WebhookDeadLetterQueue"),
        "Maximum", 300, "GreaterThanThreshold", 0, 1, None,
    ),
    "IndexerErrorsAlarm": (
        "AWS/Lambda", "Errors", _function("IndexerFunction"), "Sum", 60,
        "GreaterThanOrEqualToThreshold", 1, 5, 3,
    ),
    "IndexerIteratorAgeAlarm": (
        "AWS/Lambda", "IteratorAge", _function("IndexerFunction"), "Maximum", 60,
        "GreaterThanThreshold", 300000, 3, 3,
    ),
    "IndexerFailureQueueAlarm": (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", _queue_name("IndexerFailureQueue"),
        "Maximum", 300, "GreaterThanThreshold", 0, 1, None,
    ),
    "ReconcilerErrorsAlarm": (
        "AWS/Lambda", "Errors", _function("ReconcilerFunction"), "Sum", 300,
        "GreaterThanOrEqualToThreshold", 1, 3, 2,
    ),
    "DerivedStateDriftAlarm": (
        "MaintenanceWindows", "DerivedStateDrift", SERVICE, "Sum", 300,
        "GreaterThanOrEqualToThreshold", 1, 1, None,
    ),
    "WindowBucketFullAlarm": (
        "MaintenanceWindows", "WindowBucketsFull", SERVICE, "Sum", 300,
        "GreaterThanOrEqualToThreshold", 1, 1, None,
    ),
    "MaintenancesFunctionErrorsAlarm": (
        "AWS/Lambda", "Errors", _function("MaintenancesFunction"), "Sum", 300,
        "GreaterThanOrEqualToThreshold", 5, 1, None,
    ),
    "EventsFunctionErrorsAlarm": (
        "AWS/Lambda", "Errors", _function("EventsFunction"), "Sum", 300,
        "GreaterThanOrEqualToThreshold", 5, 1, None,
    ),
    "MonitorsFunctionErrorsAlarm": (
        "AWS/Lambda", "Errors", _function("MonitorsFunction"), "Sum", 300,
        "GreaterThanOrEqualToThreshold", 5, 1, None,
    ),
    "HttpApi5xxAlarm": (
        "AWS/ApiGateway", "5xx", [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}], "Sum", 300,
        "GreaterThanOrEqualToThreshold", 5, 1, None,
    ),
}  # fmt: skip


def _alarm(logical_id: str) -> dict[str, Any]:
    alarm = RESOURCES[logical_id]
    assert alarm["Type"] == "AWS::CloudWatch::Alarm"
    properties: dict[str, Any] = alarm["Properties"]
    assert properties["TreatMissingData"] == "notBreaching"
    assert properties["AlarmActions"] == ALARM_ACTIONS
    assert properties["OKActions"] == ALARM_ACTIONS
    assert properties["AlarmDescription"]
    return properties


@pytest.mark.parametrize("logical_id", sorted(SINGLE_METRIC_ALARMS))
def test_alarm(logical_id: str) -> None:
    (
        namespace, metric, dimensions, statistic, period, comparison, threshold, evaluation,
        datapoints,
    ) = SINGLE_METRIC_ALARMS[logical_id]  # fmt: skip
    properties = _alarm(logical_id)
    assert properties["Namespace"] == namespace
    assert properties["MetricName"] == metric
    assert properties["Dimensions"] == dimensions
    assert properties["Statistic"] == statistic
    assert properties["Period"] == period
    assert properties["ComparisonOperator"] == comparison
    assert properties["Threshold"] == threshold
    assert properties["EvaluationPeriods"] == evaluation
    assert properties.get("DatapointsToAlarm") == datapoints


def test_a_full_window_bucket_is_counted_from_the_indexers_log_line() -> None:
    from maintsvc.derived.monitor_windows import WINDOW_BUCKET_FULL

    properties = RESOURCES["WindowBucketFullMetricFilter"]["Properties"]
    assert properties["LogGroupName"] == {"Ref": "IndexerLogGroup"}
    assert properties["FilterPattern"] == f'{{ $.message = "{WINDOW_BUCKET_FULL}" }}'
    (transformation,) = properties["MetricTransformations"]
    assert (transformation["MetricNamespace"], transformation["MetricName"]) == (
        "MaintenanceWindows",
        "WindowBucketsFull",
    )
    # The alarm's dimension is the service field every log line carries.
    assert transformation["Dimensions"] == [{"Key": "service", "Value": "$.service"}]
    assert SERVICE == [{"Name": "service", "Value": "maintenance-windows"}]


def test_every_function_has_an_errors_alarm() -> None:
    watched = {
        alarm[2][0]["Value"]["Ref"]
        for alarm in SINGLE_METRIC_ALARMS.values()
        if alarm[:2] == ("AWS/Lambda", "Errors")
    }
    assert watched == set(FUNCTIONS)


def test_table_throttles_alarm_watches_the_table_and_every_gsi() -> None:
    properties = _alarm("TableThrottlesAlarm")
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert properties["Threshold"] == 1
    queries = properties["Metrics"]
    (expression,) = [q for q in queries if q.get("ReturnData") is True]
    assert expression["Expression"] == "SUM(METRICS())"
    watched = set()
    for query in queries:
        if query is expression:
            continue
        assert query["ReturnData"] is False
        stat = query["MetricStat"]
        assert stat["Stat"] == "Sum"
        metric = stat["Metric"]
        assert metric["Namespace"] == "AWS/DynamoDB"
        dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        assert dimensions.pop("TableName") == {"Ref": "Table"}
        watched.add((metric["MetricName"], dimensions.get("GlobalSecondaryIndexName")))
    indexes = [None] + [
        index["IndexName"]
        for index in RESOURCES["Table"]["Properties"].get("GlobalSecondaryIndexes", [])
    ]
    assert watched == {
        (metric, index)
        for metric in ("ReadThrottleEvents", "WriteThrottleEvents")
        for index in indexes
    }


def test_alarm_topic_is_optional() -> None:
    parameter = PARAMETERS["AlarmTopicArn"]
    assert parameter["Default"] == ""
    assert TEMPLATE["Conditions"]["HasAlarmTopic"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]
    }


def test_every_alarm_is_checked() -> None:
    alarms = {lid for lid, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms == set(SINGLE_METRIC_ALARMS) | {"TableThrottlesAlarm"}

"""The optional webhook of template.yaml (WebhookUrl): its resources after the SAM transform.

CloudFormation evaluates conditions at deploy time, so the transformed template still
holds every webhook resource: each must carry `HasWebhook`, and `HasWebhook` must be
`WebhookUrl != ""` (evaluated here with the local harness's resolver, both ways).
"""

import copy
import json
from typing import Any

import pytest

from devtools.template import Resolver
from maintsvc.derived.maintenance_changes import DETAIL_TYPES
from maintsvc.derived.notifications import DETAIL_TYPE, SOURCE
from tests.test_template_guardrails import PARAMETERS, TEMPLATE, transformed

__all__ = ["transformed"]  # the module-scoped fixture, imported for pytest

WEBHOOK_RESOURCES = {
    "WebhookConnection": "AWS::Events::Connection",
    "WebhookApiDestination": "AWS::Events::ApiDestination",
    "WebhookInvokeRole": "AWS::IAM::Role",
    "WebhookStatusRule": "AWS::Events::Rule",
    "WebhookMaintenanceRule": "AWS::Events::Rule",
    "WebhookDeadLetterQueue": "AWS::SQS::Queue",
    "WebhookDeadLetterQueuePolicy": "AWS::SQS::QueuePolicy",
    "WebhookDeadLetterQueueAlarm": "AWS::CloudWatch::Alarm",
}
RULES = ("WebhookStatusRule", "WebhookMaintenanceRule")
DESTINATION_ARN = {"Fn::GetAtt": ["WebhookApiDestination", "Arn"]}


def _resources(transformed: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = transformed["Resources"]
    return resources


def _resolver(**parameters: str) -> Resolver:
    """The harness's condition evaluator, with these parameters' values as their defaults."""
    document = copy.deepcopy(TEMPLATE)
    for name, value in parameters.items():
        document["Parameters"][name]["Default"] = value
    return Resolver(document, "Table", "t", "us-east-1")


def test_the_webhook_parameters_default_to_no_webhook() -> None:
    assert PARAMETERS["WebhookUrl"]["Default"] == ""
    assert PARAMETERS["WebhookAuthHeaderName"]["Default"] == "Authorization"
    assert PARAMETERS["WebhookAuthHeaderSecretArn"]["Default"] == ""
    assert PARAMETERS["WebhookFormat"]["Default"] == "raw"
    assert PARAMETERS["WebhookFormat"]["AllowedValues"] == ["raw", "slack"]


def test_has_webhook_is_webhook_url_not_empty() -> None:
    assert TEMPLATE["Conditions"]["HasWebhook"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "WebhookUrl"}, ""]}]
    }
    assert _resolver().condition("HasWebhook") is False
    assert _resolver(WebhookUrl="https://hooks.example.com/x").condition("HasWebhook") is True
    # The secret and the Slack format only matter with a URL.
    assert _resolver(WebhookAuthHeaderSecretArn="arn:x").condition("HasWebhookSecret") is False
    assert _resolver(WebhookFormat="slack").condition("WebhookSlack") is False
    url = "https://hooks.example.com/x"
    assert _resolver(WebhookUrl=url, WebhookFormat="slack").condition("WebhookSlack") is True


def test_every_webhook_resource_exists_only_with_a_url(transformed: dict[str, Any]) -> None:
    resources = _resources(transformed)
    webhook = {lid: r["Type"] for lid, r in resources.items() if lid.startswith("Webhook")}
    assert webhook == WEBHOOK_RESOURCES
    assert {lid for lid, r in resources.items() if r.get("Condition") == "HasWebhook"} == set(
        WEBHOOK_RESOURCES
    )
    output = transformed["Outputs"]["WebhookDeadLetterQueueUrl"]
    assert output["Condition"] == "HasWebhook"
    # Nothing else refers to them, so a stack without a URL deploys without them.
    others = {lid: r for lid, r in resources.items() if lid not in WEBHOOK_RESOURCES}
    assert "Webhook" not in json.dumps(others)


def test_the_rules_match_every_detail_type_once(transformed: dict[str, Any]) -> None:
    resources = _resources(transformed)
    patterns = [resources[rule]["Properties"]["EventPattern"] for rule in RULES]
    assert all(p["source"] == [SOURCE] and set(p) == {"source", "detail-type"} for p in patterns)
    matched = [t for p in patterns for t in p["detail-type"]]
    assert sorted(matched) == sorted({DETAIL_TYPE, *DETAIL_TYPES})  # each in one rule only
    for rule in RULES:
        properties = resources[rule]["Properties"]
        assert properties["EventBusName"] == {"Ref": "EventBusName"}
        assert properties["State"] == "ENABLED"


@pytest.mark.parametrize("rule", RULES)
def test_the_target_retries_for_an_hour_then_keeps_the_event(
    transformed: dict[str, Any], rule: str
) -> None:
    (target,) = _resources(transformed)[rule]["Properties"]["Targets"]
    assert target["Arn"] == DESTINATION_ARN
    assert target["RoleArn"] == {"Fn::GetAtt": ["WebhookInvokeRole", "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 20, "MaximumEventAgeInSeconds": 3600}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]}}
    when, slack, raw = target["InputTransformer"]["Fn::If"]
    assert (when, raw) == ("WebhookSlack", {"Ref": "AWS::NoValue"})
    # Every path the Slack message names exists in every event the rule matches.
    sample = {
        "WebhookStatusRule": ["bus-event-status-changed.json"],
        "WebhookMaintenanceRule": [
            "bus-maintenance-created.json",
            "bus-maintenance-updated.json",
            "bus-maintenance-deleted.json",
        ],
    }[rule]
    from tests.test_sample_events import sample as read_sample

    for name in sample:
        event = read_sample(name)
        for path in slack["InputPathsMap"].values():
            node: Any = event
            for part in path.removeprefix("$.").split("."):
                assert isinstance(node, dict) and part in node, (name, path)
                node = node[part]
    template = slack["InputTemplate"]
    assert set(json.loads(_filled(template, slack["InputPathsMap"]))) == {"text"}


def _filled(template: str, paths: dict[str, str]) -> str:
    """The Slack template with each <variable> replaced by a plain word (valid JSON check)."""
    for name in paths:
        template = template.replace(f"<{name}>", "x")
    return template


def test_the_role_may_invoke_only_the_api_destination(transformed: dict[str, Any]) -> None:
    role = _resources(transformed)["WebhookInvokeRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert "ManagedPolicyArns" not in role
    (policy,) = role["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Action": ["events:InvokeApiDestination"],
        "Resource": DESTINATION_ARN,
    }


def test_the_connection_sends_the_secret_header(transformed: dict[str, Any]) -> None:
    resources = _resources(transformed)
    connection = resources["WebhookConnection"]["Properties"]
    assert connection["AuthorizationType"] == "API_KEY"
    key = connection["AuthParameters"]["ApiKeyAuthParameters"]
    assert key["ApiKeyName"]["Fn::If"][:2] == ["HasWebhookSecret", {"Ref": "WebhookAuthHeaderName"}]
    assert key["ApiKeyValue"]["Fn::If"][:2] == [
        "HasWebhookSecret",
        {"Fn::Sub": "{{resolve:secretsmanager:${WebhookAuthHeaderSecretArn}}}"},
    ]
    destination = resources["WebhookApiDestination"]["Properties"]
    assert destination["ConnectionArn"] == {"Fn::GetAtt": ["WebhookConnection", "Arn"]}
    assert destination["HttpMethod"] == "POST"
    assert destination["InvocationEndpoint"] == {"Ref": "WebhookUrl"}
    assert PARAMETERS["WebhookUrl"]["AllowedPattern"] == "^(https://[^\\s]+)?$"


def test_the_dead_letter_queue_is_encrypted_and_only_the_rules_may_send(
    transformed: dict[str, Any],
) -> None:
    resources = _resources(transformed)
    queue = resources["WebhookDeadLetterQueue"]["Properties"]
    assert queue == {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 24 * 3600}
    policy = resources["WebhookDeadLetterQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "WebhookDeadLetterQueue"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": {"Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"]},
        "Condition": {
            "ArnEquals": {"aws:SourceArn": [{"Fn::GetAtt": [rule, "Arn"]} for rule in RULES]}
        },
    }

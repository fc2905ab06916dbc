"""template.yaml read the way the local stack needs it.

The dev server, the tests, `make bench` and `make fuzz` take the table, the
functions, the HTTP routes, the schedules and the table's stream consumers
from the SAM template itself, so the local stack cannot drift from what is
deployed. Only the intrinsic functions those parts use are resolved (`Ref`,
`GetAtt` of the table, `Sub`, `Join`, `If` with `Equals`/`Not`/`And`/`Or`
conditions); anything else raises TemplateError naming what is missing
instead of running with a wrong value.

`load_template` parses a file once per process (the test suite asks for it
hundreds of times); the cache is keyed by the file's modification time, so
an edited template is read again.
"""

import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
LOCAL_TABLE_NAME = "maintenance-windows-local"
LOCAL_STACK_NAME = "maintenance-windows-local"
ACCOUNT_ID = "123456789012"
# The label of the table's stream ARN locally (AWS uses the stream's creation time).
LOCAL_STREAM_LABEL = "local"
# Operators of Lambda event filtering that `pattern_matches` (devtools.triggers) implements.
FILTER_OPERATORS = frozenset({"prefix", "suffix", "anything-but", "exists"})
# Where a DynamoDB stream's event source mapping starts without a checkpoint.
STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST")

_SUB_VARIABLE = re.compile(r"\$\{(!?)([^}]+)\}")
_INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")


class TemplateError(Exception):
    """The template lacks something the local stack needs, or uses what it cannot resolve."""


class _NoValue:
    """`!Ref AWS::NoValue`: the property disappears, as in CloudFormation."""


NO_VALUE = _NoValue()


def _tag_constructor(loader: Any, tag_suffix: str, node: Any) -> dict[str, Any]:
    """Turn `!Name arg` into the long form CloudFormation gives it (`{"Fn::Name": arg}`)."""
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


# A SafeLoader of our own, so the short tags are not registered on PyYAML's global one.
_CfnLoader: Any = type("_CfnLoader", (yaml.SafeLoader,), {})
_CfnLoader.add_multi_constructor("!", _tag_constructor)


def read_yaml(path: Path) -> dict[str, Any]:
    """The template as plain data, short tags (`!Ref`, `!Sub`, ...) in their long form."""
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506
    if not isinstance(document, dict):
        raise TemplateError(f"{path} is not a YAML mapping")
    return document


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    name = str(next(iter(value)))
    return name in ("Ref", "Condition") or name.startswith("Fn::")


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rule: maps merge, lists append (globals first), anything else is replaced."""
    if _is_intrinsic(global_value) or _is_intrinsic(local_value):
        return local_value
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(global_value[key], value) if key in merged else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def stringify(value: Any) -> str:
    """A value as CloudFormation writes it into an environment variable (`true`, not `True`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Resolver:
    """Evaluates the intrinsic functions of one template against local stand-ins."""

    def __init__(
        self,
        document: Mapping[str, Any],
        table_logical_id: str,
        table_name: str,
        region: str,
        sqs_endpoint: str = "",
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self._document = document
        self._table_logical_id = table_logical_id
        self._table_name = table_name
        self._sqs_endpoint = sqs_endpoint
        self._overrides = dict(parameters or {})
        self._pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": LOCAL_STACK_NAME,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }

    def value(self, node: Any) -> Any:
        """`node` with every intrinsic function replaced by its local value."""
        if isinstance(node, list):
            resolved = [self.value(item) for item in node]
            return [item for item in resolved if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if _is_intrinsic(node):
            ((name, argument),) = node.items()
            return self._intrinsic(name, argument)
        resolved_map = {key: self.value(item) for key, item in node.items()}
        return {key: item for key, item in resolved_map.items() if item is not NO_VALUE}

    def condition(self, name: str) -> bool:
        conditions = self._document.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"unknown condition {name!r}")
        return self._truth(conditions[name])

    def _truth(self, node: Any) -> bool:
        if not _is_intrinsic(node):
            raise TemplateError(f"cannot evaluate condition {node!r}")
        ((name, argument),) = node.items()
        if name == "Condition":
            return self.condition(argument)
        if name == "Fn::Equals":
            left, right = (stringify(self.value(side)) for side in argument)
            return left == right
        if name == "Fn::Not":
            return not self._truth(argument[0])
        if name == "Fn::And":
            return all(self._truth(item) for item in argument)
        if name == "Fn::Or":
            return any(self._truth(item) for item in argument)
        raise TemplateError(f"devserver cannot evaluate condition function {name}")

    def _intrinsic(self, name: str, argument: Any) -> Any:
        if name == "Ref":
            return self._ref(argument)
        if name == "Fn::GetAtt":
            return self._get_att(*argument)
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::Join":
            separator, items = argument
            return separator.join(stringify(item) for item in self.value(items))
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self.value(when_true if self.condition(condition) else when_false)
        raise TemplateError(f"devserver cannot resolve {name}")

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._pseudo:
            return self._pseudo[name]
        if name == self._table_logical_id:
            return self._table_name
        parameters = self._document.get("Parameters") or {}
        if name in parameters:
            if name in self._overrides:
                return self._override(name, parameters[name])
            if "Default" not in parameters[name]:
                raise TemplateError(f"parameter {name} has no Default to run with locally")
            return stringify(parameters[name]["Default"])
        resources = self._document.get("Resources") or {}
        if resources.get(name, {}).get("Type") == "AWS::SQS::Queue":
            return self.queue_url(name)
        if name in resources:
            # Other resources have no local counterpart; their logical id names them
            # (a layer reference, for instance, is looked up by it).
            return name
        raise TemplateError(f"!Ref to unknown name {name!r}")

    def _override(self, name: str, parameter: Mapping[str, Any]) -> str:
        """A value given for parameter `name`, checked as CloudFormation checks it (its
        AllowedPattern and AllowedValues), so it fails here rather than at deploy."""
        value = self._overrides[name]
        pattern = parameter.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(str(pattern), value):
            raise TemplateError(f"parameter {name}: {value!r} does not match {pattern}")
        allowed = parameter.get("AllowedValues")
        if allowed is not None and value not in [stringify(v) for v in allowed]:
            raise TemplateError(f"parameter {name}: {value!r} is not one of {allowed}")
        return value

    def queue_url(self, logical_id: str) -> str:
        """The queue's URL in the local SQS (moto names it by its logical id); "" without one."""
        if not self._sqs_endpoint:
            return ""
        return f"{self._sqs_endpoint.rstrip('/')}/{ACCOUNT_ID}/{logical_id}"

    def table_arn(self) -> str:
        region = self._pseudo["AWS::Region"]
        return f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{self._table_name}"

    def _get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id == self._table_logical_id and attribute == "Arn":
            return self.table_arn()
        if logical_id == self._table_logical_id and attribute == "StreamArn":
            return f"{self.table_arn()}/stream/{LOCAL_STREAM_LABEL}"
        resources = self._document.get("Resources") or {}
        if logical_id in resources and attribute in ("Arn", "QueueName"):
            # A resource the local stack has no counterpart for (a failure queue, a
            # role): a stable name is all a function's configuration needs locally.
            region = self._pseudo["AWS::Region"]
            if attribute == "QueueName":
                return logical_id
            service = str(resources[logical_id].get("Type", "")).split("::")[1].lower()
            return f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{logical_id}"
        raise TemplateError(f"devserver cannot resolve !GetAtt {logical_id}.{attribute}")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {key: stringify(self.value(item)) for key, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            literal, name = match.groups()
            if literal:
                return "${" + name + "}"
            if name in values:
                return values[name]
            if "." in name:
                return self._get_att(*name.split(".", 1))
            return stringify(self._ref(name))

        return _SUB_VARIABLE.sub(replace, text)


@dataclass(frozen=True)
class FunctionSpec:
    """One AWS::Serverless::Function with Globals applied and values resolved."""

    logical_id: str
    code_dir: Path
    handler: str
    timeout: int
    memory_size: int
    environment: dict[str, str]
    layer_dirs: tuple[Path, ...]

    @property
    def module_file(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class HttpRoute:
    """An HttpApi event: `method` is upper case or ANY; path None is the `$default` route."""

    method: str
    path: str | None
    function: FunctionSpec
    event_name: str

    @property
    def route_key(self) -> str:
        return "$default" if self.path is None else f"{self.method} {self.path}"

    @property
    def segments(self) -> tuple[str, ...]:
        return () if self.path is None else tuple(self.path.split("/")[1:])


@dataclass(frozen=True)
class ScheduleSpec:
    """A Schedule event (EventBridge rule) of a function."""

    function: FunctionSpec
    event_name: str
    expression: str

    @property
    def rule_name(self) -> str:
        return f"{LOCAL_STACK_NAME}-{self.function.logical_id}{self.event_name}"

    @property
    def every_minutes(self) -> int:
        """The period of a `rate(N minute[s])` or `rate(N hour[s])` expression, in minutes
        (1 for anything else: the local ticker runs it every tick)."""
        match = re.fullmatch(r"rate\((\d+) (minute|hour)s?\)", self.expression.strip())
        if match is None:
            return 1
        return max(1, int(match.group(1)) * (60 if match.group(2) == "hour" else 1))


@dataclass(frozen=True)
class StreamSpec:
    """A DynamoDB event source (the table's stream) of a function, as Lambda polls it.

    `filters` are the FilterCriteria patterns, parsed; a record is delivered
    when any of them matches (none: every record). `on_table` says whether the
    stream is the template table's own (the only one the local stack has).
    `starting_position` (TRIM_HORIZON or LATEST) is where a mapping without a
    checkpoint starts reading.
    """

    function: FunctionSpec
    event_name: str
    on_table: bool
    batch_size: int
    batching_window_seconds: float
    maximum_retry_attempts: int
    report_batch_item_failures: bool
    filters: tuple[dict[str, Any], ...]
    starting_position: str = "LATEST"


@dataclass(frozen=True)
class QueueSpec:
    """An AWS::SQS::Queue as CreateQueue arguments (moto names it by its logical id)."""

    logical_id: str
    url: str
    attributes: dict[str, str]
    dead_letter_queue: str | None


@dataclass(frozen=True)
class QueueSourceSpec:
    """An SQS event source of a function, as Lambda polls it."""

    function: FunctionSpec
    event_name: str
    queue: str
    batch_size: int
    report_batch_item_failures: bool


@dataclass(frozen=True)
class TableSpec:
    """The AWS::DynamoDB::Table as CreateTable arguments (less TableName) plus its TTL."""

    logical_id: str
    create_arguments: dict[str, Any]
    ttl_attribute: str | None


@dataclass(frozen=True)
class Template:
    """The parts of one template the local stack runs, resolved for `table_name` in `region`."""

    path: Path
    table_name: str
    region: str
    table: TableSpec
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    routes: list[HttpRoute] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)
    streams: list[StreamSpec] = field(default_factory=list)
    queues: list[QueueSpec] = field(default_factory=list)
    queue_sources: list[QueueSourceSpec] = field(default_factory=list)


def load_template(
    path: Path = DEFAULT_TEMPLATE,
    table_name: str = LOCAL_TABLE_NAME,
    region: str = "us-east-1",
    parameters: Mapping[str, str] | None = None,
) -> Template:
    """Parse `path`; `!Ref` of the table resolves to `table_name`, parameters to their Default.

    `parameters` overrides some, as `sam deploy --parameter-overrides` does
    (a name the template does not declare is left out: the dev server gives
    its own defaults to any template it runs). The result is shared by every
    caller with the same arguments while the file is unchanged: treat it as
    read-only.
    """
    resolved = path.resolve()
    stat = resolved.stat()
    sqs = os.environ.get("AWS_ENDPOINT_URL_SQS", "")  # queue URLs point at the local SQS
    overrides = tuple(sorted((parameters or {}).items()))
    return _load_template(
        resolved, stat.st_mtime_ns, stat.st_size, table_name, region, sqs, overrides
    )


@functools.lru_cache(maxsize=32)
def _load_template(
    path: Path,
    mtime_ns: int,
    size: int,
    table_name: str,
    region: str,
    sqs_endpoint: str,
    overrides: tuple[tuple[str, str], ...] = (),
) -> Template:
    document = read_yaml(path)
    resources: dict[str, Any] = document.get("Resources") or {}
    tables = [lid for lid, r in resources.items() if r.get("Type") == "AWS::DynamoDB::Table"]
    if len(tables) != 1:
        raise TemplateError(f"expected one AWS::DynamoDB::Table in {path}, found {len(tables)}")
    resolver = Resolver(document, tables[0], table_name, region, sqs_endpoint, dict(overrides))
    globals_function = (document.get("Globals") or {}).get("Function") or {}
    table = _table_spec(resolver, tables[0], resources[tables[0]])
    template = Template(path, table_name, region, table)
    for logical_id, resource in resources.items():
        if resource.get("Type") == "AWS::SQS::Queue":
            template.queues.append(_queue_spec(resolver, logical_id, resource))
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        properties = merge_globals(globals_function, resource.get("Properties") or {})
        function = _function_spec(resolver, path.parent, resources, logical_id, properties)
        template.functions[logical_id] = function
        for event_name, event in (properties.get("Events") or {}).items():
            _add_event(template, resolver, function, event_name, event)
    return template


def _add_event(
    template: Template,
    resolver: Resolver,
    function: FunctionSpec,
    event_name: str,
    event: Mapping[str, Any],
) -> None:
    """Record one event source of `function`; kinds the local stack cannot run stay unresolved."""
    kind = event.get("Type")
    if kind not in ("HttpApi", "Schedule", "DynamoDB", "SQS"):
        return  # Kinesis, S3...: nothing local produces them
    properties = resolver.value(event.get("Properties") or {})
    if kind == "HttpApi":
        template.routes.append(_http_route(function, event_name, properties))
    elif kind == "Schedule":
        if _schedule_enabled(properties):
            template.schedules.append(
                ScheduleSpec(function, event_name, str(properties["Schedule"]))
            )
    elif kind == "SQS":
        if properties.get("Enabled", True) is not False:
            template.queue_sources.append(
                QueueSourceSpec(
                    function,
                    event_name,
                    str(properties["Queue"]).rsplit(":", 1)[-1],
                    int(properties.get("BatchSize", 10)),
                    "ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or []),
                )
            )
    elif properties.get("Enabled", True) is not False:
        on_table = str(properties.get("Stream", "")).startswith(f"{resolver.table_arn()}/stream/")
        template.streams.append(_stream_spec(function, event_name, on_table, properties))


def _queue_spec(resolver: Resolver, logical_id: str, resource: Mapping[str, Any]) -> QueueSpec:
    """CreateQueue attributes moto understands; the dead-letter queue's logical id, if any."""
    properties = resolver.value(resource.get("Properties") or {})
    attributes = {
        name: stringify(properties[name])
        for name in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds")
        if name in properties
    }
    dead_letter = None
    if "RedrivePolicy" in properties:
        attributes["RedrivePolicy"] = json.dumps(properties["RedrivePolicy"])
        dead_letter = str(properties["RedrivePolicy"]["deadLetterTargetArn"]).rsplit(":", 1)[-1]
    return QueueSpec(logical_id, resolver.queue_url(logical_id), attributes, dead_letter)


def _table_spec(resolver: Resolver, logical_id: str, resource: Mapping[str, Any]) -> TableSpec:
    """CreateTable takes the key and index definitions as written; TTL needs a second call.

    Point-in-time recovery and deletion protection mean nothing locally, so
    they are left out; a stream (StreamViewType) is kept so the local table
    is the deployed one.
    """
    properties = resource.get("Properties") or {}
    arguments: dict[str, Any] = {}
    for key in ("AttributeDefinitions", "KeySchema", "BillingMode", "ProvisionedThroughput"):
        if key in properties:
            arguments[key] = resolver.value(properties[key])
    for key in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
        if key in properties:
            arguments[key] = [
                {k: v for k, v in index.items() if k in _INDEX_KEYS}
                for index in resolver.value(properties[key])
            ]
    stream = resolver.value(properties.get("StreamSpecification") or {})
    if "StreamViewType" in stream:
        arguments["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    ttl = resolver.value(properties.get("TimeToLiveSpecification") or {})
    ttl_attribute = ttl["AttributeName"] if ttl.get("Enabled") is True else None
    return TableSpec(logical_id, arguments, ttl_attribute)


def _function_spec(
    resolver: Resolver,
    base_dir: Path,
    resources: Mapping[str, Any],
    logical_id: str,
    properties: Mapping[str, Any],
) -> FunctionSpec:
    for required in ("CodeUri", "Handler"):
        if required not in properties:
            raise TemplateError(f"{logical_id} has no {required}; devserver runs only zip code")
    variables = (properties.get("Environment") or {}).get("Variables") or {}
    layer_dirs: list[Path] = []
    for layer in resolver.value(properties.get("Layers") or []):
        layer_resource = resources.get(layer) if isinstance(layer, str) else None
        # A layer given by ARN lives in AWS only; its libraries come from the venv locally.
        if layer_resource and layer_resource.get("Type") == "AWS::Serverless::LayerVersion":
            content = base_dir / str(resolver.value(layer_resource["Properties"]["ContentUri"]))
            # Without a BuildMethod the layer ships as is, Python code under python/.
            built = "BuildMethod" in (layer_resource.get("Metadata") or {})
            layer_dirs.append(content if built else content / "python")
    return FunctionSpec(
        logical_id=logical_id,
        code_dir=base_dir / str(resolver.value(properties["CodeUri"])),
        handler=str(resolver.value(properties["Handler"])),
        timeout=int(resolver.value(properties.get("Timeout", 3))),
        memory_size=int(resolver.value(properties.get("MemorySize", 128))),
        environment={name: stringify(value) for name, value in resolver.value(variables).items()},
        layer_dirs=tuple(layer_dirs),
    )


def _http_route(
    function: FunctionSpec, event_name: str, properties: Mapping[str, Any]
) -> HttpRoute:
    """SAM's HttpApi event: no Path and Method is the `$default` catch-all route."""
    path = properties.get("Path")
    method = str(properties.get("Method", "ANY")).upper()
    return HttpRoute("ANY" if path is None else method, path, function, event_name)


def _schedule_enabled(properties: Mapping[str, Any]) -> bool:
    return properties.get("Enabled", True) is not False and properties.get("State") != "DISABLED"


def _stream_spec(
    function: FunctionSpec, event_name: str, on_table: bool, properties: Mapping[str, Any]
) -> StreamSpec:
    """Lambda's defaults where the template is silent (BatchSize 100, retries until expiry).

    MaximumRetryAttempts -1 (or absent) means "until the record expires"
    when deployed; locally that is taken as 10,000 attempts.
    """
    filters = []
    for entry in (properties.get("FilterCriteria") or {}).get("Filters") or []:
        try:
            pattern = json.loads(entry["Pattern"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TemplateError(
                f"{function.logical_id}.{event_name}: bad filter {entry!r}"
            ) from exc
        _check_pattern(pattern, f"{function.logical_id}.{event_name}")
        filters.append(pattern)
    retries = int(properties.get("MaximumRetryAttempts", -1))
    starting_position = properties.get("StartingPosition")
    if starting_position not in STARTING_POSITIONS:
        raise TemplateError(
            f"{function.logical_id}.{event_name}: StartingPosition must be one of "
            f"{', '.join(STARTING_POSITIONS)} (a DynamoDB stream has no other), "
            f"got {starting_position!r}"
        )
    return StreamSpec(
        function=function,
        event_name=event_name,
        on_table=on_table,
        batch_size=int(properties.get("BatchSize", 100)),
        batching_window_seconds=float(properties.get("MaximumBatchingWindowInSeconds", 0)),
        maximum_retry_attempts=10_000 if retries < 0 else retries,
        report_batch_item_failures="ReportBatchItemFailures"
        in (properties.get("FunctionResponseTypes") or []),
        filters=tuple(filters),
        starting_position=starting_position,
    )


def _check_pattern(pattern: Any, where: str) -> None:
    """A filter pattern is nested objects ending in lists of values or operator objects.

    An operator the local stack does not implement is refused here, so a
    filter never silently lets through what it would stop when deployed.
    """
    if not isinstance(pattern, dict):
        raise TemplateError(f"{where}: a filter pattern level must be an object, got {pattern!r}")
    for value in pattern.values():
        if isinstance(value, dict):
            _check_pattern(value, where)
            continue
        if not isinstance(value, list):
            raise TemplateError(f"{where}: pattern values must be lists, got {value!r}")
        for rule in value:
            if isinstance(rule, dict) and not set(rule) <= FILTER_OPERATORS:
                unknown = ", ".join(sorted(set(rule) - FILTER_OPERATORS))
                raise TemplateError(f"{where}: filter operator {unknown} is not run locally")

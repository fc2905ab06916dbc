"""Lambda, as the local stack needs it: contexts, handler loading, concurrent invocation.

The dev server, the tests and `make bench` run the deployed handler files in
this process. What this module stands in for:

* The context object the Python runtime passes (`LambdaContext`), with the
  function's memory and a `get_remaining_time_in_millis()` that counts down
  its Timeout.
* Loading: every function's module is `app.py`, so each is imported by file
  path under a module name of its own, with its code directory on sys.path
  while it imports and its layers on sys.path for good.
* Execution environments: like Lambda, one environment serves one request
  at a time, and a request that finds every environment of its function busy
  gets a new one (a cold start: the module imported afresh). Handlers keep
  per-request state in module globals (powertools' resolver holds the
  current event), so two requests must never share a module at once; with
  an environment each they run concurrently and none waits for another.
* Environment variables are one per process, not per function. The variables
  every function of the template has with the same value are set once, for
  the life of the `LocalLambda`; a function's own variables (PUBLIC_SITE_URL
  of the API functions, the scheduler's queue URL) are layered over
  `os.environ` for its invocation only, in a context variable, so each
  function sees its own and no other function sees them, and functions with
  variables of their own still run at the same time as the rest. (They used
  to run alone, with their variables set process-wide: every API request then
  waited for any stream batch in progress, 3-10 s for the indexer's.) The
  layer follows an invocation into the thread pools it starts
  (`ThreadPoolExecutor.submit` runs work in a copy of the submitter's context
  inside an invocation), as it would in a Lambda environment of its own.
"""

import contextvars
import importlib.util
import os
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, cast

from devtools.template import ACCOUNT_ID, FunctionSpec

Handler = Callable[[dict[str, Any], Any], Any]

# Imports change sys.path and sys.modules: one at a time.
_import_lock = threading.Lock()


@dataclass
class LambdaContext:
    """The context object the Python runtime passes to a handler.

    `LambdaContext()` is a generic one (tests); `for_function` is the one a
    given function gets, its deadline counted from now.
    """

    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "test"
    deadline: float = field(default_factory=lambda: time.monotonic() + 29)
    function_version: str = "$LATEST"
    identity: None = None
    client_context: None = None

    @classmethod
    def for_function(cls, function: FunctionSpec, region: str) -> "LambdaContext":
        name = function.logical_id
        return cls(
            function_name=name,
            memory_limit_in_mb=function.memory_size,
            invoked_function_arn=f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}",
            log_group_name=f"/aws/lambda/{name}",
            log_stream_name=time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime())
            + secrets.token_hex(16),
            deadline=time.monotonic() + function.timeout,
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def import_handler_module(function: FunctionSpec, module_name: str) -> ModuleType:
    """Import `function`'s handler file as a new module `module_name` (a cold start).

    Its layers join sys.path for good (as /opt/python does on Lambda); its code
    directory only while it imports, so the next function's `app` is its own.
    A module that fails to import is not left in sys.modules.
    """
    with _import_lock:
        for layer in function.layer_dirs:
            if str(layer) not in sys.path:
                sys.path.append(str(layer))
        spec = importlib.util.spec_from_file_location(module_name, function.module_file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {function.module_file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        sys.path.insert(0, str(function.code_dir))
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
        finally:
            sys.path.remove(str(function.code_dir))
    return module


def handler_of(module: ModuleType, function: FunctionSpec) -> Handler:
    return cast(Handler, getattr(module, function.handler_name))


def shared_variables(functions: Iterable[FunctionSpec]) -> dict[str, str]:
    """The variables every function has, with the same value (endpoints excluded).

    AWS_ENDPOINT_URL_* stay as the local stack set them: a template may
    declare them (empty, for `sam local --env-vars` to fill in), and an empty
    value must not send a handler from the local DynamoDB to AWS.
    """
    specs = list(functions)
    if not specs:
        return {}
    return {
        name: value
        for name, value in specs[0].environment.items()
        if not name.startswith("AWS_ENDPOINT_URL")
        and all(spec.environment.get(name) == value for spec in specs[1:])
    }


def set_variables(resources: ExitStack, variables: Mapping[str, str]) -> None:
    """Set environment variables until `resources` closes (tests run several stacks)."""
    for name, value in variables.items():
        previous = os.environ.get(name)
        os.environ[name] = value
        resources.callback(_restore_variable, name, previous)


def default_aws_environment(resources: ExitStack) -> str:
    """Region and dummy credentials where unset, until `resources` closes: local endpoints
    accept any, and boto3 refuses to sign without them. Returns the region."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    defaults = {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    set_variables(resources, {name: v for name, v in defaults.items() if not os.environ.get(name)})
    return region


def _restore_variable(name: str, previous: str | None) -> None:
    if previous is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = previous


# The running invocation's own environment variables (None outside an invocation).
_own_variables: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "function_variables", default=None
)


class _LayeredEnviron(os._Environ[str]):
    """os.environ with the current invocation's own variables over the process's.

    Installed as the class of the one `os.environ` object (so `os.getenv` and
    every module that kept a reference see it too); outside an invocation it
    behaves exactly as before. Writes of a layered name stay in the layer.
    """

    def __getitem__(self, key: str) -> str:
        own = _own_variables.get()
        if own is not None and key in own:
            return own[key]
        return super().__getitem__(key)

    def __setitem__(self, key: str, value: str) -> None:
        own = _own_variables.get()
        if own is not None and key in own:
            own[key] = value
        else:
            super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        own = _own_variables.get()
        if own is not None and key in own:
            del own[key]
        else:
            super().__delitem__(key)

    def __iter__(self) -> Iterator[str]:
        own = _own_variables.get()
        yield from own or ()
        for key in super().__iter__():
            if not own or key not in own:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)


_plain_submit = ThreadPoolExecutor.submit


def _submit_in_context(
    self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
) -> "Future[Any]":
    """ThreadPoolExecutor.submit; inside an invocation, the work runs in a copy of its context.

    Python 3.11 starts every thread in an empty context: without this, a
    handler's worker threads would lose its environment layer (and the
    background mark of devtools.priority).
    """
    if _own_variables.get() is None:
        return _plain_submit(self, fn, *args, **kwargs)
    return _plain_submit(self, contextvars.copy_context().run, fn, *args, **kwargs)


def install_layered_environment() -> None:
    """Make os.environ layered and thread pools context-keeping, once per process."""
    if not isinstance(os.environ, _LayeredEnviron):
        os.environ.__class__ = _LayeredEnviron
    if ThreadPoolExecutor.submit is not _submit_in_context:
        ThreadPoolExecutor.submit = _submit_in_context  # type: ignore[method-assign,assignment]


@contextmanager
def function_variables(variables: Mapping[str, str]) -> Iterator[None]:
    """`variables` over os.environ in this context (and pools it starts) while the block runs."""
    token = _own_variables.set(dict(variables))
    try:
        yield
    finally:
        _own_variables.reset(token)


class LocalLambda:
    """Invokes the template's functions in this process, concurrently (see module doc).

    `close()` restores the environment variables set at construction.
    """

    def __init__(self, functions: Iterable[FunctionSpec], region: str) -> None:
        self._region = region
        self._functions = list(functions)
        self._shared = shared_variables(self._functions)
        self._resources = ExitStack()
        set_variables(self._resources, self._shared)
        install_layered_environment()
        self._pool_lock = threading.Lock()
        self._idle: dict[str, list[Handler]] = {}
        self._started: dict[str, int] = {}

    def close(self) -> None:
        self._resources.close()

    def invoke(self, function: FunctionSpec, event: dict[str, Any]) -> Any:
        """Run `function` on `event` in an idle environment (a new one if none is idle)."""
        own = {
            name: value
            for name, value in function.environment.items()
            if not name.startswith("AWS_ENDPOINT_URL") and self._shared.get(name) != value
        }
        # Set before the handler is taken: a cold start imports with the variables set.
        with function_variables(own):
            handler = self._take(function)
            try:
                return self._run(function, handler, event)
            finally:
                with self._pool_lock:
                    self._idle.setdefault(function.logical_id, []).append(handler)

    def _run(self, function: FunctionSpec, handler: Handler, event: dict[str, Any]) -> Any:
        context = LambdaContext.for_function(function, self._region)
        try:
            return handler(event, context)
        finally:
            if context.get_remaining_time_in_millis() == 0:
                print(
                    f"devserver: {function.logical_id} ran past its {function.timeout} s "
                    "Timeout; deployed, Lambda would have stopped it",
                    file=sys.stderr,
                )

    def _take(self, function: FunctionSpec) -> Handler:
        with self._pool_lock:
            idle = self._idle.get(function.logical_id)
            if idle:
                return idle.pop()
            number = self._started.get(function.logical_id, 0) + 1
            self._started[function.logical_id] = number
        # The first environment keeps the plain name; later ones are numbered.
        suffix = "" if number == 1 else f"_{number}"
        module = import_handler_module(
            function, f"devserver_function_{function.logical_id}{suffix}"
        )
        return handler_of(module, function)

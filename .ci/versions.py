"""Version bookkeeping for CI's range checks (stdlib only).

python .ci/versions.py lower-bounds EXTRA [EXTRA ...]
    pins (``name==lower``) for the core dependencies and the named extras, read
    from pyproject.toml: the oldest versions our ranges allow.
python .ci/versions.py floors EXTRA [EXTRA ...]
    after an oldest-versions install: fails unless every direct dependency is
    installed at exactly its declared lower bound, so the range pyproject.toml
    declares is the range CI proves (a floor no resolution can reach is raised
    in pyproject.toml, not silently skipped).
python .ci/versions.py drift LOCK
    installed packages whose version differs from the lock, direct
    dependencies first.
python .ci/versions.py blame LOCK JUNIT_XML
    for a failed run: which installed packages the failures ran through
    (their frames or warnings name the package's files), with the installed
    and the locked version, so a break at the newest versions names its cause.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from importlib import metadata
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "redis-llm-cache"
#: Installers in the venv, not dependencies of ours.
TOOLING = frozenset({"pip", "setuptools", "wheel", "uv"})
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(extras: list[str]) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional = project.get("optional-dependencies", {})
    wanted, seen, out = list(extras), set(), list(project["dependencies"])
    while wanted:  # extras may name other extras of ours: redis-llm-cache[a,b]
        extra = wanted.pop()
        if extra in seen:
            continue
        seen.add(extra)
        if extra not in optional:
            sys.exit(f"pyproject.toml has no extra {extra!r}")
        for requirement in optional[extra]:
            name, bracket, _ = _REQUIREMENT.match(requirement).groups()  # type: ignore[union-attr]
            if canonical(name) == PROJECT:
                wanted.extend(part.strip() for part in bracket.strip("[]").split(","))
            else:
                out.append(requirement)
    return out


def lower_bounds(extras: list[str]) -> list[str]:
    pins: dict[str, str] = {}
    for requirement in _requirements(extras):
        name, _, spec = _REQUIREMENT.match(requirement).groups()  # type: ignore[union-attr]
        lower = re.search(r">=\s*([^,;\s]+)", spec.split("#")[0])
        if lower is None:
            sys.exit(f"{requirement!r} has no lower bound: every dependency must declare one")
        pins[canonical(name)] = lower.group(1)
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def floors(extras: list[str]) -> int:
    now, wrong = installed(), 0
    for pin in lower_bounds(extras):
        name, declared = pin.split("==")
        have = now.get(name, "not installed")
        if _release(have) != _release(declared):
            wrong += 1
            print(
                f"  {name}: pyproject.toml declares >={declared}, the oldest installable is {have}"
            )
    if wrong:
        print(
            "  raise those lower bounds to what installs, so the declared range is the tested one"
        )
    return wrong


def _release(version: str) -> tuple[int, ...]:
    """``1.24`` and ``1.24.0`` compare equal; pre/post-release tags are kept apart."""
    parts = [int(p) if p.isdigit() else -1 for p in version.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _applies(marker: str) -> bool:
    """Whether a lock line's environment marker holds for this interpreter (the lock
    is universal: one package can have a line per Python version)."""
    if not marker:
        return True
    try:
        from packaging.markers import Marker  # installed with pytest
    except ImportError:
        return True
    return Marker(marker).evaluate()


def read_lock(path: str) -> dict[str, str]:
    lock = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, rest = line.split("==", 1)
            version, _, marker = rest.partition(";")
            if _applies(marker.strip()):
                lock[canonical(name)] = version.strip()
    return lock


def installed() -> dict[str, str]:
    return {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}


def direct_dependencies() -> set[str]:
    return {
        canonical(_REQUIREMENT.match(r).group(1))  # type: ignore[union-attr]
        for r in _requirements(list(_all_extras()))
    }


def _all_extras() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project.get("optional-dependencies", {}))


def drift(lock_path: str) -> list[tuple[str, str, str]]:
    lock, now, direct = read_lock(lock_path), installed(), direct_dependencies()
    changed = [
        (name, version, lock.get(name, "not locked"))
        for name, version in now.items()
        if name != PROJECT and name not in TOOLING and lock.get(name) != version
    ]
    return sorted(changed, key=lambda row: (row[0] not in direct, row[0]))


def _module_owners() -> dict[str, set[str]]:
    owners: dict[str, set[str]] = {}
    for module, dists in metadata.packages_distributions().items():
        owners[module] = {canonical(d) for d in dists}
    return owners


def blame(lock_path: str, junit: str) -> None:
    failures = [
        (
            case.get("classname", "") + "::" + case.get("name", ""),
            node.text or node.get("message", ""),
        )
        for case in ET.parse(junit).getroot().iter("testcase")
        for node in case
        if node.tag in ("failure", "error")
    ]
    lock, now = read_lock(lock_path), installed()
    owners = _module_owners()
    hits: Counter[str] = Counter()
    for _, text in failures:
        modules = set(re.findall(r"site-packages/([A-Za-z0-9_]+)", text))
        for dist in {d for m in modules for d in owners.get(m, ())}:
            if dist not in ("pytest", "pluggy", PROJECT):
                hits[dist] += 1
    print(f"{len(failures)} failed test(s) at these versions.")
    for dist, count in hits.most_common():
        changed = "" if lock.get(dist) == now.get(dist) else "  <-- differs from the lock"
        print(
            f"  {dist}=={now.get(dist, '?')} (locked {lock.get(dist, 'not locked')}):"
            f" in {count} failure(s){changed}"
        )
    if not hits:
        print("  no installed package appears in the failures' tracebacks; see the drift above")
    for name, text in failures[:5]:
        last = [line for line in text.strip().splitlines() if line.startswith("E ")][-1:] or [""]
        print(f"  {name}: {last[0][:300]}")


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "lower-bounds":
        print("\n".join(lower_bounds(args)))
    elif command == "floors":
        sys.exit(1 if floors(args) else 0)
    elif command == "drift":
        rows = drift(args[0])
        direct = direct_dependencies()
        for name, version, locked in rows:
            tag = "direct" if name in direct else "transitive"
            print(f"  {name}=={version} (locked {locked}, {tag})")
        if not rows:
            print("  none: every installed version is the locked one")
    elif command == "blame":
        blame(args[0], args[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])

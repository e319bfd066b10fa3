"""Supply chain: no dependency below its security floor, none banned, bandit-clean code.

The floors and the advisories behind them are in security_floors.toml. Both what
pyproject.toml allows and what this environment has installed are checked, so lowering a
pin fails here before anyone installs it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
FLOORS = tomllib.loads((Path(__file__).with_name("security_floors.toml")).read_text())


@dataclass(frozen=True)
class Floor:
    name: str
    floor: Version
    required: bool


def floors() -> list[Floor]:
    return [
        Floor(name, Version(entry["floor"]), entry.get("required", True))
        for name, entry in FLOORS["floors"].items()
    ]


def declared() -> dict[str, list[Requirement]]:
    """Every requirement pyproject.toml states, by package, across the extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines.extend(extra)
    found: dict[str, list[Requirement]] = {}
    for line in lines:
        requirement = Requirement(line)
        found.setdefault(canonicalize_name(requirement.name), []).append(requirement)
    return found


def lowest_allowed(requirement: Requirement) -> Version | None:
    """The lowest version `requirement` lets in; None when it sets no lower bound."""
    bounds = [
        Version(spec.version)
        for spec in requirement.specifier
        if spec.operator in ("==", "===", "~=", ">=", ">") and "*" not in spec.version
    ]
    return max(bounds) if bounds else None


def problems(
    rules: list[Floor],
    requirements: dict[str, list[Requirement]],
    installed: dict[str, str | None],
) -> list[str]:
    """What breaks a floor: a pin that allows less, an installed version below it."""
    found = []
    for rule in rules:
        key = canonicalize_name(rule.name)
        for requirement in requirements.get(key, []):
            lowest = lowest_allowed(requirement)
            if lowest is None or lowest < rule.floor:
                found.append(f"pyproject.toml allows {requirement} (floor {rule.floor})")
        have = installed.get(key)
        if have is None:
            if rule.required:
                found.append(f"{rule.name} is not installed (floor {rule.floor})")
        elif Version(have) < rule.floor:
            found.append(f"{rule.name} {have} is installed, below its floor {rule.floor}")
    return found


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def test_no_dependency_is_below_its_security_floor() -> None:
    rules = floors()
    installed = {canonicalize_name(rule.name): _installed(rule.name) for rule in rules}
    assert problems(rules, declared(), installed) == []


def test_the_floor_check_catches_a_lowered_pin_and_an_old_install() -> None:
    rules = [Floor("lxml", Version("6.1.0"), True), Floor("extra-thing", Version("2.0"), False)]
    assert problems(rules, {"lxml": [Requirement("lxml==6.1.3")]}, {"lxml": "6.1.3"}) == []
    assert problems(rules, {"lxml": [Requirement("lxml==6.0.9")]}, {"lxml": "6.1.3"}) == [
        "pyproject.toml allows lxml==6.0.9 (floor 6.1.0)"
    ]
    assert problems(rules, {"lxml": [Requirement("lxml")]}, {"lxml": "6.1.3"}) == [
        "pyproject.toml allows lxml (floor 6.1.0)"
    ]
    assert problems(rules, {}, {"lxml": "5.4.0", "extra-thing": None}) == [
        "lxml 5.4.0 is installed, below its floor 6.1.0"
    ]
    assert problems(rules, {}, {"lxml": None}) == ["lxml is not installed (floor 6.1.0)"]


def test_no_banned_package_or_release_is_declared_or_installed() -> None:
    requirements = declared()
    for name, why in FLOORS["banned"].items():
        assert canonicalize_name(name) not in requirements, f"{name}: {why}"
        assert _installed(name) is None, f"{name} is installed: {why}"
    for name, bad in FLOORS["bad_versions"].items():
        assert _installed(name) not in bad, f"{name} {_installed(name)} is a compromised release"

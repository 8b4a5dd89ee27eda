"""One registry per extension point (detectors, selectors, variant sets, ...).

A registry maps a name to a class (or factory). Built-ins are registered by a dotted path
("benchmark.yolo:YoloDetector") so heavy imports stay lazy; users and tests register objects directly:

    DETECTORS.register("mine", MyDetector)          # from anywhere, no project file edited

`names()` keeps registration order, which is the order the CLI's choices and the reports use.
"""
from __future__ import annotations

import importlib
from typing import Any, Generic, Iterator, TypeVar

from core.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, option: str):
        self.kind, self.option = kind, option        # e.g. "detector", "--detectors"
        self._items: dict[str, Any] = {}

    def register(self, name: str, obj: T | str, replace: bool = False) -> T | str:
        if name in self._items and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj
        return obj

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)

    def get(self, name: str) -> T:
        """The registered object (a dotted path is imported on first use); unknown -> UserError."""
        if name not in self._items:
            raise UserError(f"{self.option}: unknown {self.kind} {name!r} (choose from {', '.join(self._items)})")
        obj = self._items[name]
        if isinstance(obj, str):
            module, _, attr = obj.partition(":")
            obj = getattr(importlib.import_module(module), attr)
            self._items[name] = obj
        return obj

    def names(self) -> list[str]:
        return list(self._items)

    def check(self, names: list[str]) -> list[str]:
        """Validate a user's list of names (non-empty, all known); -> the list."""
        bad = [n for n in names if n not in self._items]
        if bad or not names:
            raise UserError(f"{self.option}: unknown {self.kind} {bad or 'none given'} "
                            f"(choose from {', '.join(self._items)})")
        return list(names)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

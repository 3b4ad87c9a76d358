"""What each part hands back, and how a whole run is printed."""

import dataclasses
from typing import Any

from benchmarks.tables import Table
from benchmarks.tables import Target
from benchmarks.tables import targets_table


# The order of the parts in tables and on the page (not the order they run).
PART_ORDER = ('detection', 'isolation', 'scale', 'cost')


@dataclasses.dataclass
class PartResult:
    name: str                       # detection, isolation, scale, cost
    title: str
    method: list[str]               # how it was measured, one item a line
    tables: list[Table]
    targets: list[Target]
    data: dict[str, Any]            # raw figures, kept in results.json
    seconds: float = 0.0            # how long the part took

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> 'PartResult':
        return cls(name=raw['name'], title=raw['title'],
                   method=list(raw['method']),
                   tables=[Table(**table) for table in raw['tables']],
                   targets=[Target(**target) for target in raw['targets']],
                   data=raw['data'], seconds=raw.get('seconds', 0.0))


def load_parts(raw_parts: list[dict[str, Any]]) -> list[PartResult]:
    parts = [PartResult.from_dict(raw) for raw in raw_parts]
    return sorted(parts, key=lambda part: PART_ORDER.index(part.name)
                  if part.name in PART_ORDER else len(PART_ORDER))


def run_text(machine: dict[str, str], settings: dict[str, str],
             parts: list[PartResult], with_tables: bool = True) -> str:
    """Machine, settings, (the parts' tables) and the targets."""
    out = [Table('Machine', ['fact', 'value'],
                 [[k, v] for k, v in machine.items()], labels=2).text(), '']
    out += [Table('Settings', ['setting', 'value'],
                  [[k, v] for k, v in settings.items()],
                  labels=2).text(), '']
    for part in parts if with_tables else []:
        for table in part.tables:
            out += [table.text(), '']
    targets = [target for part in parts for target in part.targets]
    if targets:
        out += [targets_table(targets).text(), '']
    return '\n'.join(out)

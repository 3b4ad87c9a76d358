"""Result tables and targets: printed as text, written as reStructuredText."""

import dataclasses


@dataclasses.dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = dataclasses.field(default_factory=list)
    labels: int = 1           # leading columns aligned left in text

    def text(self) -> str:
        widths = [max(len(cell) for cell in column)
                  for column in zip(self.columns, *self.rows, strict=True)]
        rule = '  '.join('-' * width for width in widths)

        def line(cells: list[str]) -> str:
            return '  '.join(cell.ljust(width) if i < self.labels else
                             cell.rjust(width)
                             for i, (cell, width) in
                             enumerate(zip(cells, widths, strict=True))).rstrip()

        out = [self.title, '=' * len(self.title), line(self.columns), rule]
        out += [line(row) for row in self.rows]
        out += ['  * ' + note for note in self.notes]
        return '\n'.join(out)

    def rst(self) -> str:
        out = ['.. list-table:: %s' % self.title, '   :header-rows: 1', '']
        for row in [self.columns] + self.rows:
            out.append('   * - %s' % (row[0] or '\\ '))
            out += ['     - %s' % (cell or '\\ ') for cell in row[1:]]
        if self.notes:
            out.append('')
            out += ['* %s' % note for note in self.notes]
        return '\n'.join(out)


@dataclasses.dataclass
class Target:
    """One acceptance figure of the issue: ``value`` against ``limit``."""

    name: str
    value: float | None
    limit: float
    unit: str = ''
    at_most: bool = True      # the value must stay at or below the limit

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value <= self.limit if self.at_most \
            else self.value >= self.limit

    def verdict(self) -> str:
        return {True: 'met', False: 'MISSED', None: 'no data'}[self.met]

    def row(self) -> list[str]:
        value = '-' if self.value is None else '%.3g%s' % (self.value,
                                                           self.unit)
        limit = '%s %g%s' % ('<=' if self.at_most else '>=', self.limit,
                             self.unit)
        return [self.name, value, limit, self.verdict()]


def targets_table(targets: list[Target]) -> Table:
    return Table('Targets', ['target', 'measured', 'limit', 'verdict'],
                 [target.row() for target in targets], labels=1)


def seconds(value: float | None, digits: int = 1) -> str:
    return '-' if value is None else '%.*f' % (digits, value)


def number(value: float | None, fmt: str = '%.2f') -> str:
    return '-' if value is None else fmt % value

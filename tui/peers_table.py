"""The peers DataTable: follows a keyed, ordered list of rows with the least work Textual allows.

A DataTable measures every cell of every row it adds, which for 500 peers
costs a large part of a refresh. So rows are never rebuilt: a refresh adds
the peers that are new, removes the ones gone, updates only the cells that
changed (measuring a cell only when it is wider than its column), and when the order
changed re-sorts in place with `DataTable.sort`. The cursor stays on the same
peer throughout.

The sort key must reach the row's identity through a cell value, so the id
column holds `IdCell`: a str showing the short id that also carries the full
one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowKey

from .format import short_id

Cell = str | Text
Row = tuple[Cell, ...]


class IdCell(str):
    """The short id as shown, with the full node id for sorting."""

    node_id: str

    def __new__(cls, node_id: str) -> Self:
        cell = super().__new__(cls, short_id(node_id))
        cell.node_id = node_id
        return cell


def _text_length(cell: Cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(cell)


class PeersTable(DataTable[Cell]):
    def __init__(self, column_keys: Sequence[tuple[str, str]]) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True)
        self._column_keys = [key for key, _ in column_keys]
        self._column_labels = list(column_keys)
        self._shown: dict[str, Row] = {}  # node id -> cells now in the table
        self._order: list[str] = []  # node ids in display order

    def on_mount(self) -> None:
        for key, label in self._column_labels:
            self.add_column(label, key=key)

    def show_rows(self, rows: Sequence[tuple[str, Row]]) -> None:
        """Make the table show exactly `rows` (node id, cells; the first cell an IdCell), in this order."""
        cursor_key = self._cursor_key()
        wanted = dict(rows)
        for gone in [key for key in self._order if key not in wanted]:
            self.remove_row(gone)
            del self._shown[gone]
        self._order = [key for key in self._order if key in wanted]
        for key, cells in rows:
            before = self._shown.get(key)
            if before is None:
                self.add_row(*cells, key=key)
                self._order.append(key)
            elif before != cells:
                self._update_changed(key, before, cells)
            self._shown[key] = cells
        order = [key for key, _ in rows]
        if order != self._order:
            position = {key: index for index, key in enumerate(order)}
            self.sort(self._column_keys[0], key=lambda cell: position[cell.node_id])
            self._order = order
        if cursor_key in wanted:
            self.move_cursor(row=self.get_row_index(cursor_key), scroll=False)

    def _update_changed(self, key: str, before: Row, cells: Row) -> None:
        for column, new, old in zip(self._column_keys, cells, before):
            if new != old:
                # Widen the column only for a value wider than it. Asking Textual to fit the width for any
                # other value makes it re-measure the whole column (500 cells) per updated cell, because a
                # narrower value might let the column shrink; here columns never shrink.
                wider = _text_length(new) > self.columns[ColumnKey(column)].content_width
                self.update_cell(key, column, new, update_width=wider)

    def _cursor_key(self) -> str | None:
        if not self._order:
            return None
        try:
            row_key: RowKey = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return str(row_key.value)

    @property
    def shown_ids(self) -> list[str]:
        """Full node ids in display order (tests read it)."""
        return list(self._order)

    def row_cells(self, index: int) -> list[Any]:
        return self.get_row_at(index)

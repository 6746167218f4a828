/**
 * A plain, accessible data table: a caption, column headers, one row per item. Rows may be
 * activated (click, or Enter when focused) with `onRowActivate`.
 */
import type { ReactNode } from 'react';

export interface Column<Row> {
  key: string;
  header: ReactNode;
  render: (row: Row) => ReactNode;
  align?: 'left' | 'right' | 'center';
}

export interface TableProps<Row> {
  caption: string;
  /** Hide the caption visually (still read by screen readers). */
  captionHidden?: boolean;
  columns: readonly Column<Row>[];
  rows: readonly Row[];
  rowKey: (row: Row) => string;
  empty?: ReactNode;
  onRowActivate?: (row: Row) => void;
  /** Marks a row (e.g. the selected one). */
  rowSelected?: (row: Row) => boolean;
}

export function Table<Row>({
  caption,
  captionHidden,
  columns,
  rows,
  rowKey,
  empty,
  onRowActivate,
  rowSelected,
}: TableProps<Row>) {
  return (
    <table className="table">
      <caption className={captionHidden === true ? 'visually-hidden' : undefined}>
        {caption}
      </caption>
      <thead>
        <tr>
          {columns.map((column) => (
            <th key={column.key} scope="col" style={{ textAlign: column.align ?? 'left' }}>
              {column.header}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.length === 0 ? (
          <tr>
            <td colSpan={columns.length} className="table-empty">
              {empty ?? 'Nothing here yet.'}
            </td>
          </tr>
        ) : (
          rows.map((row) => {
            const activate = onRowActivate === undefined ? undefined : () => onRowActivate(row);
            return (
              <tr
                key={rowKey(row)}
                className={activate !== undefined ? 'row-active' : undefined}
                aria-selected={rowSelected === undefined ? undefined : rowSelected(row)}
                tabIndex={activate !== undefined ? 0 : undefined}
                onClick={activate}
                onKeyDown={
                  activate === undefined
                    ? undefined
                    : (event) => {
                        if (event.key === 'Enter') activate();
                      }
                }
              >
                {columns.map((column) => (
                  <td key={column.key} style={{ textAlign: column.align ?? 'left' }}>
                    {column.render(row)}
                  </td>
                ))}
              </tr>
            );
          })
        )}
      </tbody>
    </table>
  );
}

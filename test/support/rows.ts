// Reading query results without non-null assertions.

/** The one row a statement returned (an INSERT … RETURNING of one row, an aggregate); throws for none or several. */
export function onlyRow<T>(rows: readonly T[]): T {
  const [row] = rows;
  if (row === undefined || rows.length !== 1) throw new Error(`expected exactly one row, got ${rows.length}`);
  return row;
}

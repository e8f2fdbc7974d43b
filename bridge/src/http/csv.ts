// CSV as RFC 4180 writes it, for an operator to open in a spreadsheet or
// paste into a bank's bulk-transfer form: CRLF line ends; a field holding a
// comma, a double quote, CR or LF is quoted, its quotes doubled. Text that
// came from outside (a name, a reference) and would start a formula in a
// spreadsheet (=, +, -, @, tab, CR) is prefixed with ' (OWASP's advice), so
// opening the file never runs anything.

type CsvField = string | number | null;

/** One record, with its line end; `text` marks the fields to neutralise. */
export function csvRecord(fields: CsvField[], text: readonly boolean[] = []): string {
  return `${fields.map((field, index) => quoted(text[index] ? neutralised(field) : field)).join(',')}\r\n`;
}

function neutralised(field: CsvField): CsvField {
  return typeof field === 'string' && /^[=+\-@\t\r]/.test(field) ? `'${field}` : field;
}

function quoted(field: CsvField): string {
  const text = field === null ? '' : String(field);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

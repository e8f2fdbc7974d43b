// CSV as RFC 4180 writes it, for an operator to open in a spreadsheet or
// paste into a bank's bulk-transfer form: CRLF line ends, quotes doubled
// inside quoted fields. Following OWASP's CSV-injection advice, every text
// field is quoted (so that a ";" inside one cannot split it into a new cell
// in a locale whose separator is ";"), and one whose first non-blank
// character would start a formula (= + - @, their full-width forms, or a
// tab, CR or LF) is prefixed with ', so opening the file never runs anything.
// Numbers (ids, amounts) stay plain numbers.

type CsvField = string | number | null;

/** One record, with its line end; `text` marks the fields that are text (quoted and neutralised). */
export function csvRecord(fields: CsvField[], text: readonly boolean[] = []): string {
  return `${fields.map((field, index) => (text[index] && field !== null ? quotedText(String(field)) : plain(field))).join(',')}\r\n`;
}

/** Spaces before a formula do not stop a spreadsheet from reading it as one. */
const startsAFormula = /^(?:[\t\r\n]|\s*[=+\-@\uFF1D\uFF0B\uFF0D\uFF20])/;

function quotedText(field: string): string {
  const safe = startsAFormula.test(field) ? `'${field}` : field;
  return `"${safe.replaceAll('"', '""')}"`;
}

function plain(field: CsvField): string {
  const text = field === null ? '' : String(field);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

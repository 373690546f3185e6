// The browser build: it carries its own Buffer, so the same module serves the renderer and Node.
import { stringify } from 'csv-stringify/browser/esm/sync';

export type CsvValue = string | number | boolean | null | undefined;

/**
 * A text cell a spreadsheet would run as a formula (=, +, -, @, tab, CR) gets a leading
 * apostrophe; numbers stay numbers.
 */
export function neutraliseCell(value: CsvValue): CsvValue {
  if (typeof value !== 'string') return value;
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

/** RFC 4180 with CRLF; booleans as true/false (the library's default writes false as an empty cell, which reads as missing). */
export const CSV_OPTIONS = { record_delimiter: '\r\n', cast: { boolean: (value: boolean) => String(value) } } as const;

/** RFC 4180 CSV with a header row, formula-like text neutralised. */
export function toCsv(header: string[], rows: CsvValue[][]): string {
  return stringify([header, ...rows.map((r) => r.map(neutraliseCell))], CSV_OPTIONS);
}

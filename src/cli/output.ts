import { once } from 'node:events';

/** `--json` prints exactly one document on stdout; everything for people goes to stderr or a table. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

type Cell = string | number | null;
const cellText = (c: Cell) => (c === null ? '-' : String(c));

/** Column widths that fit the headers and these rows; a loop, since a spread of a million rows overflows the stack. */
function widthsOf(headers: string[], rows: string[][]): number[] {
  const widths = headers.map((h) => h.length);
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return widths;
}

const lineOf = (widths: number[]) => (r: string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();

/** A plain aligned text table for terminals. */
export function formatTable(headers: string[], rows: Cell[][]): string {
  const cells = rows.map((r) => r.map(cellText));
  const widths = widthsOf(headers, cells);
  const line = lineOf(widths);
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** Writes to stdout and waits while its buffer is full, so a long stream holds bounded memory. */
async function writeOut(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain');
}

/** Rows written to stdout in chunks of about this many bytes. */
const CHUNK_BYTES = 64 * 1024;

/** Streams items to stdout in chunks, each item rendered by `render`; returns how many were written. */
async function streamOut<T>(items: Iterable<T>, render: (item: T, index: number) => string): Promise<number> {
  let chunk = '';
  let n = 0;
  for (const item of items) {
    chunk += render(item, n++);
    if (chunk.length >= CHUNK_BYTES) {
      await writeOut(chunk);
      chunk = '';
    }
  }
  if (chunk) await writeOut(chunk);
  return n;
}

/** Streams a JSON array of any length to stdout, one element at a time. */
export async function streamJsonArray<T>(items: Iterable<T>): Promise<void> {
  await writeOut('[');
  const n = await streamOut(items, (item, i) => `${i === 0 ? '\n' : ',\n'}${JSON.stringify(item)}`);
  await writeOut(n === 0 ? ']\n' : '\n]\n');
}

/** Rows whose widths decide the columns of a streamed table; longer cells further down widen only their own row. */
const WIDTH_SAMPLE = 1000;

/** Streams an aligned table of any length to stdout; returns the number of rows. */
export async function streamTable(headers: string[], rows: Iterable<Cell[]>): Promise<number> {
  const iterator = rows[Symbol.iterator]();
  const head: string[][] = [];
  while (head.length < WIDTH_SAMPLE) {
    const next = iterator.next();
    if (next.done) break;
    head.push(next.value.map(cellText));
  }
  const widths = widthsOf(headers, head);
  const line = lineOf(widths);
  await writeOut(`${line(headers)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
  const rest = { [Symbol.iterator]: () => iterator };
  const n = await streamOut(head, (r) => `${line(r)}\n`);
  return n + (await streamOut(rest, (r) => `${line(r.map(cellText))}\n`));
}

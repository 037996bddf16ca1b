// The compact result table printed to stdout.
export interface TableRow {
  scenario: string;
  metric: string;
  value: string;
  baseline: string;
  ratio: string;
  peakRss: string;
}

const HEADERS: TableRow = {
  scenario: "scenario",
  metric: "metric",
  value: "value",
  baseline: "baseline",
  ratio: "ratio",
  peakRss: "peak RSS node / pg",
};

const COLUMNS = Object.keys(HEADERS) as (keyof TableRow)[];

export function renderTable(rows: readonly TableRow[], markdown = false): string {
  const all = [HEADERS, ...rows];
  const widths = COLUMNS.map((c) => Math.max(...all.map((r) => r[c].length)));
  const line = (r: TableRow) =>
    markdown
      ? `| ${COLUMNS.map((c, i) => r[c].padEnd(widths[i] ?? 0)).join(" | ")} |`
      : COLUMNS.map((c, i) => r[c].padEnd(widths[i] ?? 0))
          .join(" | ")
          .trimEnd();
  const rule = markdown
    ? `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`
    : widths.map((w) => "-".repeat(w)).join("-+-");
  return [line(HEADERS), rule, ...rows.map(line)].join("\n");
}

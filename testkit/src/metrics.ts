/** One sample of a Prometheus text exposition: `name{labels} value`. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A parsed `/metrics` page: its samples and every metric family it declares (`# TYPE`), sampled or not. */
export class Scrape {
  constructor(
    readonly samples: readonly Sample[],
    /** Family name to type (`counter`, `gauge`, `histogram`, `summary`). */
    readonly families: ReadonlyMap<string, string>,
  ) {}

  /** Parses the text format prom-client writes (no escaped quotes in label values are needed here). */
  static parse(text: string): Scrape {
    const samples: Sample[] = [];
    const families = new Map<string, string>();
    for (const line of text.split("\n")) {
      const type = /^# TYPE (\S+) (\S+)/.exec(line);
      if (type?.[1] && type[2]) families.set(type[1], type[2]);
      if (line === "" || line.startsWith("#")) continue;
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
      if (!match?.[1] || match[3] === undefined) throw new Error(`unparsable metrics line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, key, value] of (match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)) {
        if (key !== undefined && value !== undefined) labels[key] = value;
      }
      samples.push({ name: match[1], labels, value: Number(match[3]) });
    }
    return new Scrape(samples, families);
  }

  /** The samples named `name` whose labels include `labels`. */
  select(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter(
      (sample) => sample.name === name && Object.entries(labels).every(([k, v]) => sample.labels[k] === v),
    );
  }

  /** Sum of the samples named `name` whose labels include `labels`. */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.select(name, labels).reduce((sum, sample) => sum + sample.value, 0);
  }

  /** Whether any sample is named `name` with `labels`. */
  has(name: string, labels: Record<string, string> = {}): boolean {
    return this.select(name, labels).length > 0;
  }

  /** Every series name a query may use: each family, with `_bucket`, `_sum` and `_count` for histograms. */
  seriesNames(): Set<string> {
    const names = new Set<string>();
    for (const [family, type] of this.families) {
      names.add(family);
      if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) names.add(family + suffix);
      if (type === "summary") for (const suffix of ["_sum", "_count"]) names.add(family + suffix);
    }
    for (const sample of this.samples) names.add(sample.name);
    return names;
  }
}

/** Fetches and parses `http://127.0.0.1:<port>/metrics`. */
export async function scrape(port: number): Promise<Scrape> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics on ${port}: ${response.status}`);
  return Scrape.parse(await response.text());
}

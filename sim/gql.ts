// A minimal GraphQL-over-HTTP client, and a builder that packs many mutation fields into as few
// documents as the service's limits allow (inputs travel as variables, so documents stay small).

interface GraphQLError {
  message: string;
  extensions?: Record<string, unknown>;
}

export class GraphQLRequestError extends Error {
  constructor(
    readonly errors: readonly GraphQLError[],
    readonly query: string,
  ) {
    super(errors.map((e) => `${e.message} ${JSON.stringify(e.extensions ?? {})}`).join("; "));
    this.name = "GraphQLRequestError";
  }
}

export class GraphQLHttp {
  constructor(
    readonly url: string,
    private readonly apiKey: string,
  ) {}

  async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const res = await fetch(this.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${this.apiKey}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T | null; errors?: GraphQLError[] };
    if (body.errors?.length) throw new GraphQLRequestError(body.errors, query);
    if (!res.ok || !body.data) throw new Error(`GraphQL HTTP ${res.status} without data`);
    return body.data;
  }
}

interface Field {
  readonly name: string;
  /** argument name -> [GraphQL type, value] */
  readonly args: Readonly<Record<string, readonly [string, unknown]>>;
  readonly selection: string;
}

/** Mutation fields run in order; each is its own transaction in the service. */
export class MutationBatch {
  private readonly fields: Field[] = [];

  add(name: string, args: Readonly<Record<string, readonly [string, unknown]>>, selection = ""): this {
    this.fields.push({ name, args, selection });
    return this;
  }

  get size(): number {
    return this.fields.length;
  }

  /**
   * Sends the fields in order, at most `perDocument` per document (the service allows 15 aliases),
   * and returns each field's result in the same order.
   */
  async send(client: GraphQLHttp, perDocument = 14): Promise<unknown[]> {
    const results: unknown[] = [];
    for (let start = 0; start < this.fields.length; start += perDocument) {
      const chunk = this.fields.slice(start, start + perDocument);
      const declarations: string[] = [];
      const variables: Record<string, unknown> = {};
      const selections = chunk.map((field, i) => {
        const args = Object.entries(field.args).map(([arg, [type, value]]) => {
          const variable = `v${i}_${arg}`;
          declarations.push(`$${variable}: ${type}`);
          variables[variable] = value;
          return `${arg}: $${variable}`;
        });
        const argText = args.length > 0 ? `(${args.join(", ")})` : "";
        return `f${i}: ${field.name}${argText}${field.selection ? ` { ${field.selection} }` : ""}`;
      });
      const header = declarations.length > 0 ? `(${declarations.join(", ")})` : "";
      const data = await client.request<Record<string, unknown>>(
        `mutation Sim${header} { ${selections.join(" ")} }`,
        variables,
      );
      for (let i = 0; i < chunk.length; i += 1) results.push(data[`f${i}`]);
    }
    return results;
  }
}

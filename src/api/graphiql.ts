// GraphiQL from the installed @graphql-yoga/graphiql package, served by this service under
// /graphiql/ (yoga's default page loads it from a public CDN and stays blank offline). Its
// graphql-ws connection sends the key of the headers editor in connection_init, so subscriptions
// authenticate the way its HTTP requests do.
import { readFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import type { GraphiQLOptions } from "graphql-yoga";

export const GRAPHIQL_ASSETS_PATH = "/graphiql/";

const ASSETS: Record<string, string> = {
  "graphiql.css": "text/css; charset=utf-8",
  "yoga-graphiql.umd.js": "text/javascript; charset=utf-8",
  "monacoeditorwork/editor.worker.bundle.js": "text/javascript; charset=utf-8",
  "monacoeditorwork/json.worker.bundle.js": "text/javascript; charset=utf-8",
  "monacoeditorwork/graphql.worker..bundle.js": "text/javascript; charset=utf-8",
};

let distDir: string | undefined;
function graphiqlDist(): string {
  distDir ??= path.join(
    path.dirname(createRequire(import.meta.url).resolve("@graphql-yoga/graphiql/package.json")),
    "dist",
  );
  return distDir;
}

/** Serves a GraphiQL asset for a route under /graphiql/; false when the route is not one. */
export async function serveGraphiQLAsset(route: string, res: ServerResponse): Promise<boolean> {
  if (!route.startsWith(GRAPHIQL_ASSETS_PATH)) return false;
  const name = route.slice(GRAPHIQL_ASSETS_PATH.length);
  const type = ASSETS[name];
  if (!type) {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    return true;
  }
  const body = await readFile(path.join(graphiqlDist(), name));
  res.writeHead(200, { "content-type": type, "cache-control": "public, max-age=3600" }).end(body);
  return true;
}

/** Inline JSON that cannot close the script element it sits in. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, "\\u003c");

const escapeHtml = (text: string) =>
  text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] as string);

/** yoga's renderGraphiQL option: the same GraphiQL, every asset from this service. */
export function renderLocalGraphiQL(options?: GraphiQLOptions): string {
  const title = escapeHtml(options?.title ?? "GraphiQL");
  const base = GRAPHIQL_ASSETS_PATH;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${base}graphiql.css">
</head>
<body id="body" class="no-focus-outline">
<noscript>You need to enable JavaScript to run GraphiQL.</noscript>
<div id="root">Loading ${title}…</div>
<script>
const workerUrls = {
  editorWorkerService: "${base}monacoeditorwork/editor.worker.bundle.js",
  json: "${base}monacoeditorwork/json.worker.bundle.js",
  graphql: "${base}monacoeditorwork/graphql.worker..bundle.js",
};
self.MonacoEnvironment = { globalAPI: false, getWorkerUrl: (_id, label) => workerUrls[label] ?? workerUrls.editorWorkerService };
</script>
<script src="${base}yoga-graphiql.umd.js"></script>
<script>
(() => {
  const options = ${scriptJson(options ?? {})};
  // The headers editor's text, as GraphiQL keeps it (edited now, or persisted from before).
  let headersText = null;
  const currentHeaders = () => {
    const text = headersText ?? localStorage.getItem("graphiql:headers") ?? options.headers ?? "{}";
    try {
      const parsed = JSON.parse(text || "{}");
      return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : {};
    } catch {
      return {};
    }
  };
  YogaGraphiQL.renderYogaGraphiQL(document.getElementById("root"), {
    ...options,
    onEditHeaders: (text) => {
      headersText = text;
    },
    // graphql-ws connection_init: the key the HTTP requests use, and the headers themselves.
    connectionParams: () => {
      const headers = currentHeaders();
      const name = Object.keys(headers).find((h) => h.toLowerCase() === "authorization");
      return name ? { headers, authorization: headers[name] } : { headers };
    },
  });
})();
</script>
</body>
</html>
`;
}

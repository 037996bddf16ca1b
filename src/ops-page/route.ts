// The operations page (src/ops-page/): served at `/`, its own files under /ops/, and the browser
// builds of its libraries (Preact, htm, uPlot, the graphql-ws client) straight from node_modules
// under /ops/vendor/, tied together by the page's import map. Nothing loads from the internet.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const OPS_PAGE_ASSETS_PATH = "/ops/";

const HERE = path.dirname(fileURLToPath(import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

/** The page's own files (everything else in this folder is server code, not served). */
const PAGE_FILES = new Set(["app.js", "chart.js", "style.css"]);

/** /ops/vendor/<name>/<file>: a package's folder and the files of it that may be served. */
const VENDOR: Record<string, { pkg: string; dir: string; files: RegExp }> = {
  preact: { pkg: "preact", dir: "dist", files: /^preact\.mjs$/ },
  "preact-hooks": { pkg: "preact", dir: "hooks/dist", files: /^hooks\.mjs$/ },
  htm: { pkg: "htm", dir: "dist", files: /^htm\.mjs$/ },
  "htm-preact": { pkg: "htm", dir: "preact", files: /^index\.mjs$/ },
  uplot: { pkg: "uplot", dir: "dist", files: /^uPlot\.(esm\.js|min\.css)$/ },
  // client.js imports its shared chunk (common-<hash>.js) by a relative path.
  "graphql-ws": { pkg: "graphql-ws", dir: "dist", files: /^(client|common-[A-Za-z0-9_-]+)\.js$/ },
};

const require = createRequire(import.meta.url);
const packageDirs = new Map<string, string>();

/** A package's folder, also for packages that do not export their package.json. */
function packageDir(pkg: string): string {
  let dir = packageDirs.get(pkg);
  if (dir) return dir;
  try {
    dir = path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    const entry = require.resolve(pkg);
    const marker = `${path.sep}node_modules${path.sep}${pkg}${path.sep}`;
    dir = entry.slice(0, entry.lastIndexOf(marker) + marker.length - 1);
  }
  packageDirs.set(pkg, dir);
  return dir;
}

/** The file a route names, or null when it names nothing this module serves. */
export function opsPageFile(route: string): string | null {
  if (route === "/" || route === "/index.html") return path.join(HERE, "index.html");
  if (!route.startsWith(OPS_PAGE_ASSETS_PATH)) return null;
  const rest = route.slice(OPS_PAGE_ASSETS_PATH.length);
  if (PAGE_FILES.has(rest)) return path.join(HERE, rest);
  const match = /^vendor\/([a-z-]+)\/([A-Za-z0-9_.-]+)$/.exec(rest);
  const vendor = match ? VENDOR[match[1] as string] : undefined;
  if (!match || !vendor?.files.test(match[2] as string)) return null;
  return path.join(packageDir(vendor.pkg), vendor.dir, match[2] as string);
}

/** The content security policy of the page: its one inline script (the import map) by hash. */
function pagePolicy(html: string): string {
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? "";
  const hash = createHash("sha256").update(importMap).digest("base64");
  return [
    "default-src 'self'",
    `script-src 'self' 'sha256-${hash}'`,
    "style-src 'self' 'unsafe-inline'",
    "connect-src 'self'",
    "img-src 'self' data:",
  ].join("; ");
}

/** Serves the page or one of its assets; false when the route is not one (the caller goes on). */
export async function serveOpsPage(route: string, res: ServerResponse): Promise<boolean> {
  const file = opsPageFile(route);
  if (file === null) {
    if (!route.startsWith(OPS_PAGE_ASSETS_PATH)) return false;
    res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    return true;
  }
  const body = await readFile(file);
  const page = file.endsWith(".html");
  res
    .writeHead(200, {
      "content-type": TYPES[path.extname(file)] ?? "application/octet-stream",
      // The page itself is small and must pick up a new version at once; libraries change with installs.
      "cache-control": page ? "no-cache" : "public, max-age=300",
      "x-content-type-options": "nosniff",
      ...(page ? { "content-security-policy": pagePolicy(body.toString("utf8")) } : {}),
    })
    .end(body);
  return true;
}

// The documentation stays inside the repository: every link in README.md, docs/*.md and
// sim/README.md points at a file that exists here (or at a heading of a page here), no link leaves
// for the web except to localhost, and nothing refers to the external spec.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { INPUT_STREAMS, type InputStream, STREAM_KINDS } from "../src/ingest/streams.js";
import { camelToSnake } from "../src/lib/case.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function markdownFiles(): string[] {
  const docs = existsSync(path.join(ROOT, "docs"))
    ? readdirSync(path.join(ROOT, "docs"))
        .filter((f) => f.endsWith(".md"))
        .map((f) => path.join("docs", f))
    : [];
  return ["README.md", "sim/README.md", ...docs].filter((f) => existsSync(path.join(ROOT, f)));
}

/** The text without fenced code blocks and inline code, where brackets are not links. */
function prose(text: string): string {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "").replace(/`[^`\n]*`/g, "");
}

/** Link targets: inline links and images `[text](target "title")` and reference definitions `[ref]: target`. */
function linkTargets(text: string): string[] {
  const body = prose(text);
  const targets: string[] = [];
  for (const match of body.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+["'][^)]*["'])?\s*\)/g)) {
    targets.push(match[1] ?? "");
  }
  for (const match of body.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+["'].*["'])?\s*$/gm)) {
    targets.push(match[1] ?? "");
  }
  return targets;
}

/** GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(text: string): Set<string> {
  const ids = new Set<string>();
  const seen = new Map<string, number>();
  for (const match of prose(text).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = (match[1] ?? "")
      .toLowerCase()
      .replace(/<[^>]*>/g, "")
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    ids.add(count === 0 ? base : `${base}-${count}`);
  }
  for (const match of text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) ids.add(match[1] ?? "");
  return ids;
}

function isWebLink(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target);
}

function isLocalhost(target: string): boolean {
  try {
    const url = new URL(target);
    return (url.protocol === "http:" || url.protocol === "https:") && ["localhost", "127.0.0.1"].includes(url.hostname);
  } catch {
    return false;
  }
}

const files = markdownFiles();

describe("documentation links", () => {
  test("the pages exist", () => {
    expect(files).toContain("README.md");
    expect(files).toEqual(expect.arrayContaining(["docs/README.md", "sim/README.md"]));
  });

  test.each(files)("%s: every relative link points at a file or heading in the repository", (file) => {
    const text = readFileSync(path.join(ROOT, file), "utf8");
    const broken: string[] = [];
    for (const target of linkTargets(text)) {
      if (isWebLink(target)) continue; // checked below
      const [rawPath = "", anchor] = target.split("#", 2);
      const pathPart = decodeURIComponent(rawPath);
      if (pathPart === "") {
        if (!anchor || !anchors(text).has(anchor)) broken.push(`${target} (no such heading in this page)`);
        continue;
      }
      if (pathPart.startsWith("/")) {
        broken.push(`${target} (absolute path)`);
        continue;
      }
      const resolved = path.resolve(ROOT, path.dirname(file), pathPart);
      if (resolved !== ROOT && !resolved.startsWith(ROOT + path.sep)) {
        broken.push(`${target} (outside the repository)`);
        continue;
      }
      if (!existsSync(resolved)) {
        broken.push(`${target} (no such file)`);
        continue;
      }
      if (anchor && resolved.endsWith(".md") && statSync(resolved).isFile()) {
        if (!anchors(readFileSync(resolved, "utf8")).has(anchor)) broken.push(`${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  test.each(files)("%s: no web links except to localhost", (file) => {
    const text = readFileSync(path.join(ROOT, file), "utf8");
    const outside = [
      ...linkTargets(text).filter((t) => isWebLink(t) && !isLocalhost(t)),
      ...[...text.matchAll(/\bhttps?:\/\/[^\s)>"'`\]]+/g)].map((m) => m[0]).filter((u) => !isLocalhost(u)),
    ];
    expect(outside).toEqual([]);
  });

  test.each(files)("%s: no reference to the external spec", (file) => {
    const text = readFileSync(path.join(ROOT, file), "utf8");
    expect(text).not.toContain("../shared");
    expect(text).not.toMatch(/SPEC(\.md| §)/);
  });
});

describe("the stream registry drives the docs", () => {
  const kafka = readFileSync(path.join(ROOT, "docs/kafka.md"), "utf8");
  const configuration = readFileSync(path.join(ROOT, "docs/configuration.md"), "utf8");
  for (const kind of STREAM_KINDS) {
    const stream = INPUT_STREAMS[kind] as InputStream<unknown>;
    test(`${kind}: its topic, topic variable and every field are documented`, () => {
      expect(kafka).toContain(stream.defaultTopic);
      expect(configuration).toContain(stream.topicVariable);
      expect(configuration).toContain(stream.defaultTopic);
      const fields = [...stream.columns.map((c) => c.name), ...(stream.inputOnlyFields ?? []).map(camelToSnake)];
      const missing = fields.filter((field) => !kafka.includes(`\`${field}\``));
      expect(missing, `fields of ${stream.table} missing from docs/kafka.md`).toEqual([]);
    });
  }
});

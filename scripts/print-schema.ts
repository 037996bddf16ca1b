// Writes schema/schema.graphql from the code-first schema (npm run schema:print).
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { printSchemaSDL } from "../src/graphql/schema.js";

const target = fileURLToPath(new URL("../schema/schema.graphql", import.meta.url));
await writeFile(target, printSchemaSDL());
console.log(`wrote ${target}`);

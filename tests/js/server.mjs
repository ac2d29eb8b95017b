// Starts the real assetd binary on a fresh data directory (127.0.0.1:0) and reads the site,
// token and address it prints. Configuration comes from the environment as `assetd serve` reads
// it; with ASSETD_TEST_POSTGRES=1 each server gets a fresh PostgreSQL database.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

const root = resolve(import.meta.dirname, "../..");
const adminUrl = process.env.ASSETD_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

function freshDatabase() {
  const name = `assetd_js_${randomBytes(6).toString("hex")}`;
  execFileSync("psql", [adminUrl, "-q", "-c", `CREATE DATABASE ${name}`]);
  return { name, url: `${adminUrl.slice(0, adminUrl.lastIndexOf("/"))}/${name}` };
}

export async function startServer(extraArgs = []) {
  const dataDir = mkdtempSync(join(tmpdir(), "assetd-js-"));
  const bin = process.env.ASSETD_BIN ?? join(root, "target/debug/assetd");
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "ASSETD_DATABASE_URL"));
  const database = process.env.ASSETD_TEST_POSTGRES === "1" ? freshDatabase() : null;
  const dbArgs = database ? ["--database-url", database.url] : [];
  const child = spawn(bin, ["--data-dir", dataDir, ...dbArgs, "serve", "--listen", "127.0.0.1:0", ...extraArgs], {
    stdio: ["ignore", "pipe", "ignore"],
    env,
  });
  const lines = createInterface({ input: child.stdout });
  let siteId, token, base;
  for await (const line of lines) {
    let m;
    if ((m = line.match(/^assetd: created site ([0-9a-f]{24})$/))) siteId = m[1];
    else if ((m = line.match(/^assetd: created API token .*: ([0-9a-f]{64})$/))) token = m[1];
    else if ((m = line.match(/^assetd: listening on (http:\/\/\S+)/))) {
      base = m[1];
      break;
    }
  }
  if (!siteId || !token || !base) throw new Error("assetd did not print its site, token and address");
  return {
    siteId,
    token,
    base,
    api: `${base}/v2`,
    async stop() {
      const exited = new Promise((done) => child.once("exit", done));
      child.kill("SIGTERM");
      const code = await exited;
      rmSync(dataDir, { recursive: true, force: true });
      if (database) {
        execFileSync("psql", [adminUrl, "-q", "-c", `DROP DATABASE IF EXISTS ${database.name} WITH (FORCE)`]);
      }
      return code;
    },
  };
}

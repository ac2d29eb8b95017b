// Starts the real assetd binary on a fresh data directory (127.0.0.1:0) and reads the site,
// token and address it prints.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

const root = resolve(import.meta.dirname, "../..");

export async function startServer(extraArgs = []) {
  const dataDir = mkdtempSync(join(tmpdir(), "assetd-js-"));
  const bin = process.env.ASSETD_BIN ?? join(root, "target/debug/assetd");
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ASSETD_")));
  const child = spawn(bin, ["--data-dir", dataDir, "serve", "--listen", "127.0.0.1:0", ...extraArgs], {
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
      return code;
    },
  };
}

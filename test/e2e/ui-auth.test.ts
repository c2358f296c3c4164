/**
 * The dashboard (GET /ui) of a node started with --auth-file, in headless Chromium: the page
 * loads without a token (it is open) but its data is not: it asks for a token, says when the
 * one given may not read the cluster's state (no admin), and with an admin's token shows the
 * node and answers the lookup box. The token stays in the tab's sessionStorage, out of the URL.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { Chromium, findChromium, type Page } from "../helpers/chromium.ts";
import { addClient } from "../helpers/auth.ts";
import { type ServerProcess, startServer, tempDir } from "../helpers/server.ts";
import { join } from "node:path";

let dir = "";
let server: ServerProcess;
let browser: Chromium;
let page: Page;
let admin = "";
let reader = "";
let locker = "";

beforeAll(async () => {
  const executable = findChromium();
  if (executable === undefined) {
    throw new Error("ui-auth.test.ts needs Chromium: apt-get install chromium (.ci/run does)");
  }
  dir = tempDir("kahuna-ui-auth-");
  const file = join(dir, "auth.json");
  admin = addClient(file, "ops", ["--admin", "--prefix", "", "--read-only"]);
  reader = addClient(file, "viewer", ["--prefix", "", "--read-only"]);
  locker = addClient(file, "jobs", ["--prefix", "jobs/"]);
  server = await startServer({ extraArgs: ["--auth-file", file, "--quiet"] });
  browser = await Chromium.launch(executable);
  page = await browser.open(`${server.url}/ui`, { width: 1280, height: 900 });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.cleanup();
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

const boxShown = `!document.getElementById("token-box").hidden`;
const reason = `document.getElementById("token-reason").textContent`;

async function giveToken(token: string): Promise<void> {
  await page.type("#token-input", token);
  await page.evaluate(`document.getElementById("token-form").requestSubmit()`);
}

test("without a token the page asks for one, and a token without admin is told why", async () => {
  await page.waitFor(
    `${boxShown} && document.getElementById("token-box").dataset.status === "401"`,
    10_000,
  );
  expect(await page.evaluate<string>(reason)).toContain("requires a token");
  expect(await page.evaluate<number>(`document.querySelectorAll("#nodes-body tr").length`)).toBe(0);
  await giveToken(reader);
  await page.waitFor(
    `${boxShown} && document.getElementById("token-box").dataset.status === "403"`,
    10_000,
  );
  expect(await page.evaluate<string>(reason)).toContain("needs a client with admin");
});

test("with an admin's token the page shows the node and looks a lock up", async () => {
  const locked = await (await fetch(`${server.url}/v1/locks/try-lock`, {
    method: "POST",
    headers: { authorization: `Bearer ${locker}` },
    body: JSON.stringify({ resource: "jobs/nightly", owner: "cron", expiresMs: 600_000 }),
  })).json();
  expect(locked.type).toBe(0);
  await giveToken(admin);
  await page.waitFor(`document.querySelectorAll("#nodes-body tr").length === 1`, 10_000);
  await page.waitFor(`document.getElementById("token-box").hidden`, 5_000);
  await page.waitFor(`document.getElementById("status").dataset.state === "live"`, 5_000);
  await page.type("#lookup-resource", "jobs/nightly");
  await page.evaluate(`document.getElementById("lookup").requestSubmit()`);
  await page.waitFor(`document.getElementById("lookup-result").dataset.state === "held"`, 5_000);
  expect(await page.evaluate<string>(`document.querySelector('[data-field="owner"]').textContent`))
    .toBe("cron");
  // Kept in the tab, not in the address.
  expect(await page.evaluate<string>(`sessionStorage.getItem("kahuna-token")`)).toBe(admin);
  expect(await page.evaluate<string>(`location.href`)).toBe(`${server.url}/ui`);
  expect(page.errors).toEqual([]);
});

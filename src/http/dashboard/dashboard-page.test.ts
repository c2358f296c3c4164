/**
 * GET /ui through the app (no server): the page, its type and its Content-Security-Policy,
 * and that it names nothing to load from anywhere but the node that served it.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { memoryApp } from "../memory-app.ts";
import { dashboardContentSecurityPolicy, dashboardPage } from "./dashboard-page.ts";

const app = memoryApp();

test("GET /ui answers the page as HTML, with a policy that allows only this node", async () => {
  const response = await app.request("/ui");
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("text/html; charset=UTF-8");
  expect(response.headers.get("content-security-policy")).toBe(dashboardContentSecurityPolicy);
  expect(await response.text()).toBe(dashboardPage());
  expect(dashboardContentSecurityPolicy).toContain("default-src 'none'");
  expect(dashboardContentSecurityPolicy).toContain("connect-src 'self'");
});

test("the page loads nothing from elsewhere: no URL but the SVG namespace, no src or href", () => {
  const page = dashboardPage();
  const urls = page.match(/[a-z]+:\/\/[^\s"')]+/g) ?? [];
  expect(urls).toEqual(["http://www.w3.org/2000/svg"]);
  expect(page).not.toMatch(/\s(src|href)=/);
});

test("the scripts are ASCII in the source, so Bun and Deno serve the same bytes", () => {
  // Read from the files: Bun's transpiler escapes a non-ASCII character in a raw template,
  // so the evaluated string would pass under Bun whatever the source held.
  for (const file of ["dashboard-script.ts", "request-stats-script.ts"]) {
    const source = readFileSync(join(import.meta.dir, file), "utf8");
    const script = source.slice(source.indexOf("String.raw`"));
    expect({ file, nonAscii: script.match(/[^\x09\x0a\x20-\x7e]/g) ?? [] })
      .toEqual({ file, nonAscii: [] });
  }
  expect(dashboardPage()).toMatch(/^[\x09\x0a\x20-\x7e]*$/);
});

test("other methods on /ui are 405, as on every read route", async () => {
  const response = await app.request("/ui", { method: "POST" });
  expect(response.status).toBe(405);
  expect(response.headers.get("allow")).toBe("GET");
});

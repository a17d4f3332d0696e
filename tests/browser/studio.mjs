// Drives the studio in Debian's chromium through playwright-core, as a person
// would: the stamp, the tables with their rows and sizes, a table's rows and
// their next page, a filter, from a user to their organization's name in two
// clicks ("referenced by", then a foreign key), redaction, the migrations view.
// Every request must stay on 127.0.0.1. Screenshots of the main views go to OUT.
//   node studio.mjs URL OUT PASSWORD_HASH EXPECTED
// EXPECTED (JSON): stamped_by, organizations (their number, analysed), a user's
// id and their organization's name. verification is held locked by a migration
// until this script prints "listed" and is told to go on (a line on stdin).
import { chromium } from "playwright-core";

const [url, out, hash, expectedJson] = process.argv.slice(2);
const expected = JSON.parse(expectedJson);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // As root (CI), chromium refuses to run sandboxed.
  args: ["--no-sandbox", "--disable-gpu"],
});
const problems = [];
const requests = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  page.on("request", (request) => requests.push(request.url()));
  page.on("pageerror", (error) => problems.push("page error: " + error.message));
  page.on("console", (message) => { if (message.type() === "error") problems.push("console: " + message.text()); });
  const expect = (condition, what) => { if (!condition) throw new Error(what); };

  await page.goto(url);
  await page.waitForSelector("#tables li");
  const tables = await page.$$eval("#tables a", (links) => links.map((link) => link.textContent));
  for (const name of ["user", "session", "account", "verification", "profile", "organization", "organization_user"]) {
    expect(tables.includes("public." + name), "public." + name + " is not listed: " + tables.join(", "));
  }
  expect((await page.textContent("#overview")).includes("test (test)"), "the overview names the environment");
  await page.waitForFunction(() => document.querySelector("#stamp").textContent !== "");
  const stamp = await page.textContent("#stamp");
  expect(/^stamp: test \(test\), \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by /.test(stamp) && stamp.endsWith(" by " + expected.stamped_by),
    "the stamp in the header: " + stamp);

  // Each table's rows (counted, an estimate said to be one, or not known) and size: never a "?".
  const about = Object.fromEntries(await page.$$eval("#tables li", (items) =>
    items.map((item) => [item.querySelector("a").textContent, item.querySelector("small").textContent])));
  for (const [name, text] of Object.entries(about)) {
    expect(/^(~?[\d,]+ rows?( \(estimate\))?|rows not known yet) · (\d+ (bytes|kB|MB|GB)|size not known yet)$/.test(text),
      name + ": " + text);
  }
  const organizations = expected.organizations.toLocaleString("en-US");
  expect(new RegExp("^~" + organizations + " rows \\(estimate\\) · \\d+ (bytes|kB)$").test(about["public.organization"]),
    "analysed, organization shows its estimate: " + about["public.organization"]);
  expect(/^0 rows · \d+ (bytes|kB)$/.test(about["public.session"]), "never analysed, session is counted: " + about["public.session"]);
  expect(about["public.verification"] === "rows not known yet · size not known yet",
    "locked, verification is not known: " + about["public.verification"]);
  await page.screenshot({ path: out + "/studio-tables.png" });
  // The test ends the migration that holds verification now (the drift check below would wait on it).
  console.log("listed");
  await new Promise((resolve) => process.stdin.once("data", resolve));

  const open = async (name) => {
    await page.click(`#tables a:text-is("${name}")`);
    await page.waitForSelector("#rows table");
  };
  const firstColumn = () => page.$$eval("#rows tr td:first-child", (cells) => cells.map((cell) => cell.textContent));

  // Paging: the next page shows other rows.
  await open("public.user");
  const first = await firstColumn();
  expect(first.length === 500, "a first page of 500 users, not " + first.length);
  await page.click("#rows button");
  await page.waitForFunction((before) => document.querySelector("#rows td").textContent !== before, first[0]);
  const second = await firstColumn();
  expect(second.length > 0 && second.every((id) => !first.includes(id)), "the second page repeats the first");

  // A filter.
  await page.fill("#filter", "email:contains:northwind");
  await page.press("#filter", "Enter");
  await page.waitForFunction(() => document.querySelectorAll("#rows tr").length < 20);
  const headings = await page.$$eval("#rows th", (cells) => cells.map((cell) => cell.textContent));
  const emailColumn = headings.findIndex((heading) => heading.startsWith("email"));
  const filtered = await page.$$eval(`#rows tr td:nth-child(${emailColumn + 1})`, (cells) => cells.map((cell) => cell.textContent));
  expect(filtered.length > 0 && filtered.every((email) => email.includes("northwind")), "the filter: " + filtered.join(", "));
  await page.screenshot({ path: out + "/studio-rows.png" });

  // From a user to their organization's name in two clicks: "referenced by" opens
  // their profile (in the profile table's own view), its foreign key the organization.
  await open("public.profile");
  const profileHeadings = await page.$$eval("#rows th", (cells) => cells.map((cell) => cell.textContent));
  await open("public.user");
  await page.fill("#filter", "id:eq:" + expected.user);
  await page.press("#filter", "Enter");
  await page.waitForFunction(() => document.querySelectorAll("#rows tr").length === 2);
  const links = await page.$$eval("#rows a.referenced", (anchors) => anchors.map((anchor) => anchor.textContent));
  expect(["account", "organization_user", "profile", "session"].every((name) => links.includes(name)), "referenced by: " + links.join(", "));
  await page.locator("#rows td:last-child").scrollIntoViewIfNeeded();
  await page.screenshot({ path: out + "/studio-referenced-by.png" });
  await page.click('#rows a.referenced:text-is("profile")');
  await page.waitForFunction(() => document.querySelector("#table h2").textContent === "public.profile");
  await page.waitForSelector("#rows table");
  expect(await page.inputValue("#filter") === "user_id:eq:" + expected.user, "the profile view is filtered to the user");
  const profileView = await page.$$eval("#rows th", (cells) => cells.map((cell) => cell.textContent));
  expect(JSON.stringify(profileView) === JSON.stringify(profileHeadings), "the profile view's columns: " + profileView.join(", "));
  expect((await firstColumn()).length === 1, "the user's one profile");
  const organizationColumn = profileView.indexOf("organization_id") + 1;
  await page.click(`#rows tr td:nth-child(${organizationColumn}) a.fk`);
  await page.waitForFunction(() => document.querySelector("#table h2").textContent === "public.organization");
  await page.waitForSelector("#rows table");
  const organizationHeadings = await page.$$eval("#rows th", (cells) => cells.map((cell) => cell.textContent));
  const names = await page.$$eval(`#rows tr td:nth-child(${organizationHeadings.indexOf("name") + 1})`, (cells) => cells.map((cell) => cell.textContent));
  expect(names.length === 1 && names[0] === expected.organization, "the user's organization: " + names.join(", "));

  // Secrets are redacted: the hash is nowhere in the page.
  await open("public.account");
  const content = await page.content();
  expect(!content.includes(hash), "the password hash reached the page");
  expect(content.includes("[redacted]"), "the password column shows [redacted]");

  // An export downloads with the token sent as a header; the token is in no cookie
  // (a browser sends those to every port of the host) and out of the address bar.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("a.export:text-is('export csv')")]);
  const { readFile } = await import("node:fs/promises");
  const csv = await readFile(await download.path(), "utf8");
  expect(csv.startsWith("id,") && !csv.includes(hash), "the CSV export: " + csv.slice(0, 80));
  expect((await page.context().cookies()).length === 0, "a cookie was set");
  expect(!page.url().includes("token"), "the token stayed in the address bar: " + page.url());

  // The migrations view.
  await page.click("#migrations-link");
  await page.waitForFunction(() => document.querySelector("#table h2").textContent === "Migrations");
  const sections = await page.$$eval("#table h3", (heads) => heads.map((head) => head.textContent));
  expect(sections.includes("Applied (2)"), "migrations: " + sections.join(", "));
  await page.click("#check-drift");
  await page.waitForSelector("p.drift", { timeout: 60000 });
  const drift = await page.textContent("p.drift");
  expect(drift.startsWith("no drift"), "drift: " + drift);
  await page.screenshot({ path: out + "/studio-migrations.png", fullPage: true });

  const elsewhere = requests.filter((request) => !request.startsWith("http://127.0.0.1:"));
  expect(elsewhere.length === 0, "requests left 127.0.0.1: " + elsewhere.join(", "));
  expect(problems.length === 0, problems.join("; "));
  console.log(JSON.stringify({ ok: true, requests: requests.length }));
} catch (error) {
  const pages = browser.contexts().flatMap((context) => context.pages());
  if (pages.length > 0) {
    await pages[0].screenshot({ path: out + "/studio-failure.png", fullPage: true }).catch(() => {});
    console.error("page said: " + (await pages[0].textContent("#overview").catch(() => "?")));
    console.error("problems: " + problems.join("; "));
    console.error("requests: " + requests.join("\n"));
  }
  throw error;
} finally {
  await browser.close();
}

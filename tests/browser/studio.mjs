// Drives the studio in Debian's chromium through playwright-core, as a person
// would: the tables, a table's rows and their next page, a filter, a
// foreign-key link, "referenced by", redaction, the migrations view. Every
// request must stay on 127.0.0.1. Screenshots of the main views go to OUT.
//   node studio.mjs URL OUT PASSWORD_HASH
import { chromium } from "playwright-core";

const [url, out, hash] = process.argv.slice(2);
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
  await page.screenshot({ path: out + "/studio-tables.png" });

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

  // A foreign key is a link to the referenced row; and what references it.
  await open("public.profile");
  const profileHeadings = await page.$$eval("#rows th", (cells) => cells.map((cell) => cell.textContent));
  const organizationColumn = profileHeadings.findIndex((heading) => heading.startsWith("organization_id")) + 1;
  expect(organizationColumn > 0, "profile has an organization_id column");
  await page.click(`#rows tr td:nth-child(${organizationColumn}) a.fk`);
  await page.waitForFunction(() => document.querySelector("#table h2").textContent === "public.organization");
  await page.waitForSelector("#rows table");
  expect((await firstColumn()).length === 1, "the link shows the one referenced organization");
  await page.dblclick("#rows tr:nth-child(2)");
  await page.waitForSelector("#referenced h4");
  const referencing = await page.$$eval("#referenced h4", (heads) => heads.map((head) => head.textContent));
  expect(referencing.some((head) => head.startsWith("public.profile.organization_id")), "referenced by: " + referencing.join(", "));
  await page.screenshot({ path: out + "/studio-referenced-by.png", fullPage: true });

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

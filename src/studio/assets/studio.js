// The studio's page: plain DOM, no dependencies, every request to this origin.
"use strict";

// The token comes in the printed URL's fragment (never sent in a request) and is
// kept in this tab's sessionStorage, which only this origin reads; each request
// for data carries it as a header. No cookie: a browser sends cookies to every
// port of the host.
const TOKEN_KEY = "praxia_studio_token";
(function keepToken() {
  const fromUrl = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    history.replaceState(null, "", "/");
  }
})();

async function fetchWithToken(path) {
  const answer = await fetch(path, {
    credentials: "omit",
    headers: { Authorization: "Bearer " + (sessionStorage.getItem(TOKEN_KEY) || "") },
  });
  if (!answer.ok) throw new Error(path + ": " + answer.status + " " + (await answer.text()));
  return answer;
}

async function get(path) {
  return (await fetchWithToken(path)).json();
}

// An export is fetched with the token, then saved from memory under its name.
async function download(path, name) {
  const blob = await (await fetchWithToken(path)).blob();
  const url = URL.createObjectURL(blob);
  const link = element("a");
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function grid(headings, rows) {
  const table = element("table");
  const head = table.appendChild(element("tr"));
  headings.forEach((heading) => head.appendChild(element("th", heading)));
  rows.forEach((cells) => {
    const row = table.appendChild(element("tr"));
    cells.forEach((cell) => row.appendChild(cell instanceof Node ? cell : element("td", cell)));
  });
  return table;
}

const view = { schema: null, name: null, columns: [], keys: {}, referencedBy: [], filters: [], sort: null, order: "asc" };

function rowsQuery(after) {
  const query = new URLSearchParams();
  view.filters.forEach((filter) => query.append("filter", filter));
  if (view.sort) { query.set("sort", view.sort); query.set("order", view.order); }
  if (after !== null) query.set("after", after);
  return query.toString();
}

function tablePath(schema, name) {
  return "/api/tables/" + encodeURIComponent(schema) + "/" + encodeURIComponent(name);
}

async function showTable(schema, name, filters) {
  Object.assign(view, { schema, name, filters: filters || [], sort: null, order: "asc" });
  const section = document.getElementById("table");
  section.replaceChildren(element("h2", schema + "." + name));
  const detail = await get(tablePath(schema, name));
  view.columns = detail.columns.map((c) => c.name);
  view.keys = {};
  detail.foreign_keys.forEach((fk) => { view.keys[fk.column] = fk; });
  view.referencedBy = detail.referenced_by;
  section.appendChild(element("h3", "Columns"));
  section.appendChild(grid(["column", "type", "not null", "default"],
    detail.columns.map((c) => [c.name + (c.redacted ? " (redacted)" : ""), c.type, c.not_null ? "yes" : "", c.default || ""])));
  section.appendChild(element("h3", "Constraints"));
  section.appendChild(grid(["name", "kind", "definition"], detail.constraints.map((c) => [c.name, c.kind, c.definition])));
  section.appendChild(element("h3", "Indexes"));
  section.appendChild(grid(["name", "definition", "valid"], detail.indexes.map((i) => {
    const valid = element("td", i.valid ? "yes" : "INVALID", i.valid ? "" : "invalid");
    return [i.name, i.definition, valid];
  })));
  section.appendChild(element("h3", "Rows"));
  const filter = element("input");
  filter.id = "filter";
  filter.placeholder = "column:op:value (eq ne lt le gt ge contains null notnull), Enter";
  filter.value = view.filters.join(" ");
  filter.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    view.filters = filter.value.split(/\s+/).filter((f) => f.length > 0);
    showRows(rows, null).catch(report);
  });
  section.appendChild(filter);
  const exports = element("p");
  ["csv", "json"].forEach((format) => {
    const link = exports.appendChild(element("a", "export " + format));
    link.className = "export";
    link.href = "#";
    link.addEventListener("click", (event) => {
      event.preventDefault();
      const path = tablePath(view.schema, view.name) + "/export?format=" + format + "&" + rowsQuery(null);
      download(path, view.schema + "." + view.name + "." + format).catch(report);
    });
    exports.appendChild(document.createTextNode(" "));
  });
  section.appendChild(exports);
  const rows = element("div");
  rows.id = "rows";
  section.appendChild(rows);
  await showRows(rows, null);
}

async function showRows(container, after) {
  const page = await get(tablePath(view.schema, view.name) + "/rows?" + rowsQuery(after));
  const table = element("table");
  const head = table.appendChild(element("tr"));
  view.columns.forEach((column) => {
    const heading = head.appendChild(element("th", column + (view.sort === column ? (view.order === "asc" ? " ▲" : " ▼") : "")));
    heading.addEventListener("click", () => {
      view.order = view.sort === column && view.order === "asc" ? "desc" : "asc";
      view.sort = column;
      showRows(container, null).catch(report);
    });
  });
  if (view.referencedBy.length > 0) head.appendChild(element("th", "referenced by", "referenced-by"));
  page.rows.forEach((values) => {
    const row = table.appendChild(element("tr"));
    view.columns.forEach((column) => {
      const value = values[column];
      if (value === "[redacted]") { row.appendChild(element("td", "[redacted]", "redacted")); return; }
      const text = value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
      const cell = row.appendChild(element("td"));
      const fk = view.keys[column];
      if (fk && value !== null) {
        const link = cell.appendChild(element("a", text, "fk"));
        link.href = "#";
        link.addEventListener("click", (event) => {
          event.preventDefault();
          showTable(fk.schema, fk.table, [fk.references + ":eq:" + text]).catch(report);
        });
      } else {
        cell.textContent = text;
      }
    });
    if (view.referencedBy.length > 0) row.appendChild(referencedByCell(values));
  });
  container.replaceChildren(table);
  if (page.next !== null) {
    const more = element("button", "next page");
    more.addEventListener("click", () => showRows(container, page.next).catch(report));
    container.appendChild(more);
  }
}

// A link to each table whose foreign key points at this row, opening it filtered
// to the rows that do: named by its table, and its column when one table has two.
function referencedByCell(values) {
  const cell = element("td");
  view.referencedBy.forEach((link) => {
    const value = values[link.references];
    if (value === null || value === undefined) return;
    const twice = view.referencedBy.filter((other) => other.schema === link.schema && other.table === link.table).length > 1;
    const name = (link.schema === view.schema ? "" : link.schema + ".") + link.table + (twice ? "." + link.column : "");
    const anchor = cell.appendChild(element("a", name, "referenced"));
    anchor.href = "#";
    anchor.title = link.schema + "." + link.table + "." + link.column + " = " + value;
    anchor.addEventListener("click", (event) => {
      event.preventDefault();
      showTable(link.schema, link.table, [link.column + ":eq:" + value]).catch(report);
    });
    cell.appendChild(document.createTextNode(" "));
  });
  return cell;
}

async function showMigrations() {
  const view = await get("/api/migrations");
  const section = document.getElementById("table");
  section.replaceChildren(element("h2", "Migrations"));
  view.problems.forEach((problem) => section.appendChild(element("p", problem, "invalid")));
  const statements = (migration) => {
    const code = element("pre");
    code.textContent = migration.statements.map((s) => s.sql).join("\n\n");
    return code;
  };
  const drift = element("div");
  const check = element("button", "check drift (replays the applied migrations in a scratch database)");
  check.id = "check-drift";
  check.addEventListener("click", async () => {
    drift.replaceChildren(element("p", "replaying..."));
    try {
      const answer = await get("/api/drift");
      drift.replaceChildren(element("p", answer.differences.length === 0 && answer.problems.length === 0
        ? "no drift: " + answer.applied + " applied migrations make exactly this schema (" + answer.objects + " objects)"
        : (answer.differences.length + answer.problems.length) + " differences from the migrations", "drift"));
      answer.problems.forEach((p) => drift.appendChild(element("p", p, "invalid")));
      answer.differences.forEach((d) => drift.appendChild(element("p",
        d.kind + " " + d.name + (d.attribute ? ": " + d.attribute : "") + " - migrations: " + (d.expected || "none") + "; database: " + (d.actual || "none"), "invalid")));
    } catch (error) { drift.replaceChildren(element("p", String(error), "invalid")); }
  });
  section.appendChild(check);
  section.appendChild(drift);
  section.appendChild(element("h3", "Pending (" + view.pending.length + ")"));
  view.pending.forEach((migration) => {
    section.appendChild(element("h4", migration.tag + " - " + migration.mode));
    if (migration.expanded) section.appendChild(element("p",
      "expanded, contract pending since " + migration.expanded.expanded_at + ": praxia-deploy contract applies the rest once the previous release has retired"));
    migration.findings.forEach((f) => section.appendChild(
      element("p", f.level + "[" + f.rule + "] line " + f.line + ": " + f.message + (f.verdict !== "danger" ? " (" + f.verdict + ")" : ""), f.level === "error" ? "invalid" : "")));
    section.appendChild(statements(migration));
  });
  section.appendChild(element("h3", "Applied (" + view.applied.length + ")"));
  view.applied.slice().reverse().forEach((migration) => {
    section.appendChild(element("h4", migration.tag + " - " + migration.mode + (migration.applied_at ? " - " + migration.applied_at + " UTC by " + migration.applied_by : "")));
    (migration.acknowledgements || []).forEach((a) => section.appendChild(element("p", "acknowledged " + a.rules.join(", ") + ": " + (a.reason || "(no reason)"))));
    section.appendChild(statements(migration));
  });
}

function report(error) {
  document.getElementById("overview").textContent = String(error);
}

function stampText(overview) {
  const stamp = overview.stamp;
  if (overview.stamp_unreadable) return "stamp: could not be read (" + overview.stamp_unreadable + ")";
  if (stamp === null) return "stamp: not stamped";
  return "stamp: " + stamp.name + " (" + stamp.kind + "), " + stamp.stamped_at + " by " + stamp.stamped_by;
}

// Counted rows as they are, an estimate marked as one, and never a guess dressed as either.
function rowsText(table) {
  if (table.rows === null) return "rows not known yet";
  const rows = table.rows.toLocaleString("en-US") + (table.rows === 1 ? " row" : " rows");
  return table.rows_exact ? rows : "~" + rows + " (estimate)";
}

async function start() {
  document.getElementById("migrations-link").addEventListener("click", (event) => {
    event.preventDefault();
    showMigrations().catch(report);
  });
  const overview = await get("/api/overview");
  document.getElementById("overview").textContent =
    overview.environment + " (" + overview.kind + ") - " + overview.database;
  document.getElementById("stamp").textContent = stampText(overview);
  const list = document.getElementById("tables");
  const { tables } = await get("/api/tables");
  tables.forEach((t) => {
    const item = list.appendChild(element("li"));
    const link = item.appendChild(element("a", t.schema + "." + t.name));
    link.href = "#";
    link.addEventListener("click", (event) => { event.preventDefault(); showTable(t.schema, t.name).catch(report); });
    const about = item.appendChild(element("small", rowsText(t) + " · " + (t.size === null ? "size not known yet" : t.size)));
    about.title = t.rows === null ? "never analysed, and not counted: too long, locked, or not readable by this role"
      : t.rows_exact ? "counted: PostgreSQL has not analysed this table yet" : "PostgreSQL's estimate from its last ANALYZE";
  });
}

start().catch((error) => { document.getElementById("overview").textContent = String(error); });

// The studio's page: plain DOM, no dependencies, every request to this origin.
"use strict";

async function get(path) {
  const answer = await fetch(path, { credentials: "same-origin" });
  if (!answer.ok) throw new Error(path + ": " + answer.status + " " + (await answer.text()));
  return answer.json();
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

async function showTable(schema, name) {
  const section = document.getElementById("table");
  section.replaceChildren(element("h2", schema + "." + name));
  const detail = await get("/api/tables/" + encodeURIComponent(schema) + "/" + encodeURIComponent(name));
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
  const rows = element("div");
  section.appendChild(rows);
  await showRows(rows, schema, name, detail.columns.map((c) => c.name), null);
}

async function showRows(container, schema, name, columns, after) {
  const query = after === null ? "" : "?after=" + encodeURIComponent(after);
  const page = await get("/api/tables/" + encodeURIComponent(schema) + "/" + encodeURIComponent(name) + "/rows" + query);
  container.replaceChildren(grid(columns, page.rows.map((row) => columns.map((column) => {
    const value = row[column];
    if (value === "[redacted]") return element("td", "[redacted]", "redacted");
    return element("td", value === null ? "" : typeof value === "object" ? JSON.stringify(value) : value);
  }))));
  if (page.next !== null) {
    const more = element("button", "next page");
    more.addEventListener("click", () => showRows(container, schema, name, columns, page.next));
    container.appendChild(more);
  }
}

async function start() {
  const overview = await get("/api/overview");
  document.getElementById("overview").textContent =
    overview.environment + " (" + overview.kind + ") - " + overview.database;
  const list = document.getElementById("tables");
  const { tables } = await get("/api/tables");
  tables.forEach((t) => {
    const item = list.appendChild(element("li"));
    const link = item.appendChild(element("a", t.schema + "." + t.name));
    link.href = "#";
    link.addEventListener("click", (event) => { event.preventDefault(); showTable(t.schema, t.name); });
    item.appendChild(element("small", " ~" + (t.estimated_rows === null ? "?" : t.estimated_rows) + " rows"));
  });
}

start().catch((error) => { document.getElementById("overview").textContent = String(error); });

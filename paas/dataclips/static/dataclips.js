// The dataclip editor page: Save & Run (also Ctrl/Cmd+Enter), cancel, schema explorer and completion,
// chart settings, fork, versions, revoke. The SQL editor itself is CodeMirror (editor.js, loaded
// first); without it the plain textarea still works.
"use strict";
(function () {
  const root = document.getElementById("editor");
  if (!root) return;
  const clip = JSON.parse(root.dataset.clip);
  const $ = (id) => document.getElementById(id);
  const api = (path) => "/dataclips/api/clips/" + clip.id + path;
  // every state-changing request carries the session's CSRF token (the server checks it)
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";
  let running = false;
  const editor = window.PaasEditor ? window.PaasEditor.create($("sql"), { onRun: saveAndRun, nonce: styleNonce() }) : plainEditor($("sql"));
  root.dataset.editor = window.PaasEditor ? "codemirror" : "textarea";

  function styleNonce() {
    const meta = document.querySelector('meta[name="style-nonce"]');
    return meta ? meta.content : "";
  }

  function plainEditor(area) {
    area.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); saveAndRun(); }
    });
    return {
      getValue: () => area.value,
      setValue: (v) => { area.value = v; },
      setSchema: () => {},
      markError: (line, column) => {
        const lines = area.value.split("\n").slice(0, line - 1);
        const pos = lines.reduce((n, l) => n + l.length + 1, 0) + column - 1;
        area.setSelectionRange(pos, pos + 1);
      },
      clearError: () => {},
      insert: (word) => {
        const start = area.selectionStart, end = area.selectionEnd;
        area.value = area.value.slice(0, start) + word + area.value.slice(end);
        area.focus();
        area.setSelectionRange(start + word.length, start + word.length);
      },
    };
  }

  function text(tag, value, cls) {
    const el = document.createElement(tag);
    el.textContent = value;
    if (cls) el.className = cls;
    return el;
  }

  async function call(method, url, body) {
    const headers = body ? { "Content-Type": "application/json" } : {};
    if (method !== "GET") headers["X-CSRF-Token"] = csrf;
    const res = await fetch(url, {
      method,
      credentials: "same-origin",
      headers,
      body: body ? JSON.stringify(body) : undefined,
    });
    let data = null;
    try { data = await res.json(); } catch (e) { data = { message: res.statusText }; }
    if (res.status === 401) { location.href = "/dataclips/login?next=" + encodeURIComponent(location.pathname); }
    return { ok: res.ok, status: res.status, data };
  }

  function showError(err) {
    const box = $("error");
    let message = err.message || "The query failed.";
    const detail = err.error || {};
    if (detail.line) {
      message += "\nat line " + detail.line + ", column " + detail.column;
      const lines = editor.getValue().split("\n");
      const line = lines[detail.line - 1];
      if (line !== undefined) message += "\n" + line + "\n" + " ".repeat(Math.max(0, detail.column - 1)) + "^";
      editor.markError(detail.line, detail.column, err.message || "error");
    }
    if (detail.hint) message += "\nHint: " + detail.hint;
    box.textContent = message;
    box.hidden = false;
  }

  function renderResult(result) {
    $("result-card").hidden = false;
    $("result-meta").textContent = result.summary + (result.message ? " · " + result.message : "");
    $("notice").textContent = result.notice || "";
    $("notice").hidden = !result.notice;
    const chart = $("chart");
    chart.innerHTML = result.chart ? result.chart.svg : "";  // server-made SVG, values escaped there
    const table = document.createElement("table");
    table.className = "results";
    const head = table.createTHead().insertRow();
    result.fields.forEach((f, i) => {
      const th = text("th", f); th.title = result.types[i]; th.dataset.kind = result.kinds[i]; head.appendChild(th);
    });
    const body = table.createTBody();
    result.values.forEach((row) => {
      const tr = body.insertRow();
      row.forEach((v) => tr.appendChild(text("td", v === null ? "" : (typeof v === "object" ? JSON.stringify(v) : String(v)))));
    });
    $("results").replaceChildren(table);
    fillChartControls();
  }

  // ---- chart settings: picked here, saved with the clip, drawn by the server from the latest result
  function columns() {
    return Array.from(document.querySelectorAll("#results thead th")).map((th) => ({ name: th.textContent, kind: th.dataset.kind }));
  }

  function fillChartControls() {
    const cols = columns();
    const x = $("chart-x");
    x.replaceChildren(text("option", "(automatic)"));
    x.firstChild.value = "";
    cols.forEach((c) => { const o = text("option", c.name); o.value = c.name; x.appendChild(o); });
    x.value = cols.some((c) => c.name === clip.chart.x) ? clip.chart.x : "";
    const y = $("chart-y");
    y.replaceChildren();
    cols.filter((c) => c.kind === "number").forEach((c) => {
      const label = document.createElement("label");
      label.className = "inline";
      const box = document.createElement("input");
      box.type = "checkbox"; box.value = c.name; box.className = "chart-y";
      box.checked = (clip.chart.y || []).includes(c.name);
      label.appendChild(box);
      label.appendChild(document.createTextNode(" " + c.name));
      y.appendChild(label);
    });
    $("chart-kind").value = clip.chart.kind || "auto";
  }

  // One save at a time: two PUTs in flight can reach the server in either order, and the clip
  // would keep the older pick while the page shows the newer one. A pick made meanwhile is sent
  // (with whatever the controls then say) once the save in flight has been answered.
  let chartSaving = false;
  let chartAgain = false;

  function chartSettings() {
    return {
      kind: $("chart-kind").value,
      x: $("chart-x").value || null,
      y: Array.from(document.querySelectorAll("#chart-y input:checked")).map((b) => b.value),
    };
  }

  async function saveChart() {
    if (chartSaving) { chartAgain = true; return; }
    chartSaving = true;
    try {
      do {
        chartAgain = false;
        const r = await call("PUT", api("/chart"), chartSettings());
        if (chartAgain) continue;  // a newer pick follows: its answer is the one to draw
        if (!r.ok) { showError(r.data); return; }
        clip.chart = r.data.clip.chart;
        $("chart").innerHTML = r.data.chart ? r.data.chart.svg : "";  // server-made SVG
        $("chart").dataset.saved = [clip.chart.kind, clip.chart.x || ""].concat(clip.chart.y || []).join(" ");
        $("status").textContent = "Chart saved";
      } while (chartAgain);
    } finally {
      chartSaving = false;
    }
  }

  async function fork() {
    const r = await call("POST", api("/fork"));
    if (r.ok) location.href = "/dataclips/clips/" + r.data.id;
    else showError(r.data);
  }

  function renderVersions(c) {
    const list = $("versions");
    list.replaceChildren();
    (c.versions || []).forEach((v) => {
      const li = document.createElement("li");
      li.dataset.version = v.number;
      li.appendChild(text("strong", "v" + v.number));
      li.appendChild(document.createTextNode((v.number === c.version ? " (current)" : "") + " · " + v.note + " · " + (v.created_at || "") + " · " + v.target + " "));
      if (v.number !== c.version) {
        const b = text("button", "Revert", "revert");
        b.dataset.version = v.number;
        li.appendChild(b);
      }
      li.appendChild(text("pre", v.sql.slice(0, 400)));
      list.appendChild(li);
    });
  }

  function setShare(c) {
    const url = location.origin + c.share_path;
    const link = $("share-link");
    link.href = url; link.textContent = url;
    $("csv-link").href = url + ".csv";
    $("json-link").href = url + ".json";
  }

  async function refreshClip() {
    const r = await call("GET", api(""));
    if (r.ok) { clip.version = r.data.version; renderVersions(r.data); setShare(r.data); }
    return r;
  }

  async function saveAndRun() {
    if (running) return;
    running = true;
    $("error").hidden = true;
    editor.clearError();
    $("save-run").disabled = true;
    $("cancel").hidden = false;
    $("status").textContent = "Running…";
    const started = performance.now();
    try {
      const r = await call("POST", api("/run"), { title: $("title").value, target: $("target").value, sql: editor.getValue(), fresh: true });
      if (r.ok) {
        renderResult(r.data.result);
        $("status").textContent = "Saved as v" + r.data.clip.version;
      } else {
        showError(r.data);
        $("status").textContent = r.status === 422 ? "Saved; the query failed" : "Failed";
      }
      await refreshClip();
    } catch (e) {
      showError({ message: "The request failed: " + e });
      $("status").textContent = "";
    } finally {
      running = false;
      $("save-run").disabled = false;
      $("cancel").hidden = true;
      document.title = $("title").value + " · Dataclips";
      root.dataset.lastRunMs = String(Math.round(performance.now() - started));
    }
  }

  async function cancel() {
    $("status").textContent = "Cancelling…";
    await call("POST", api("/cancel"));
  }

  async function loadSchema() {
    const list = $("schema-list");
    list.replaceChildren(text("li", "Loading…", "muted"));
    const r = await call("GET", "/dataclips/api/schema?target=" + encodeURIComponent($("target").value));
    list.replaceChildren();
    if (!r.ok) { list.appendChild(text("li", r.data.message || "Schema unavailable", "muted")); return; }
    editor.setSchema(r.data);  // the editor completes these tables and columns
    root.dataset.schemaTables = String(r.data.length);
    if (!r.data.length) { list.appendChild(text("li", "No tables yet.", "muted")); }
    r.data.forEach((t) => {
      const li = document.createElement("li");
      li.className = "table";
      li.dataset.search = (t.name + " " + t.columns.map((c) => c.name).join(" ")).toLowerCase();
      const name = text("span", t.name, "tname");
      name.addEventListener("click", () => insert(t.name));
      li.appendChild(name);
      const ul = document.createElement("ul");
      t.columns.forEach((c) => {
        const item = document.createElement("li");
        const col = text("span", c.name, "col");
        col.addEventListener("click", () => insert(c.name));
        item.appendChild(col);
        item.appendChild(text("span", c.type, "type"));
        ul.appendChild(item);
      });
      li.appendChild(ul);
      list.appendChild(li);
    });
    filterSchema();
  }

  function filterSchema() {
    const q = $("schema-filter").value.trim().toLowerCase();
    document.querySelectorAll("#schema-list li.table").forEach((li) => { li.hidden = q !== "" && !li.dataset.search.includes(q); });
  }

  function insert(word) { editor.insert(word); }

  $("save-run").addEventListener("click", saveAndRun);
  $("cancel").addEventListener("click", cancel);
  $("target").addEventListener("change", loadSchema);
  $("schema-filter").addEventListener("input", filterSchema);
  $("fork").addEventListener("click", fork);
  $("chart-kind").addEventListener("change", saveChart);
  $("chart-x").addEventListener("change", saveChart);
  $("chart-y").addEventListener("change", saveChart);
  $("revoke").addEventListener("click", async () => {
    const r = await call("POST", api("/revoke"));
    if (r.ok) { setShare(r.data.clip); $("status").textContent = "Link revoked; a new secret link was made"; }
  });
  $("versions").addEventListener("click", async (e) => {
    const b = e.target.closest("button.revert");
    if (!b) return;
    const r = await call("POST", api("/revert"), { version: Number(b.dataset.version) });
    if (r.ok) {
      $("title").value = r.data.title; $("target").value = r.data.target; editor.setValue(r.data.sql);
      await saveAndRun();
    }
  });
  fillChartControls();
  loadSchema();
})();

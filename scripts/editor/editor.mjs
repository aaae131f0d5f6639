// The dataclips SQL editor: CodeMirror 6 with PostgreSQL highlighting, completion of the clip's
// tables and columns, Ctrl/Cmd+Enter to run, and the database's error position marked.
// Bundled into paas/dataclips/static/editor.js by scripts/build_editor.sh; exposes window.PaasEditor.
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { PostgreSQL, sql } from "@codemirror/lang-sql";
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { lintGutter, setDiagnostics } from "@codemirror/lint";
import { Compartment, EditorState, Prec } from "@codemirror/state";
import {
  EditorView, drawSelection, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers, placeholder,
} from "@codemirror/view";

// lang-sql's schema shape: public tables at the top, other schemas nested ({schema: {table: [cols]}})
function schemaSpec(tables) {
  const spec = {};
  for (const t of tables) {
    const cols = t.columns.map((c) => ({ label: c.name, type: "property", detail: c.type }));
    if (t.schema === "public") spec[t.table] = cols;
    else (spec[t.schema] = spec[t.schema] || {})[t.table] = cols;
  }
  return spec;
}

// Column names also complete unqualified (`SELECT no|` → note), as people type them before FROM.
function columnSource(tables) {
  const seen = new Map();
  for (const t of tables) {
    for (const c of t.columns) {
      const known = seen.get(c.name);
      if (known) known.detail += ", " + t.name;
      else seen.set(c.name, { label: c.name, type: "property", detail: t.name, boost: -1 });
    }
  }
  const options = [...seen.values()];
  return (context) => {
    const word = context.matchBefore(/[\w$]+/);
    if (!word && !context.explicit) return null;
    const before = context.state.sliceDoc(Math.max(0, (word ? word.from : context.pos) - 1), word ? word.from : context.pos);
    if (before === ".") return null; // qualified: lang-sql answers with that table's columns
    return { from: word ? word.from : context.pos, options, validFor: /^[\w$]*$/ };
  };
}

function language(tables) {
  const lang = sql({ dialect: PostgreSQL, schema: schemaSpec(tables), upperCaseKeywords: true });
  return [lang, lang.language.data.of({ autocomplete: columnSource(tables) })];
}

// PostgreSQL's line and column count characters; CodeMirror counts UTF-16 units.
function offsetOf(doc, line, column) {
  const ln = doc.line(Math.min(Math.max(1, line), doc.lines));
  const chars = Array.from(ln.text).slice(0, Math.max(0, column - 1));
  return Math.min(ln.from + chars.join("").length, ln.to);
}

function create(textarea, options) {
  const onRun = options.onRun || (() => {});
  const langSlot = new Compartment();
  const run = () => { onRun(); return true; };
  const view = new EditorView({
    parent: textarea.parentNode,
    state: EditorState.create({
      doc: textarea.value,
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), history(), drawSelection(), indentOnInput(),
        bracketMatching(), closeBrackets(), highlightActiveLine(), lintGutter(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        autocompletion({ activateOnTyping: true }),
        placeholder("SELECT …"),
        Prec.highest(keymap.of([{ key: "Mod-Enter", run, preventDefault: true }])),
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...completionKeymap, indentWithTab]),
        langSlot.of(language([])),
        EditorView.cspNonce.of(options.nonce || ""),
        EditorView.contentAttributes.of({ "aria-label": "SQL", spellcheck: "false" }),
        // the hidden textarea keeps the text too (the page's fallback and a plain form value)
        EditorView.updateListener.of((u) => { if (u.docChanged) textarea.value = u.state.doc.toString(); }),
      ],
    }),
  });
  view.dom.id = textarea.id + "-editor";
  textarea.parentNode.insertBefore(view.dom, textarea);
  textarea.hidden = true;
  return {
    view,
    getValue: () => view.state.doc.toString(),
    setValue(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
      textarea.value = text;
    },
    setSchema(tables) { view.dispatch({ effects: langSlot.reconfigure(language(tables)) }); },
    markError(line, column, message) {
      const from = offsetOf(view.state.doc, line, column);
      const to = Math.min(from + 1, view.state.doc.length);
      view.dispatch(setDiagnostics(view.state, [{ from, to, severity: "error", message }]));
      view.dispatch({ selection: { anchor: from }, scrollIntoView: true });
    },
    clearError() { view.dispatch(setDiagnostics(view.state, [])); },
    focus() { view.focus(); },
    insert(text) {
      const { from, to } = view.state.selection.main;
      view.dispatch({ changes: { from, to, insert: text }, selection: { anchor: from + text.length } });
      view.focus();
    },
  };
}

window.PaasEditor = { create };

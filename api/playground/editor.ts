/// <reference lib="dom" />
// The code editor: CodeMirror 6 with a language mode where one exists, and
// colours of our own, since some of CodeMirror's default highlight colours
// fall below 4.5:1 on white (#e40, #f00, #085).
import { basicSetup, EditorView } from "codemirror";
import { indentWithTab } from "@codemirror/commands";
import { HighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { EditorState, type Extension } from "@codemirror/state";
import { keymap } from "@codemirror/view";
import { tags as t } from "@lezer/highlight";
import { cpp } from "@codemirror/lang-cpp";
import { go } from "@codemirror/lang-go";
import { java } from "@codemirror/lang-java";
import { javascript } from "@codemirror/lang-javascript";
import { python } from "@codemirror/lang-python";
import { rust } from "@codemirror/lang-rust";

const modes: Record<string, () => Extension> = {
  python,
  javascript,
  typescript: () => javascript({ typescript: true }),
  c: cpp,
  cpp,
  java,
  rust,
  go,
};

// Contrast on white: #708 9.8:1, #a11 7.5:1, #164 7.0:1, #940 6.5:1,
// #00c 11:1, #167 6.6:1, #256 8.2:1, #404740 9.6:1, #c00 6.5:1.
const highlight = HighlightStyle.define([
  { tag: t.keyword, color: "#708" },
  { tag: [t.string, t.special(t.string), t.regexp, t.escape, t.character], color: "#a11" },
  { tag: [t.number, t.bool, t.null, t.atom], color: "#164" },
  { tag: t.comment, color: "#940", fontStyle: "italic" },
  { tag: [t.definition(t.variableName), t.function(t.variableName), t.function(t.propertyName)], color: "#00c" },
  { tag: [t.typeName, t.className, t.namespace], color: "#167" },
  { tag: [t.propertyName, t.special(t.variableName), t.macroName, t.processingInstruction], color: "#256" },
  { tag: [t.meta, t.operator], color: "#404740" },
  { tag: t.invalid, color: "#c00" },
]);

export interface Editor {
  text(): string;
  /**
   * Shows a language's program: as last left (its text, mode and undo
   * history kept per language, so trying another language loses nothing),
   * or the first time, `initial()` in that language's mode.
   */
  show(language: string, initial: () => string): void;
}

/**
 * Tab indents, as in any code editor; CodeMirror's own escape hatch keeps
 * the page keyboard-usable: Escape, then Tab, moves the focus on (the
 * page's hint says so).
 */
export function createEditor(
  parent: HTMLElement,
  opts: { nonce?: string; labelledBy: string; describedBy: string },
): Editor {
  const common: Extension = [
    basicSetup,
    keymap.of([indentWithTab]),
    syntaxHighlighting(highlight),
    // CodeMirror adds its styles as a <style> element: the page's CSP admits it by this nonce.
    opts.nonce ? EditorView.cspNonce.of(opts.nonce) : [],
    EditorView.contentAttributes.of({ "aria-labelledby": opts.labelledBy, "aria-describedby": opts.describedBy }),
  ];
  const view = new EditorView({ parent, extensions: common });
  const states = new Map<string, EditorState>();
  let current: string | undefined;
  return {
    text: () => view.state.doc.toString(),
    show(language, initial) {
      if (current !== undefined) states.set(current, view.state);
      current = language;
      view.setState(
        states.get(language) ?? EditorState.create({ doc: initial(), extensions: [common, modes[language]?.() ?? []] }),
      );
    },
  };
}

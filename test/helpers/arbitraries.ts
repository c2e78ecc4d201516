// fast-check arbitraries derived from zod v4 schemas (the ones that validate
// the API's requests), for the property-based fuzzing of the API
// (test/integration/fuzz.test.ts): values of a schema's type within its
// bounds, values it refuses, and valid-by-type bodies with one field broken,
// each naming the field broken. Refinements (custom checks) are not read: a
// "valid" value may still fail one; an "invalid" one is checked to fail.
import fc from "fast-check";
import type { z } from "zod";

type Schema = z.ZodType;
type JsonType = "string" | "number" | "boolean" | "null" | "array" | "object";
type Path = (string | number)[];

interface Def {
  type: string;
  checks?: { _zod: { def: Record<string, unknown> } }[];
  shape?: Record<string, Schema>;
  catchall?: Schema;
  element?: Schema;
  options?: Schema[];
  entries?: Record<string, string>;
  values?: unknown[];
  innerType?: Schema;
  in?: Schema;
}

const defOf = (s: Schema) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The wrappers that change what may be absent or null, not the value's type. */
const WRAPPERS = new Set(["optional", "default", "prefault", "nullable", "readonly", "catch", "nonoptional"]);

/** The schema under its wrappers (optional, default, nullable, ...) and transforms. */
export function core(s: Schema): Schema {
  const d = defOf(s);
  if (WRAPPERS.has(d.type)) return core(d.innerType!);
  if (d.type === "pipe") return core(d.in!);
  return s;
}

/** Whether an object's key may be left out. */
function mayBeAbsent(s: Schema): boolean {
  const d = defOf(s);
  if (d.type === "optional" || d.type === "default" || d.type === "prefault") return true;
  if (WRAPPERS.has(d.type)) return mayBeAbsent(d.innerType!);
  return d.type === "pipe" ? mayBeAbsent(d.in!) : false;
}

function nullable(s: Schema): boolean {
  const d = defOf(s);
  if (d.type === "nullable") return true;
  if (WRAPPERS.has(d.type)) return nullable(d.innerType!);
  return d.type === "pipe" ? nullable(d.in!) : false;
}

/** Bounds read from a string's, number's or array's checks. */
interface Bounds {
  minLength?: number;
  maxLength?: number;
  pattern?: RegExp;
  format?: string;
  min?: number;
  minInclusive?: boolean;
  max?: number;
  maxInclusive?: boolean;
  int?: boolean;
}

function boundsOf(s: Schema): Bounds {
  const b: Bounds = {};
  for (const c of defOf(s).checks ?? []) {
    const d = c._zod.def;
    if (d.check === "min_length") b.minLength = d.minimum as number;
    else if (d.check === "max_length") b.maxLength = d.maximum as number;
    else if (d.check === "length_equals") b.minLength = b.maxLength = d.length as number;
    else if (d.check === "string_format") {
      b.format = d.format as string;
      if (d.pattern instanceof RegExp) b.pattern = d.pattern;
    } else if (d.check === "greater_than") [b.min, b.minInclusive] = [d.value as number, d.inclusive as boolean];
    else if (d.check === "less_than") [b.max, b.maxInclusive] = [d.value as number, d.inclusive as boolean];
    else if (d.check === "number_format") b.int = String(d.format).includes("int");
  }
  return b;
}

/** The JSON types a schema takes. */
function jsonTypes(s: Schema): Set<JsonType> {
  const c = core(s);
  const d = defOf(c);
  const own = (): JsonType[] => {
    switch (d.type) {
      case "string":
      case "enum":
        return ["string"];
      case "number":
        return ["number"];
      case "boolean":
        return ["boolean"];
      case "null":
        return ["null"];
      case "array":
        return ["array"];
      case "object":
      case "record":
        return ["object"];
      case "literal":
        return d.values!.map((v) => (v === null ? "null" : (typeof v as JsonType)));
      case "union":
        return d.options!.flatMap((o) => [...jsonTypes(o)]);
      default:
        return ["string", "number", "boolean", "null", "array", "object"]; // unknown: takes anything, as far as we know
    }
  };
  return new Set([...own(), ...(nullable(s) ? (["null"] as const) : [])]);
}

/**
 * One character of text as clients and attackers send it: ASCII, any code
 * point (lone surrogates included), and the ones that break naive handling.
 */
const char = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("\0", "\n", "\r", "\u2028", "\ud800", "\udfff", "\ufeff", "é", "😀", '"', "\\"),
  },
);
export const text = (o: { minLength?: number; maxLength?: number } = {}) =>
  fc.string({ unit: char, minLength: o.minLength ?? 0, maxLength: o.maxLength ?? 16 });

/** Strings a number field may be sent by mistake (or on purpose). */
const numberLike = fc.constantFrom("NaN", "Infinity", "-Infinity", "1e999", "0x10", "1", "-1", "", " 1 ", "1_000");

/** Values of a JSON type: ordinary ones, and extremes (huge numbers, deep nesting). */
function ofType(t: JsonType): fc.Arbitrary<unknown> {
  switch (t) {
    case "string":
      return fc.oneof(text(), numberLike);
    case "number":
      return fc.oneof(
        fc.integer(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.constantFrom(-1, 0, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 5e-324),
      );
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array":
      return fc.oneof(fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }), deeplyNested);
    case "object":
      return fc.oneof(
        fc.dictionary(text({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
        deeplyNested.map((v) => ({ v })),
      );
  }
}

/**
 * An array nested a few hundred deep, for recursive validators (deeper ones,
 * as raw JSON text, in the fuzz test: a counterexample this deep is still printable).
 */
const deeplyNested = fc.integer({ min: 100, max: 300 }).map((n) => {
  let v: unknown = [];
  for (let i = 0; i < n; i++) v = [v];
  return v;
});

/** Values of the schema's type within its bounds (its refinements not considered). */
export function valid(s: Schema): fc.Arbitrary<unknown> {
  const d = defOf(s);
  if (d.type === "nullable") return fc.oneof(valid(d.innerType!), fc.constant(null));
  if (WRAPPERS.has(d.type)) return valid(d.innerType!);
  if (d.type === "pipe") return valid(d.in!);
  const b = boundsOf(s);
  switch (d.type) {
    case "string": {
      if (b.format === "uuid") return fc.uuid();
      const len = { minLength: b.minLength ?? 0, maxLength: Math.min(b.maxLength ?? 16, 16) };
      if (b.pattern) return fc.stringMatching(b.pattern, { size: "xsmall" });
      return text(len);
    }
    case "number": {
      const lo = b.min ?? -1e6;
      const hi = b.max ?? 1e6;
      if (b.int)
        return fc.integer({
          min: Math.ceil(b.minInclusive === false ? lo + 1 : lo),
          max: Math.floor(b.maxInclusive === false ? hi - 1 : hi),
        });
      return fc.double({
        min: lo,
        max: hi,
        noNaN: true,
        minExcluded: b.minInclusive === false,
        maxExcluded: b.maxInclusive === false,
      });
    }
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "enum":
      return fc.constantFrom(...Object.values(d.entries!));
    case "literal":
      return fc.constantFrom(...d.values!);
    case "array":
      return fc.array(valid(d.element!), {
        minLength: b.minLength ?? 0,
        maxLength: Math.max(b.minLength ?? 0, Math.min(b.maxLength ?? 3, 3)),
      });
    case "object": {
      const shape = d.shape!;
      const requiredKeys = Object.keys(shape).filter((k) => !mayBeAbsent(shape[k]!));
      return fc.record(Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, valid(v)])), { requiredKeys });
    }
    case "union":
      return fc.oneof(...d.options!.map(valid));
    default:
      throw new Error(`arbitraries: no generator for a zod ${d.type}`);
  }
}

/** Values the schema refuses by its type or its bounds; null if none can be derived. */
export function invalid(s: Schema): fc.Arbitrary<unknown> | null {
  const c = core(s);
  const d = defOf(c);
  const b = boundsOf(c);
  const taken = jsonTypes(s);
  const arbs: fc.Arbitrary<unknown>[] = (["string", "number", "boolean", "null", "array", "object"] as const)
    .filter((t) => !taken.has(t))
    .map(ofType);
  if (d.type === "string") {
    if (b.maxLength !== undefined) arbs.push(text({ minLength: b.maxLength + 1, maxLength: b.maxLength + 64 }));
    if (b.minLength) arbs.push(text({ maxLength: b.minLength - 1 }));
    if (b.pattern || b.format) arbs.push(text());
  } else if (d.type === "enum") {
    const options = Object.values(d.entries!);
    arbs.push(
      fc.oneof(text(), fc.constantFrom(...options.map((o) => o.toUpperCase()), ...options.map((o) => ` ${o}`))),
    );
  } else if (d.type === "number") {
    if (b.max !== undefined) arbs.push(fc.constantFrom(b.max + 1, b.max * 2 + 1, 1e308, Number.MAX_SAFE_INTEGER));
    if (b.min !== undefined)
      arbs.push(fc.constantFrom(b.min - 1, -1, -1e308, b.minInclusive === false ? b.min : b.min - 1));
    if (b.int) arbs.push(fc.constantFrom(0.5, 1.5, 2.000001, 1e-7));
  } else if (d.type === "array") {
    const element = valid(defOf(c).element!);
    if (b.maxLength !== undefined) arbs.push(element.map((e) => Array.from({ length: b.maxLength! + 1 }, () => e)));
    if (b.minLength) arbs.push(fc.array(element, { maxLength: b.minLength - 1 }));
  } else if (d.type === "union" || d.type === "literal") arbs.push(text(), ofType("number"));
  if (!arbs.length) return null;
  // A bound the walker misread, or a value another arm of a union takes, is no mutation: only refused values.
  return fc.oneof(...arbs).filter((v) => v !== undefined && !s.safeParse(v).success);
}

/** A field of a concrete value: where it is, its schema, whether it may be left out. */
export interface Field {
  path: Path;
  schema: Schema;
  optional: boolean;
}

/** Every field present in `value` (objects' keys, arrays' elements), the root first. */
export function fieldsOf(s: Schema, value: unknown, path: Path = [], optional = false): Field[] {
  const out: Field[] = [{ path, schema: s, optional }];
  const c = core(s);
  const d = defOf(c);
  if (d.type === "object" && value && typeof value === "object" && !Array.isArray(value))
    for (const [k, sub] of Object.entries(d.shape!))
      if (k in value) out.push(...fieldsOf(sub, (value as Record<string, unknown>)[k], [...path, k], mayBeAbsent(sub)));
  if (d.type === "array" && Array.isArray(value))
    for (const [i, v] of value.entries()) out.push(...fieldsOf(d.element!, v, [...path, i], true));
  if (d.type === "union") {
    // Into the arm of the value's type (compare's object): a field there is blamed on the union's path.
    const arm = d.options!.find((o) => jsonTypes(o).has(typeOf(value)));
    if (arm && defOf(core(arm)).type !== "union") out.push(...fieldsOf(arm, value, path, optional).slice(1));
  }
  return out;
}

const typeOf = (v: unknown): JsonType => (v === null ? "null" : Array.isArray(v) ? "array" : (typeof v as JsonType));

/** A body with one field broken, and which. */
export interface Mutation {
  body: unknown;
  /** the field broken, as the API names paths ("tests.0.stdin"; "" for the body itself) */
  path: string;
  kind: "removed" | "replaced" | "unknown key";
  /** the key added, for "unknown key" */
  key?: string;
}

/** A copy of `root` with the value at `path` made `to(old)`, or removed where `to` gives undefined. */
function updated(root: unknown, path: Path, to: (old: unknown) => unknown): unknown {
  if (!path.length) return to(root);
  const copy = structuredClone(root);
  let at = copy as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) at = at[p] as Record<string | number, unknown>;
  const key = path[path.length - 1]!;
  const v = to(at[key]);
  if (v === undefined) delete at[key];
  else at[key] = v;
  return copy;
}

/** Names for an unknown key: never one of the object's own. */
const unknownKey = (known: string[]) =>
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,11}$/).filter((k) => !known.includes(k) && k !== "__proto__");

/**
 * A valid-by-type body of `s` with one field broken: a required one removed,
 * a value the field's schema refuses (wrong type, past a bound), or an unknown
 * key in a strict object. The schema refuses every one of them.
 */
export function mutated(s: Schema): fc.Arbitrary<Mutation> {
  return valid(s).chain((base) => {
    const choices: fc.Arbitrary<Mutation>[] = [];
    for (const f of fieldsOf(s, base)) {
      const path = f.path.join(".");
      if (f.path.length && !f.optional)
        choices.push(fc.constant({ body: updated(base, f.path, () => undefined), path, kind: "removed" as const }));
      const bad = invalid(f.schema);
      if (bad)
        choices.push(
          bad.map((v) => ({
            body: updated(base, f.path, () => v),
            path,
            kind: "replaced" as const,
          })),
        );
      const d = defOf(core(f.schema));
      const value = f.path.reduce<unknown>((v, p) => (v as Record<string | number, unknown>)[p], base);
      if (d.type === "object" && d.catchall && defOf(d.catchall).type === "never" && typeOf(value) === "object")
        choices.push(
          fc.tuple(unknownKey(Object.keys(d.shape!)), fc.jsonValue({ maxDepth: 1 })).map(([key, v]) => ({
            body: updated(base, f.path, (old) => ({ ...(old as object), [key]: v })),
            path,
            kind: "unknown key" as const,
            key,
          })),
        );
    }
    return fc.oneof(...choices);
  });
}

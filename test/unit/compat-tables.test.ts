// The compatible APIs' tables name every catalogued language once: a
// language added to the catalogue without its Piston name or Judge0 id, or
// an alias or id given to two languages, would route a client's run to the
// wrong language or to none.
import { describe, expect, it } from "vitest";
import { judge0Ids, languageOfId } from "../../api/compat/judge0-table.js";
import { pistonNames } from "../../api/compat/piston.js";
import { languages } from "../../rootfs/languages.js";

const ids = languages.map((l) => l.id).sort();

describe("the compatible APIs' language tables", () => {
  it("give every catalogued language, and only those, a Piston name and a Judge0 id", () => {
    expect(Object.keys(pistonNames).sort()).toEqual(ids);
    expect(Object.keys(judge0Ids).sort()).toEqual(ids);
  });

  it("never give one Piston name or alias to two languages", () => {
    const owner = new Map<string, string>();
    for (const [id, p] of Object.entries(pistonNames))
      for (const name of new Set([p.language, ...p.aliases, id])) {
        expect(owner.get(name) ?? id, `"${name}"`).toBe(id);
        owner.set(name, id);
      }
  });

  it("never give one Judge0 id to two languages, and keep ruse's own ids out of Judge0's range", () => {
    const all = Object.values(judge0Ids).flat();
    expect(new Set(all).size).toBe(all.length);
    expect(languageOfId.size).toBe(all.length);
    // Python 2's ids are not Python 3's.
    for (const py2 of [36, 37, 70]) expect(languageOfId.get(py2)).toBeUndefined();
    for (const nums of Object.values(judge0Ids)) if (nums[0]! > 1000) expect(nums).toHaveLength(1);
  });
});

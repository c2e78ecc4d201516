// The recipe: which images the catalogue needs (base, then a layer per
// language), everything outside the catalogue that decides their content (the
// build scripts, the Debian mirrors, the compressor), and the hash key of each
// image from those. A changed key is a rebuild.

import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  getLanguage,
  languages as catalogue,
  layerChain,
  layerName,
  layers as layerTable,
  type Language,
} from "./languages.js";

export const SUITE = "bookworm";
export const BASE_IMAGE = "base";
// What build.ts runs: itself, the Debian tools' settings, and tar.ts, whose member identities decide the layer diff.
const BUILD_SCRIPTS = ["./build.ts", "./debian.ts", "./tar.ts"].map((f) => fileURLToPath(new URL(f, import.meta.url)));

export interface ImageSpec {
  name: string;
  /** The image this one is layered on (null for base). */
  parent: string | null;
  /** Debian packages the build installs over base (its own and those of the layers under it), sorted. */
  packages: string[];
  /** Catalogue entries served by this image: id -> versionCommand. */
  versionCommands: Record<string, readonly string[]>;
}

/**
 * The images the catalogue needs, parents before the layers over them.
 * Throws if the catalogue is inconsistent (an unknown layer, a loop, "base").
 */
export function imageSpecs(langs: readonly Language[] = catalogue, table = layerTable): ImageSpec[] {
  if (Object.hasOwn(table, BASE_IMAGE)) throw new Error(`layer name "${BASE_IMAGE}" is reserved`);
  const base: ImageSpec = { name: BASE_IMAGE, parent: null, packages: [], versionCommands: {} };
  const specs = new Map<string, ImageSpec>([[BASE_IMAGE, base]]);
  for (const lang of langs) {
    if (lang.layer === BASE_IMAGE) throw new Error(`language ${lang.id}: layer name "${BASE_IMAGE}" is reserved`);
    const chain = lang.layer ? layerChain(lang.layer, table) : [];
    for (const [i, name] of [...chain.entries()].reverse()) {
      if (specs.has(name)) continue;
      const below = chain.slice(i); // this layer and those under it: what its build installs over base
      specs.set(name, {
        name,
        parent: chain[i + 1] ?? BASE_IMAGE,
        packages: [...new Set(below.flatMap((n) => table[n]!.packages))].sort(),
        versionCommands: {},
      });
    }
    specs.get(lang.layer ?? BASE_IMAGE)!.versionCommands[lang.id] = lang.versionCommand;
  }
  return [...specs.values()];
}

/** The images a language's root is composed of, top first, base last. Throws for unknown ids. */
export function imagesFor(languageId: string): string[] {
  const lang = getLanguage(languageId);
  if (!lang) throw new Error(`unknown language "${languageId}"`);
  const top = layerName(lang);
  return [...(top ? layerChain(top) : []), BASE_IMAGE];
}

/** Everything outside the catalogue that determines an image's content. */
export interface BuildInputs {
  suite: string;
  /** sha256 of BUILD_SCRIPTS: the recipe (mmdebstrap options, clean-up, base packages, layer diff). */
  buildScriptSha256: string;
  /** Debian sources (one-line form) used by mmdebstrap. */
  mirrors: string[];
  /** squashfs compressor. */
  compression: string;
}

const sha256 = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex");

/** Hash key of one image; a layer's key includes its parent's key. */
function imageHash(spec: ImageSpec, inputs: BuildInputs, parentHash: string | null): string {
  if ((spec.parent === null) !== (parentHash === null)) throw new Error(`image ${spec.name}: parent hash mismatch`);
  const versionCommands = Object.fromEntries(
    Object.entries(spec.versionCommands).sort(([a], [b]) => a.localeCompare(b)),
  );
  return sha256(
    JSON.stringify({
      format: 1,
      name: spec.name,
      parent: spec.parent,
      parentHash,
      packages: spec.packages,
      versionCommands,
      suite: inputs.suite,
      buildScriptSha256: inputs.buildScriptSha256,
      mirrors: inputs.mirrors,
      compression: inputs.compression,
    }),
  );
}

/** name -> hash key for all specs (parents must come first, as imageSpecs() orders them). */
export function imageHashes(specs: readonly ImageSpec[], inputs: BuildInputs): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of specs) {
    const parentHash = spec.parent === null ? null : out[spec.parent];
    if (parentHash === undefined) throw new Error(`image ${spec.name}: parent ${spec.parent} not specified before it`);
    out[spec.name] = imageHash(spec, inputs, parentHash);
  }
  return out;
}

/**
 * The Debian sources configured on this machine for `suite` (and its -updates
 * and -security suites), in one-line form for mmdebstrap.  We use the host's
 * mirror rather than a hard-coded one: it is the only one known to be reachable.
 */
export function hostMirrors(suite = SUITE, aptDir = "/etc/apt"): string[] {
  const suiteRe = new RegExp(`^${suite}(-[a-z]+)?$`);
  const out: string[] = [];
  const add = (uri: string, suites: string[], components: string[], signedBy?: string) => {
    const opts = signedBy?.startsWith("/") ? `[signed-by=${signedBy}] ` : "";
    for (const s of suites) if (suiteRe.test(s)) out.push(`deb ${opts}${uri} ${s} ${components.join(" ")}`);
  };
  const files: string[] = [];
  if (fs.existsSync(path.join(aptDir, "sources.list"))) files.push(path.join(aptDir, "sources.list"));
  const d = path.join(aptDir, "sources.list.d");
  if (fs.existsSync(d)) for (const f of fs.readdirSync(d).sort()) files.push(path.join(d, f));
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    if (file.endsWith(".sources")) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const fields: Record<string, string> = {};
        for (const line of stanza.split("\n")) {
          const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
          if (m) fields[m[1]!.toLowerCase()] = m[2]!.trim();
        }
        if (fields.enabled === "no" || !(fields.types ?? "").split(/\s+/).includes("deb")) continue;
        for (const uri of (fields.uris ?? "").split(/\s+/).filter(Boolean)) {
          add(uri, (fields.suites ?? "").split(/\s+/), (fields.components ?? "").split(/\s+/), fields["signed-by"]);
        }
      }
    } else if (file.endsWith(".list") || file === path.join(aptDir, "sources.list")) {
      for (const raw of text.split("\n")) {
        const line = raw.replace(/#.*/, "").trim();
        const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line);
        if (!m) continue;
        const signedBy = /signed-by=(\S+)/.exec(m[1] ?? "")?.[1];
        add(m[2]!, [m[3]!], m[4]!.split(/\s+/), signedBy);
      }
    }
  }
  return [...new Set(out)];
}

/** The build inputs of this checkout and machine. */
export function currentBuildInputs(compression = "zstd"): BuildInputs {
  return {
    suite: SUITE,
    buildScriptSha256: sha256(Buffer.concat(BUILD_SCRIPTS.map((f) => fs.readFileSync(f)))),
    mirrors: hostMirrors(SUITE),
    compression,
  };
}

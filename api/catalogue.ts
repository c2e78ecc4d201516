// The languages this server offers, as every API lists them (v1, Piston,
// Judge0): each catalogued language with the version its built image
// reports, and whether its images are built here.
import { languages, type Language } from "../rootfs/languages.js";
import { hasImages, languageReady, languageVersions } from "../rootfs/manifest.js";

export interface Offered {
  lang: Language;
  /** read from the built image; null: not built here (an API host without images, or built on demand) */
  version: string | null;
  /** built here; if not, the first run builds it (or is refused with RUSE_BUILD_ON_DEMAND=0) */
  ready: boolean;
}

/**
 * How long a listing is reused: reading it checks every language's images
 * (a manifest read each), too much for every Piston or Judge0 request; an
 * image built on demand shows within this time.
 */
const FRESH_MS = 2000;
let last: { at: number; list: Offered[] } | null = null;

export function offered(): Offered[] {
  if (last && Date.now() - last.at < FRESH_MS) return last.list;
  // An API host whose workers are elsewhere has no manifest: every language is offered, its version unknown.
  const built = hasImages();
  const versions = built ? languageVersions() : {};
  const list = languages.map((lang) => ({
    lang,
    version: versions[lang.id]?.version ?? null,
    ready: !built || languageReady(lang.id),
  }));
  last = { at: Date.now(), list };
  return list;
}

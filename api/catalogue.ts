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

export function offered(): Offered[] {
  // An API host whose workers are elsewhere has no manifest: every language is offered, its version unknown.
  const built = hasImages();
  const versions = built ? languageVersions() : {};
  return languages.map((lang) => ({
    lang,
    version: versions[lang.id]?.version ?? null,
    ready: !built || languageReady(lang.id),
  }));
}

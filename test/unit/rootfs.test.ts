// Unit tests of rootfs/: the language catalogue, image hash keys, the manifest
// reader's errors and the layer diff.  Nothing here builds or mounts an image.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  commonEnv,
  expandLanguages,
  getLanguage,
  languageEnv,
  languages,
  layerChain,
  layerName,
  layers,
  type Language,
} from "../../rootfs/languages.js";
import {
  buildCacheDir,
  ImageError,
  imageFileName,
  layersFor,
  readManifest,
  rebuildCommand,
  verifyImage,
  type ImageRecord,
  type Manifest,
} from "../../rootfs/manifest.js";
import { hostMirrors, imageHashes, imageSpecs, imagesFor, type BuildInputs } from "../../rootfs/recipe.js";
import { layerMembers, parseVersion } from "../../rootfs/build.js";
import { wantedImages } from "../../rootfs/images.js";
import type { TarEntry } from "../../rootfs/tar.js";

const COMPILED = [
  ...["c", "cpp", "go", "rust", "haskell", "ocaml", "fortran", "d", "ada", "pascal", "nim", "cobol", "assembly"],
  ...["java", "kotlin", "scala", "csharp", "typescript"],
];

describe("language catalogue", () => {
  it("has the expected languages with unique, URL-safe ids", () => {
    const ids = languages.map((l) => l.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBeGreaterThanOrEqual(30);
    expect(ids).toEqual(expect.arrayContaining(["bash", "c", "cpp", "go", "java", "javascript", "python", "rust"]));
    for (const id of ids) expect(id).toMatch(/^[a-z][a-z0-9]*$/);
  });

  it("getLanguage finds every entry and nothing else", () => {
    for (const l of languages) expect(getLanguage(l.id)).toBe(l);
    expect(getLanguage("brainfuck")).toBeUndefined();
  });

  it.each(languages.map((l) => [l.id, l] as const))("%s is well-formed", (_id, l: Language) => {
    expect(l.name.length).toBeGreaterThan(0);
    // A plain file name in /box with the conventional extension.
    expect(l.sourceFile).toMatch(/^[A-Za-z][\w]*\.[a-z0-9]+$/);
    expect(l.run.length).toBeGreaterThan(0);
    expect(l.versionCommand.length).toBeGreaterThan(0);
    if (l.layer) expect(layers[l.layer], `${l.id}: layer ${l.layer}`).toBeDefined();
    expect(l.examples.hello.length).toBeGreaterThan(0);
    if (COMPILED.includes(l.id)) {
      expect(l.compile, `${l.id} needs a compile command`).toBeDefined();
      expect(l.compile!.join(" ")).toContain(l.sourceFile);
    } else {
      expect(l.compile).toBeUndefined();
      expect(l.run.join(" ")).toContain(l.sourceFile);
    }
    // Everything writable must be on the tmpfs mounts: the image is read-only.
    for (const [k, v] of Object.entries(languageEnv(l))) {
      if (k !== "PATH" && v.startsWith("/")) expect(v, k).toMatch(/^\/(box|tmp)(\/|$)/);
    }
    for (const v of Object.values(l.limits ?? {})) {
      if (typeof v === "number") expect(v).toBeGreaterThan(0);
    }
  });

  it("java uses Main.java and runs class Main from /box", () => {
    const java = getLanguage("java")!;
    expect(java.sourceFile).toBe("Main.java");
    expect(java.run).toContain("Main");
    expect(java.run.join(" ")).toContain("-cp /box");
  });

  it("every layer is used by a language, names Debian packages and sits on a known layer", () => {
    const used = new Set(languages.flatMap((l) => (l.layer ? layerChain(l.layer) : [])));
    expect([...used].sort()).toEqual(Object.keys(layers).sort());
    for (const [name, layer] of Object.entries(layers)) {
      expect(layer.packages.length, name).toBeGreaterThan(0);
      for (const p of layer.packages) expect(p).toMatch(/^[a-z0-9][a-z0-9+.-]+$/);
      if (layer.over) expect(layers[layer.over], `${name} over ${layer.over}`).toBeDefined();
    }
  });

  it("packs and toolchains are layers over their language, not copies of it", () => {
    expect(imagesFor("python")).toEqual(["python-libs", "python", "base"]);
    expect(imagesFor("java")).toEqual(["junit", "java", "base"]);
    expect(imagesFor("kotlin")).toEqual(["kotlin", "java", "base"]);
    expect(imagesFor("fortran")).toEqual(["fortran", "gcc", "base"]);
    expect(imagesFor("bash")).toEqual(["base"]);
    expect(() => layerChain("x", { x: { packages: ["a"], over: "y" }, y: { packages: ["b"], over: "x" } })).toThrow(
      /loop: x over y over x/,
    );
    expect(() => layerChain("x", { x: { packages: ["a"], over: "nope" } })).toThrow(/unknown image layer "nope"/);
  });

  it("npm run images -- NAME: a language's images with those under them (java: its JUnit pack too)", () => {
    const specs = imageSpecs();
    expect([...wantedImages(["java"], specs)].sort()).toEqual(["base", "java", "junit"]);
    expect([...wantedImages(["elixir", "gcc"], specs)].sort()).toEqual(["base", "elixir", "erlang", "gcc"]);
    expect(wantedImages(["all"], specs).size).toBe(specs.length);
    expect(() => wantedImages(["klingon"], specs)).toThrow(/unknown language or image "klingon"/);
  });

  it("RUSE_LANGUAGES: ids or all; an unknown id is named", () => {
    expect(expandLanguages(["all"])).toHaveLength(languages.length);
    expect(expandLanguages(["c", "c", "python"])).toEqual(["c", "python"]);
    expect(() => expandLanguages(["c", "klingon"])).toThrow(/unknown language "klingon"/);
  });

  it("bash needs no layer; c and cpp share the gcc layer", () => {
    expect(layerName(getLanguage("bash")!)).toBeNull();
    expect(layerName(getLanguage("c")!)).toBe("gcc");
    expect(layerName(getLanguage("cpp")!)).toBe("gcc");
    expect(layerName(getLanguage("python")!)).toBe("python-libs");
  });

  it("common environment points HOME at /box and temp files at /tmp", () => {
    expect(commonEnv.HOME).toBe("/box");
    expect(commonEnv.TMPDIR).toBe("/tmp");
    expect(commonEnv.LANG).toBe("C.UTF-8");
  });
});

describe("image specs", () => {
  it("lists base first, each layer after the one under it, with the packages of those under it", () => {
    const specs = imageSpecs();
    expect(specs[0]!.name).toBe("base");
    expect(specs[0]!.parent).toBeNull();
    expect(specs.map((s) => s.name).sort()).toEqual(["base", ...Object.keys(layers)].sort());
    const seen = new Set<string>();
    for (const s of specs) {
      if (s.parent) {
        expect(seen.has(s.parent), `${s.parent} before ${s.name}`).toBe(true);
        const parent = specs.find((p) => p.name === s.parent)!;
        expect(s.packages).toEqual(expect.arrayContaining(parent.packages));
        expect(s.packages.length).toBeGreaterThan(parent.packages.length);
      }
      expect([...s.packages].sort()).toEqual(s.packages);
      seen.add(s.name);
    }
    expect(Object.keys(specs[0]!.versionCommands)).toEqual(["bash"]);
    expect(Object.keys(specs.find((s) => s.name === "gcc")!.versionCommands).sort()).toEqual(["c", "cpp"]);
    expect(Object.keys(specs.find((s) => s.name === "java")!.versionCommands)).toEqual([]); // under junit, kotlin, ...
  });

  it("rejects a language on an unknown layer or on the reserved name base", () => {
    const c = getLanguage("c")!;
    expect(() => imageSpecs([{ ...c, layer: "nope" }])).toThrow(/unknown image layer "nope"/);
    expect(() => imageSpecs([{ ...c, layer: "base" }])).toThrow(/reserved/);
    expect(() => imageSpecs([c], { ...layers, base: { packages: ["x"] } })).toThrow(/reserved/);
  });
});

describe("image hash keys", () => {
  const inputs: BuildInputs = {
    suite: "bookworm",
    buildScriptSha256: "a".repeat(64),
    mirrors: ["deb http://deb.debian.org/debian bookworm main"],
    compression: "zstd",
  };
  const hashes = (langs: readonly Language[] = languages, inp: BuildInputs = inputs, table = layers) =>
    imageHashes(imageSpecs(langs, table), inp);
  const base = hashes();

  it("is deterministic and gives distinct names", () => {
    expect(hashes()).toEqual(base);
    expect(new Set(Object.values(base)).size).toBe(Object.keys(base).length);
    expect(imageFileName("python", base.python!)).toMatch(/^python-[0-9a-f]{12}\.sqfs$/);
  });

  it.each([
    ["build script", { ...inputs, buildScriptSha256: "b".repeat(64) }],
    ["suite", { ...inputs, suite: "trixie" }],
    ["mirrors", { ...inputs, mirrors: ["deb http://example.invalid/debian bookworm main"] }],
    ["compression", { ...inputs, compression: "lz4" }],
  ])("changes every image when the %s changes", (_what, changed) => {
    const h = hashes(languages, changed);
    for (const name of Object.keys(base)) expect(h[name], name).not.toBe(base[name]);
  });

  it("changes only the layer whose packages change, and the layers over it", () => {
    const table = { ...layers, python: { packages: ["python3", "python3-venv"] } };
    const h = hashes(languages, inputs, table);
    expect(h.python).not.toBe(base.python);
    expect(h["python-libs"]).not.toBe(base["python-libs"]);
    for (const name of Object.keys(base).filter((n) => !n.startsWith("python"))) expect(h[name], name).toBe(base[name]);
  });

  it("changes a layer when its version command changes", () => {
    const langs = languages.map((l) => (l.id === "go" ? { ...l, versionCommand: ["go", "env", "GOVERSION"] } : l));
    expect(hashes(langs).go).not.toBe(base.go);
  });

  it("changes every layer when base changes (a layer's key includes base's)", () => {
    const langs = languages.map((l) =>
      l.id === "bash" ? { ...l, versionCommand: ["sh", "-c", "echo $BASH_VERSION"] } : l,
    );
    const h = hashes(langs);
    for (const name of Object.keys(base)) expect(h[name], name).not.toBe(base[name]);
  });

  it("does not change when only how programs are run changes", () => {
    const langs = languages.map((l) => ({
      ...l,
      run: [...l.run, "--flag"],
      env: { X: "1" },
      limits: { processes: 99 },
    }));
    expect(hashes(langs)).toEqual(base);
  });
});

describe("host mirrors", () => {
  it("reads deb822 and one-line sources, keeping only the suite's", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ruse-apt-"));
    fs.mkdirSync(path.join(dir, "sources.list.d"));
    fs.writeFileSync(
      path.join(dir, "sources.list.d", "debian.sources"),
      "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n" +
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n" +
        "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\n\n" +
        "Enabled: no\nTypes: deb\nURIs: http://disabled.invalid/debian\nSuites: bookworm\nComponents: main\n",
    );
    fs.writeFileSync(
      path.join(dir, "sources.list"),
      "# comment\ndeb http://security.debian.org/debian-security bookworm-security main\n",
    );
    fs.writeFileSync(
      path.join(dir, "sources.list.d", "other.list"),
      "deb https://packages.example.invalid/apt cloud-sdk-bookworm main\n",
    );
    fs.writeFileSync(
      path.join(dir, "sources.list.d", "x.list.disabled"),
      "deb http://x.invalid/debian bookworm main\n",
    );
    expect(hostMirrors("bookworm", dir)).toEqual([
      "deb http://security.debian.org/debian-security bookworm-security main",
      "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main",
      "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-updates main",
    ]);
    fs.rmSync(dir, { recursive: true });
  });
});

describe("manifest reader", () => {
  let dir: string;
  const savedEnv = process.env.RUSE_IMAGE_CACHE;

  // A tiny file that passes the cheap check: squashfs magic and bytes_used.
  const fakeImage = (file: string, size = 4096, bytesUsed = 4000): void => {
    const b = Buffer.alloc(size);
    b.writeUInt32LE(0x73717368, 0);
    b.writeBigUInt64LE(BigInt(bytesUsed), 40);
    fs.writeFileSync(file, b);
  };
  const record = (name: string, over: Partial<ImageRecord> = {}): ImageRecord => ({
    file: `${name}-000000000000.sqfs`,
    hash: `${name}hash`,
    parent: name === "base" ? null : "base",
    parentHash: name === "base" ? null : "basehash",
    packages: [],
    sizeBytes: 4096,
    sha256: "0".repeat(64),
    compression: "zstd",
    version: "1.0",
    languages: {},
    builtAt: "2024-01-01T00:00:00Z",
    buildSeconds: 1,
    ...over,
  });
  const writeManifest = (images: Record<string, ImageRecord>): void => {
    const m: Manifest = { format: 1, suite: "bookworm", images };
    fs.writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(m));
    for (const rec of Object.values(images)) fakeImage(path.join(dir, rec.file));
  };
  const thrown = (f: () => unknown): ImageError => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(ImageError);
      return e as ImageError;
    }
    throw new Error("did not throw");
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ruse-images-"));
    process.env.RUSE_IMAGE_CACHE = dir;
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    if (savedEnv === undefined) delete process.env.RUSE_IMAGE_CACHE;
    else process.env.RUSE_IMAGE_CACHE = savedEnv;
  });

  it("uses RUSE_IMAGE_CACHE", () => {
    expect(buildCacheDir()).toBe(dir);
  });

  it("names the build command when there is no manifest", () => {
    const e = thrown(() => readManifest(dir));
    expect(e.message).toContain(path.join(dir, "manifest.json"));
    expect(e.message).toContain("npm run images");
  });

  it("names the build command when the manifest is corrupt", () => {
    fs.writeFileSync(path.join(dir, "manifest.json"), "{ not json");
    expect(thrown(() => readManifest(dir)).message).toMatch(/corrupt.*npm run images/s);
  });

  it("accepts a good image and returns its path", () => {
    writeManifest({ base: record("base") });
    expect(verifyImage("base", { cacheDir: dir })).toBe(path.join(dir, "base-000000000000.sqfs"));
  });

  it("reports an image missing from the manifest with its rebuild command", () => {
    writeManifest({ base: record("base") });
    const e = thrown(() => verifyImage("python", { cacheDir: dir }));
    expect(e.image).toBe("python");
    expect(e.message).toContain('image "python" is not built');
    expect(e.message).toContain("npm run images -- python");
  });

  it("reports a missing image file", () => {
    writeManifest({ base: record("base") });
    fs.rmSync(path.join(dir, "base-000000000000.sqfs"));
    const e = thrown(() => verifyImage("base", { cacheDir: dir }));
    expect(e.message).toMatch(/image "base" is missing .*ENOENT/);
    expect(e.message).toContain("npm run images -- base");
  });

  it("reports a truncated image", () => {
    writeManifest({ base: record("base") });
    fs.truncateSync(path.join(dir, "base-000000000000.sqfs"), 2048);
    const e = thrown(() => verifyImage("base", { cacheDir: dir }));
    expect(e.message).toMatch(/is corrupt: .* has 2048 bytes, the manifest says 4096/);
    expect(e.rebuild).toBe("npm run images -- base");
  });

  it("reports a file that is not squashfs", () => {
    writeManifest({ base: record("base") });
    fs.writeFileSync(path.join(dir, "base-000000000000.sqfs"), Buffer.alloc(4096, 7));
    expect(thrown(() => verifyImage("base", { cacheDir: dir })).message).toContain("not a valid squashfs image");
  });

  it("reports a content mismatch in a deep check only", () => {
    writeManifest({ base: record("base") });
    expect(() => verifyImage("base", { cacheDir: dir })).not.toThrow();
    expect(thrown(() => verifyImage("base", { cacheDir: dir, deep: true })).message).toContain("sha256");
  });

  it("reports a layer built on another base", () => {
    writeManifest({ base: record("base"), python: record("python", { parentHash: "oldbase" }) });
    const e = thrown(() => verifyImage("python", { cacheDir: dir }));
    expect(e.message).toContain('another "base" image');
    expect(e.message).toContain("npm run images -- python");
  });

  it("adds --cache to the command when the cache is not the default", () => {
    delete process.env.RUSE_IMAGE_CACHE;
    expect(rebuildCommand("gcc", dir)).toBe(`npm run images -- gcc --cache ${dir}`);
  });

  it("layersFor gives [layer, ..., base] mount dirs, top first", () => {
    writeManifest({
      base: record("base"),
      gcc: record("gcc"),
      python: record("python"),
      "python-libs": record("python-libs", { parent: "python", parentHash: "pythonhash" }),
    });
    expect(layersFor("python", "/m", dir)).toEqual(["/m/python-libs", "/m/python", "/m/base"]);
    expect(layersFor("cpp", "/m", dir)).toEqual(["/m/gcc", "/m/base"]);
    expect(layersFor("bash", "/m", dir)).toEqual(["/m/base"]);
  });

  it("layersFor names the missing image and its rebuild command", () => {
    writeManifest({ base: record("base") });
    const e = thrown(() => layersFor("c", "/m", dir));
    expect(e.image).toBe("gcc");
    expect(e.message).toContain('needed by language "c"');
    expect(e.message).toContain("npm run images -- gcc");
    expect(() => layersFor("klingon", "/m", dir)).toThrow(/unknown language/);
  });
});

describe("layer diff", () => {
  let n = 0;
  const e = (p: string, id: string, type = id[0] === "d" ? "5" : id[0] === "h" ? "1" : "0", link = ""): TarEntry => ({
    path: p,
    type,
    link,
    id,
    start: n,
    end: ++n,
  });

  it("keeps new and changed members, their directories and hard-link targets", () => {
    const base = new Map([
      ["usr", "d 755 0 0"],
      ["usr/bin", "d 755 0 0"],
      ["usr/bin/ls", "f ls"],
      ["usr/lib", "d 755 0 0"],
      ["etc", "d 755 0 0"],
      ["etc/ld.so.cache", "f old"],
      ["usr/bin/gone", "f x"],
      ["usr/share", "d 755 0 0"],
    ]);
    const full = [
      e("", "d 755 0 0"),
      e("dev/null", "3 666 0 0 1:3", "3"),
      e("etc", "d 755 0 0"),
      e("etc/ld.so.cache", "f new"),
      e("usr", "d 755 0 0"),
      e("usr/bin", "d 755 0 0"),
      e("usr/bin/ls", "f ls"),
      e("usr/bin/python3", "f py"),
      e("usr/lib", "d 755 0 0"),
      e("usr/lib/python3", "d 755 0 0"),
      e("usr/lib/python3/os.py", "f os"),
      e("usr/share", "d 700 0 0"),
      e("usr/bin/ls2", "h usr/bin/ls f ls2", "1", "usr/bin/ls"),
    ];
    const { keep, removed } = layerMembers(base, full);
    expect([...keep].sort()).toEqual([
      "etc",
      "etc/ld.so.cache",
      "usr",
      "usr/bin",
      "usr/bin/ls",
      "usr/bin/ls2",
      "usr/bin/python3",
      "usr/lib",
      "usr/lib/python3",
      "usr/lib/python3/os.py",
      "usr/share",
    ]);
    expect(removed).toEqual(["usr/bin/gone"]);
  });

  it("keeps nothing when nothing changed", () => {
    const base = new Map([
      ["etc", "d 755 0 0"],
      ["etc/passwd", "f p"],
    ]);
    expect(layerMembers(base, [e("etc", "d 755 0 0"), e("etc/passwd", "f p")]).keep.size).toBe(0);
  });
});

describe("version parsing", () => {
  it.each([
    ["Python 3.11.2\n", "3.11.2"],
    ["gcc (Debian 12.2.0-14) 12.2.0\nCopyright ...", "12.2.0"],
    ["GNU bash, version 5.2.15(1)-release (x86_64-pc-linux-gnu)\n", "5.2.15"],
    ["go version go1.19.8 linux/amd64\n", "1.19.8"],
    ["v18.19.0\n", "18.19.0"],
    ["\njavac 17.0.13\n", "17.0.13"],
    ["rustc 1.63.0\n", "1.63.0"],
  ])("%j -> %s", (out, version) => {
    expect(parseVersion(out).version).toBe(version);
  });
});

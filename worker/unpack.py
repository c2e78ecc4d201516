# Unpacks a submitted archive inside a sandbox (never on the host), refusing
# what could escape or explode: absolute paths, "..", links pointing out of
# the project, device files and FIFOs, too many entries or too many bytes.
# Links pointing inside become copies of their targets (the project reaches
# the run as regular files). Usage: unpack.py ARCHIVE FORMAT MAX_ENTRIES MAX_BYTES
# Exit 0: unpacked into ./out; exit 2: refused, the reason on stderr.
import os, posixpath, sys, tarfile, zipfile

archive, fmt, max_entries, max_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
OUT = "out"
total = 0


def refuse(why):
    print(f"archive refused: {why}", file=sys.stderr)
    sys.exit(2)


def clean(name):
    if name.startswith("/") or "\\" in name:
        refuse(f"{name!r} is an absolute path")
    norm = posixpath.normpath(name)
    if norm == ".." or norm.startswith("../") or "/../" in f"/{name}/":
        refuse(f"{name!r} leaves the project")
    return norm


def write(path, data_iter):
    global total
    full = os.path.join(OUT, path)
    os.makedirs(os.path.dirname(full) or OUT, exist_ok=True)
    with open(full, "xb") as f:
        for chunk in data_iter:
            total += len(chunk)
            if total > max_bytes:
                refuse(f"more than {max_bytes} bytes unpacked")
            f.write(chunk)


def chunks(f):
    while True:
        b = f.read(65536)
        if not b:
            return
        yield b


os.makedirs(OUT)
if fmt == "tar.gz":
    try:
        tar = tarfile.open(archive, "r:gz")
        members = []
        for m in tar:
            members.append(m)
            if len(members) > max_entries:
                refuse(f"more than {max_entries} entries")
    except (tarfile.TarError, OSError, EOFError) as e:
        refuse(f"not a readable tar.gz ({e})")
    by_name = {clean(m.name): m for m in members}
    for m in members:
        name = clean(m.name)
        if m.isdir():
            continue
        if m.isfile():
            write(name, chunks(tar.extractfile(m)))
        elif m.issym() or m.islnk():
            target = m.linkname if m.islnk() else posixpath.join(posixpath.dirname(name), m.linkname)
            if m.linkname.startswith("/"):
                refuse(f"{name!r} links out of the project ({m.linkname!r})")
            target = clean(target)
            t = by_name.get(target)
            if t is None or not t.isfile():
                refuse(f"{name!r} links to {m.linkname!r}, not a file of the project")
            write(name, chunks(tar.extractfile(t)))
        else:
            refuse(f"{name!r} is a device file or a FIFO")
elif fmt == "zip":
    try:
        z = zipfile.ZipFile(archive)
        infos = z.infolist()
    except (zipfile.BadZipFile, OSError) as e:
        refuse(f"not a readable zip ({e})")
    if len(infos) > max_entries:
        refuse(f"more than {max_entries} entries")
    for i in infos:
        name = clean(i.filename)
        mode = i.external_attr >> 16
        if i.is_dir():
            continue
        if mode and (mode & 0o170000) not in (0, 0o100000):
            refuse(f"{name!r} is a link, a device file or a FIFO")
        with z.open(i) as f:
            write(name, chunks(f))
else:
    refuse(f"unknown format {fmt!r}")

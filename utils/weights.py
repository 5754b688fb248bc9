"""The registry of pretrained assets the course uses in full mode.

``weights/manifest.json`` lists every asset: name, official URL, checksum (the digest the
publisher gives; ``sha256`` preferred, ``sha1``/``md5`` where that is what they publish),
size, licence and the notebooks that use it. Where no publisher gives a digest the entry
says ``"sha256": null``: the file is then checked by its size, and its sha256 is printed
after the first download so a maintainer can pin it. Files are cached in ``weights/`` (git-ignored)::

    python -m utils.weights list
    python -m utils.weights fetch yolov3.weights
    python -m utils.weights fetch --all

Downloads are resumable (HTTP ``Range`` from ``NAME.part``), verified, and atomic: the
final file appears only once its checksum matches. Fast mode never calls this module.
Notebooks ask for a file with :func:`path`, which says exactly what to run when it is missing.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from utils.course import ROOT

MANIFEST = ROOT / "weights" / "manifest.json"
HASHES = ("sha256", "sha1", "md5")


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
class Asset:
    name: str
    url: str
    filename: str
    algorithm: str
    digest: str | None
    size: int | None
    licence: str
    notebooks: list[str]
    description: str = ""


class Registry:
    """Assets of one manifest, cached in one folder (the course's: ``weights/``)."""

    def __init__(self, manifest: Path = MANIFEST, folder: Path | None = None):
        self.manifest = Path(manifest)
        self.folder = Path(folder) if folder else self.manifest.parent
        try:
            raw = json.loads(self.manifest.read_text())
        except FileNotFoundError:
            raise AssetError(f"{self.manifest}: manifest not found") from None
        except json.JSONDecodeError as err:
            raise AssetError(f"{self.manifest}: not valid JSON ({err})") from None
        self.assets: dict[str, Asset] = {}
        for name, entry in raw.get("assets", {}).items():
            algos = [a for a in HASHES if a in entry]
            missing = [k for k in ("url", "licence", "notebooks") if k not in entry]
            if len(algos) != 1 or missing or (entry[algos[0]] is None and not entry.get("size")):
                raise AssetError(f"{self.manifest}: asset {name!r} needs url, licence, notebooks and exactly "
                                 f"one of {', '.join(HASHES)} (a null checksum needs a size) (missing: {', '.join(missing) or 'a checksum'})")
            self.assets[name] = Asset(name=name, url=entry["url"], filename=entry.get("filename", name),
                                      algorithm=algos[0], digest=(entry[algos[0]] or "").lower() or None,
                                      size=entry.get("size"),
                                      licence=entry["licence"], notebooks=list(entry["notebooks"]),
                                      description=entry.get("description", ""))

    def get(self, name: str) -> Asset:
        if name not in self.assets:
            raise AssetError(f"no asset {name!r} in {self.manifest}; known: {', '.join(sorted(self.assets))}")
        return self.assets[name]

    def local(self, name: str) -> Path:
        return self.folder / self.get(name).filename

    def _problem(self, asset: Asset, file: Path) -> str | None:
        """Why ``file`` is not ``asset`` (wrong size or checksum), or None."""
        size = file.stat().st_size
        if asset.size and size != asset.size:
            return f"size is {size} bytes, expected {asset.size}"
        if asset.digest is not None:
            got = file_digest(file, asset.algorithm)
            if got != asset.digest:
                return f"{asset.algorithm} is {got}, expected {asset.digest}"
        return None

    def verify(self, name: str) -> Path:
        """Return the local file if present and its checksum matches, else raise AssetError."""
        asset, file = self.get(name), self.local(name)
        if not file.exists():
            raise AssetError(f"{file}: missing. Fetch it once (needs the internet): "
                             f"python -m utils.weights fetch {name}")
        stamp = file.with_name(file.name + ".verified")
        key = f"{file.stat().st_size}:{file.stat().st_mtime_ns}:{asset.digest}:{asset.size}"
        if stamp.exists() and stamp.read_text() == key:
            return file
        problem = self._problem(asset, file)
        if problem:
            raise AssetError(f"{file}: {problem}: the file is corrupt or a different version. "
                             f"Delete it and run: python -m utils.weights fetch {name}")
        stamp.write_text(key)
        return file

    def fetch(self, name: str, force: bool = False, timeout: float = 30.0, quiet: bool = False) -> Path:
        """Download ``name`` (resuming a ``.part`` file), verify it, and move it into place."""
        asset, file = self.get(name), self.local(name)
        if file.exists() and not force:
            return self.verify(name)
        file.parent.mkdir(parents=True, exist_ok=True)
        part = file.with_name(file.name + ".part")
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(asset.url, headers={"User-Agent": "advanced-cv-course"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                resumed = have and response.status == 206
                mode = "ab" if resumed else "wb"
                total = response.headers.get("Content-Length")
                total = int(total) + (have if resumed else 0) if total else asset.size
                done = have if resumed else 0
                with open(part, mode) as out:
                    for chunk in iter(lambda: response.read(1 << 20), b""):
                        out.write(chunk)
                        done += len(chunk)
                        if not quiet and total:
                            print(f"\r{name}: {done / 1e6:.1f} / {total / 1e6:.1f} MB", end="", file=sys.stderr)
                if not quiet:
                    print(file=sys.stderr)
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise AssetError(f"{asset.url}: could not download {name} ({reason}). Are you online? "
                             f"What arrived is kept in {part} and the next fetch resumes from it. "
                             f"Or download it by hand and save it as {file}.") from None
        problem = self._problem(asset, part)
        if problem:
            part.unlink()
            raise AssetError(f"{asset.url}: downloaded {name}: {problem}; the partial file was deleted. "
                             f"Try again, or report a changed upstream file (update weights/manifest.json).")
        if asset.digest is None:
            print(f"note: {name} has no published checksum; its sha256 is {file_digest(part, 'sha256')}",
                  file=sys.stderr)
        os.replace(part, file)
        return self.verify(name)


def path(name: str) -> Path:
    """The verified local file of asset ``name`` (full mode), or an :class:`AssetError`
    saying the command to run."""
    return Registry().verify(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.weights", description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help="another manifest (for tests)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list every asset and whether it is here")
    fetch = sub.add_parser("fetch", help="download and verify assets")
    fetch.add_argument("names", nargs="*")
    fetch.add_argument("--all", action="store_true")
    fetch.add_argument("--force", action="store_true", help="download again even if present")
    args = parser.parse_args(argv)
    try:
        reg = Registry(args.manifest)
        if args.command == "list":
            for a in reg.assets.values():
                here = "here" if reg.local(a.name).exists() else "missing"
                size = f"{a.size / 1e6:.1f} MB" if a.size else "? MB"
                print(f"{a.name:<34} {size:>9}  {here:<7}  {a.licence:<14} {', '.join(a.notebooks)}")
            return 0
        names = list(reg.assets) if args.all else args.names
        if not names:
            parser.error("name an asset, or use --all")
        failed = 0
        for name in names:
            try:
                print(f"{name}: {reg.fetch(name, force=args.force)}")
            except AssetError as err:
                print(f"error: {err}", file=sys.stderr)
                failed += 1
        return 1 if failed else 0
    except AssetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

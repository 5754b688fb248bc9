"""The face database from the command line (instructors and scripts; taught in ``4_1``)::

    python -m utils.faces enrol --db faces.db --folder people/            # people/<name>/<images>
    python -m utils.faces enrol --db faces.db --name "Grace Hopper" a.jpg b.jpg [--largest | --face-index 0]
    python -m utils.faces enrol --db faces.db --name Ada --video clip.mp4  # or --camera 0
    python -m utils.faces recognize --db faces.db [--tolerance 0.6] [--k 1] photo1.jpg photo2.png
    python -m utils.faces list --db faces.db [--json]
    python -m utils.faces remove --db faces.db --name "Grace Hopper"

``recognize`` prints one JSON object per image:
``{"image": ..., "faces": [{"name": ..., "distance": ..., "box": [top, right, bottom, left]}]}``.
Exit status: 0 on success, 2 on bad usage or bad input (every problem is named on stderr;
the other images are still processed and nothing committed is lost). Out-of-range options
(``--tolerance`` outside 0..1 or not finite, ``--upsample -1``, ``--every 0``...) are bad
usage. ``list`` and ``recognize`` only read: they never write to the database (a read-only
database in a read-only folder works), and a file that is not a face database is refused
before anything touches it.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from utils.images import ImageError, load_image

from .db import DEFAULT_DB, EnrolError, FaceDB, FaceDBError
from .detect import DEFAULT_MODEL, DETECTORS

BAD = 2


def _err(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _whole(minimum: int):
    """An argparse type: an integer >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below {minimum}")
        return value
    return parse


def _tolerance(text: str) -> float:
    """An argparse type: a face distance between 0 and 1 (0.6 is face_recognition's usual cut)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a distance between 0 and 1 (default 0.6)")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m utils.faces", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    def common(q, detector=True):
        q.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"face database file (default {DEFAULT_DB})")
        if detector:
            q.add_argument("--detector", choices=DETECTORS, default="hog", help="face detector (default hog)")
            q.add_argument("--upsample", type=_whole(0), default=1, help="times to double the image first (default 1)")
            q.add_argument("--model", choices=("large", "small"), default=DEFAULT_MODEL,
                           help=f"landmark model of the encoder (default {DEFAULT_MODEL}, as face_recognition)")

    e = sub.add_parser("enrol", help="add people's faces", aliases=["enroll"])
    common(e)
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--folder", type=Path, help="folder with one sub-folder of images per person")
    src.add_argument("--name", help="the person's name, for IMAGE..., --video or --camera")
    e.add_argument("images", nargs="*", type=Path, metavar="IMAGE")
    e.add_argument("--video", type=Path, help="enrol frames of this video file (with --name)")
    e.add_argument("--camera", type=_whole(0), help="enrol frames of this webcam (with --name)")
    e.add_argument("--every", type=_whole(1), default=10, help="video: use every N-th frame (default 10)")
    e.add_argument("--max-frames", type=_whole(1), default=100, help="video: read at most this many frames")
    which = e.add_mutually_exclusive_group()
    which.add_argument("--face-index", type=_whole(0), help="which face when an image has several (0 = leftmost)")
    which.add_argument("--largest", action="store_true", help="take the largest face when an image has several")
    e.add_argument("--keep-photos", action="store_true", help="also store the face crops (personal data!)")

    r = sub.add_parser("recognize", help="name the faces in images", aliases=["recognise"])
    common(r)
    r.add_argument("--tolerance", type=_tolerance, default=0.6,
                   help="largest distance for a match, 0..1 (default 0.6)")
    r.add_argument("--k", type=_whole(1), default=1, help="k nearest encodings vote (default 1)")
    r.add_argument("images", nargs="+", type=Path, metavar="IMAGE")

    ls = sub.add_parser("list", help="list the people enrolled")
    common(ls, detector=False)
    ls.add_argument("--json", action="store_true", help="one JSON object per person")

    rm = sub.add_parser("remove", help="delete a person and all their rows")
    common(rm, detector=False)
    rm.add_argument("--name", required=True)
    return p


def _enrol(args, p) -> int:
    if args.folder and (args.images or args.video or args.camera is not None):
        p.error("--folder takes no IMAGE, --video or --camera")
    sources = bool(args.images) + (args.video is not None) + (args.camera is not None)
    if args.name is not None and sources != 1:
        p.error("--name needs exactly one of: IMAGE..., --video FILE, --camera N")
    choose = {"face_index": args.face_index, "largest": args.largest}
    status = 0

    def show(source, result, error):
        nonlocal status
        if error:
            _err(error)
            status = BAD
        elif result.status == "enrolled":
            print(f"enrolled {result.name!r} from {source} (box {list(result.box)})", flush=True)
        else:
            print(f"skipped {source}: already enrolled as {result.name!r}", flush=True)

    with FaceDB(args.db, detector=args.detector, upsample=args.upsample, model=args.model,
                keep_photos=args.keep_photos) as db:
        if args.folder:
            report = db.enrol_folder(args.folder, on_image=show, **choose)
        elif args.images:
            report = db.enrol_images(args.name, args.images, on_image=show, **choose)
        else:
            source = args.video if args.video is not None else args.camera
            report = db.enrol_video(args.name, source, every=args.every, max_frames=args.max_frames,
                                    on_image=show, **choose)
    print(f"{args.db}: {report}", flush=True)
    return status


def _recognize(args) -> int:
    from .recognize import recognize

    status = 0
    with FaceDB(args.db, detector=args.detector, upsample=args.upsample, model=args.model, read_only=True) as db:
        for path in args.images:
            try:
                image = load_image(path)
            except (ImageError, FileNotFoundError) as err:
                _err(str(err))
                status = BAD
                continue
            matches = recognize(db, image, tolerance=args.tolerance, k=args.k)
            print(json.dumps({"image": str(path), "faces": [m.as_dict() for m in matches]}), flush=True)
    return status


def _list(args) -> int:
    with FaceDB(args.db, read_only=True) as db:
        people = db.people()
        for person in people:
            if args.json:
                print(json.dumps(person))
            else:
                print(f"{person['name']}\t{person['faces']} face(s)\tlast added {person['last_added']}")
        if not args.json:
            print(f"{args.db}: {len(people)} people, {len(db)} face(s)")
    return 0


def _remove(args) -> int:
    with FaceDB(args.db, create=False) as db:
        n = db.remove(args.name)
    if not n:
        _err(f"{args.db}: nobody named {args.name!r} (see `python -m utils.faces list`)")
        return BAD
    print(f"removed {args.name!r}: {n} face row(s) deleted")
    return 0


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0 success, 2 bad usage or input)."""
    p = _parser()
    args = p.parse_args(argv)  # bad usage: argparse exits with 2
    try:
        if args.command in ("enrol", "enroll"):
            return _enrol(args, p)
        if args.command in ("recognize", "recognise"):
            return _recognize(args)
        if args.command == "list":
            return _list(args)
        return _remove(args)
    except (FaceDBError, EnrolError, ImageError, FileNotFoundError, NotADirectoryError) as err:
        _err(str(err))
        return BAD


if __name__ == "__main__":
    sys.exit(main())

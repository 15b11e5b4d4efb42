"""``gluon-tricks check-rec FILE``: list every damaged record of a .rec file (exit 1 if any);
``--repair OUT`` writes a copy without them."""
from .. import options
from ..data import imagesize
from ..datasets import check, pack

NAME = "check-rec"
HELP = ("scan a .rec (and its .idx), decoding every image, and list every bad record (exit 1 if "
        "any); --repair OUT writes a copy without them")


def configure(parser):
    parser.add_argument("rec", metavar="FILE", help="the .rec file to scan")
    parser.add_argument("--idx", metavar="IDX", help="its index (default: FILE with .idx, if present)")
    parser.add_argument("--decode", dest="decode", action="store_true", default=True,
                        help="decode every image payload with libjpeg-turbo, at 1/8 scale where it can, "
                             "naming every record that fails (default)")
    parser.add_argument("--no-decode", dest="decode", action="store_false",
                        help="only check the image signature instead of decoding every image (faster)")
    options.unobservable(
        parser.add_argument("--threads", type=int, default=None, metavar="N",
                            help="decode threads (default: all cores)"),
        "speed only: the report is the same with any thread count")
    imagesize.add_argument(parser)
    parser.add_argument("--repair", metavar="OUT",
                        help="also write OUT.rec/.idx (and .lst/.classes if FILE has them) without the "
                             "bad records; OUT must not exist. Exit 0 once written")


def run(args):
    out = pack.strip_record_extension(args.repair) if args.repair else None
    if out:
        check.repair_outputs(args.rec, out)   # refuse an existing OUT before the long scan
    report = check.check_record_file(args.rec, args.idx, decode=args.decode, threads=args.threads,
                                     max_pixels=args.max_image_pixels)
    print("\n".join(report.summary_lines()))
    if out:
        written = check.repair(report, out)
        print("wrote %s.rec and .idx: %d good records, %d bad record(s) left out"
              % (out, written, len({p.ordinal for p in report.problems if p.ordinal is not None})))
        return 0
    return 0 if report.clean else 1

"""``gluon-tricks check-rec FILE``: list every damaged record of a .rec file; exit 1 if any."""
from ..data import check

NAME = "check-rec"
HELP = "scan a .rec (and its .idx) and list every bad record; exit 1 if any is found"


def configure(parser):
    parser.add_argument("rec", metavar="FILE", help="the .rec file to scan")
    parser.add_argument("--idx", metavar="IDX", help="its index (default: FILE with .idx, if present)")
    parser.add_argument("--no-decode", dest="decode", action="store_false",
                        help="only check the image signature instead of decoding every image (faster)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="decode threads (default: all cores)")


def run(args):
    report = check.check_record_file(args.rec, args.idx, decode=args.decode, threads=args.threads)
    print("\n".join(report.summary_lines()))
    return 0 if report.clean else 1

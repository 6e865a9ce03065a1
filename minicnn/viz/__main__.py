"""`python -m minicnn.viz graph|features|health ...`: one front for the visual tools."""
import sys

from minicnn import cli
from minicnn.errors import ShapeError
from minicnn.viz import autograd_graph, features, health
from minicnn.viz.loading import VizInputError


def build_parser():
    parser = cli.parser("minicnn.viz", "Pictures of a minicnn model: autograd graph, feature "
                        "maps and saliency, gradient health.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (autograd_graph, features, health):
        module.add_parser(subparsers)
    return parser


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit:  # --help, or a bad flag (already reported in one line)
        return exit.code
    try:
        return args.run(args)
    except (VizInputError, ShapeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

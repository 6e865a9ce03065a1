"""What every command shares: argument definitions, and how a command ends on bad input.

Each command (train, evaluate, predict, summary, crosscheck, recipes) is a thin `main(argv)`
over library functions. They take their common arguments from here, so a model option is
spelled `-o/--option KEY=VALUE` everywhere (`--model-option` is an alias), and they end the
same way on bad input: one line `error: <thing>: <what is wrong>; <what to do>` on stderr and
a non-zero exit status. A traceback means a bug in minicnn, never a user's mistake.
"""
import argparse
import errno
import sys

from minicnn import models
from minicnn.data import ChecksumError, DataNotFoundError
from minicnn.errors import ShapeError

# Exceptions that mean "the input was wrong", each raised with a message naming the thing.
USER_ERRORS = (ValueError, ShapeError, DataNotFoundError, ChecksumError, OSError)
INTERRUPTED = 130  # the shell's status for a command stopped by Ctrl-C


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows every flag's meaning and its default (None defaults are left out)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (`error: ...; see ... --help`), not the usage."""

    def error(self, message):
        self.exit(2, f"error: {message}; see {self.prog} --help\n")


def parser(prog, description):
    return Parser(prog=f"python -m {prog}", description=description,
                  formatter_class=HelpFormatter)


def positive_int(text):
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


def parse_option(text):
    """argparse type for -o/--option: 'key=value' -> (key, value); see models.split_option."""
    try:
        return models.split_option(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--option {error}") from None


def parse_input_size(text):
    """argparse type for --input: 'C,H,W' -> (C, H, W) of positive ints."""
    try:
        size = tuple(int(part) for part in text.split(","))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"--input must be C,H,W (e.g. 3,224,224), "
                                         f"got {text!r}")
    return size


def add_model(p, help_extra=""):
    p.add_argument("model", help="one of: " + ", ".join(models.names()) + help_extra)


def add_options(p, help_extra=""):
    p.add_argument("-o", "--option", "--model-option", dest="option", type=parse_option,
                   action="append", default=[], metavar="KEY=VALUE",
                   help="a model build option, repeatable (e.g. -o width=0.5 -o "
                        "small_input=True); see minicnn.models.options(MODEL)" + help_extra)


def add_input_size(p):
    p.add_argument("--input", type=parse_input_size, metavar="C,H,W",
                   help="input size (default: the model's default_input_size)")


def add_data_dir(p):
    p.add_argument("--data-dir", help="folder holding the dataset files (only this folder is "
                                      "searched; default: $MINICNN_DATA, the cache, system "
                                      "folders, then a download)")


def add_device(p, default="cpu"):
    p.add_argument("--device", choices=["cpu", "gpu"], default=default,
                   help="where the arrays live (gpu needs CuPy and CUDA)")


def add_checkpoint(p):
    p.add_argument("checkpoint", help="a run's checkpoint.npz (e.g. runs/latest/checkpoint.npz)")


def check_model_name(name):
    """Raise ValueError with 'did you mean lenet5?' for an unknown model name."""
    models.check_name(name)


def describe_error(error):
    """One line for a user error; OSError's own text ([Errno 28] ...) is made readable."""
    if isinstance(error, OSError) and error.strerror and not isinstance(error,
                                                                         DataNotFoundError):
        thing = error.filename or "a file"
        todo = ("free some space or choose another --out" if error.errno == errno.ENOSPC
                else "check the path and its permissions")
        return f"{thing}: {error.strerror.lower()}; {todo}"
    text = error.args[0] if error.args else repr(error)
    return str(text)


def fail(message, status=2):
    """Print `error: message` to stderr and return the exit status for main to return."""
    print(f"error: {message}", file=sys.stderr)
    return status


def run(body, argv=None, interrupted="interrupted; nothing was saved"):
    """Call body(argv) and turn user errors and Ctrl-C into one line and an exit status.

    body: a command's main function proper, returning its exit status.
    """
    try:
        return body(argv)
    except KeyboardInterrupt:
        print(f"\n{interrupted}", file=sys.stderr)
        return INTERRUPTED
    except USER_ERRORS as error:
        return fail(describe_error(error))

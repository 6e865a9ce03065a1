"""docs/backprop-walkthrough.md: every command in it is re-run and each excerpt must match."""
import io
import os
import re
import shlex

import pytest

from minicnn.explain import __main__ as explain_command
from minicnn.gradcheck import __main__ as gradcheck_command

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "backprop-walkthrough.md")
TIME = re.compile(r"\s+\d+\.\d\ds$")  # the gradcheck rows' time column varies: ignored
COMMANDS = {"minicnn.explain": explain_command.main, "minicnn.gradcheck": gradcheck_command.main}


def blocks():
    """(command, [excerpt chunks]) of each ```text block that starts with `$ `."""
    with open(DOC) as f:
        text = f.read()
    found = []
    for body in re.findall(r"```text\n(.*?)```", text, flags=re.S):
        lines = body.rstrip("\n").split("\n")
        if not lines[0].startswith("$ "):
            continue
        chunks, chunk = [], []
        for line in lines[1:]:
            if line == "...":
                chunks.append(chunk)
                chunk = []
            else:
                chunk.append(TIME.sub("", line))
        found.append((lines[0][2:], chunks + [chunk]))
    return found


def run(command, capsys):
    """Run `[printf 'INPUT' |] python -m MODULE ARGS` in this process; its stdout."""
    stdin = None
    piped = re.match(r"printf '(.*)' \| (.*)", command)
    if piped:
        stdin = io.StringIO(piped.group(1).encode().decode("unicode_escape"))
        command = piped.group(2)
    words = shlex.split(command)
    assert words[:2] == ["python", "-m"] and words[2] in COMMANDS, command
    main = COMMANDS[words[2]]
    capsys.readouterr()
    code = main(words[3:], stdin=stdin) if stdin is not None else main(words[3:])
    assert code == 0, command
    return [TIME.sub("", line) for line in capsys.readouterr().out.splitlines()]


def test_the_walkthrough_has_its_commands():
    commands = [command for command, _ in blocks()]
    assert len(commands) == 6 and any("--step" in c for c in commands)


@pytest.mark.parametrize("command, chunks", blocks(), ids=[c for c, _ in blocks()])
def test_each_excerpt_matches_a_fresh_run(command, chunks, capsys):
    output = run(command, capsys)
    position = 0
    for chunk in chunks:  # each chunk appears whole, in order, in the output
        for start in range(position, len(output) - len(chunk) + 1):
            if output[start:start + len(chunk)] == chunk:
                position = start + len(chunk)
                break
        else:
            raise AssertionError(f"{command}: this excerpt of the document is no longer in the "
                                 f"output:\n" + "\n".join(chunk) + "\n--- output:\n"
                                 + "\n".join(output))

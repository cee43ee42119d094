"""The README's walkthrough as steps a test can run, and the comparison of what they print.

The walkthrough (from ``## Walkthrough`` to the next ``## `` heading) is read block by block:
- ``console`` blocks: each ``$ command`` (with ``\\`` continuation lines) and the lines after it
  until the next ``$`` are a command and its expected output;
- ``sh`` blocks are scripts, run as they are (their output is described in the prose), twice
  when the prose after them says "Run the same script a second time";
- ``python`` blocks are "the same script with these lines changed": each ``msg["X"] = ...``
  line and the ``msg.set_content(...)`` call replace theirs in the last script;
- other blocks (logs, emails, TOML) are shown, not run.

Expected and actual output are compared line by line after :func:`normalise`, which hides only
what differs from run to run: the minutes of the run's own clock (10:07 to 10:59; facts such as
19:00 or 08:15 stay exact), random Message-IDs, MIME boundaries, reply-token signatures, digests,
process ids and client ports. A line ``...`` in the expected output stands for any number of lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_FENCE = re.compile(r"^```(\w*)\s*$")
#: prose after a script that asks for it to be run once more
_AGAIN = "Run the same script a second time"


@dataclass
class Step:
    """One thing the reader of the README does."""

    kind: str  # "command", "script" or "patch"
    text: str  # the shell command, the script, or the python lines
    line: int  # where it starts in the README (1-based)
    expected: list[str] = field(default_factory=list)
    section: str = ""  # the ### heading it is under


def walkthrough(readme: Path, start: str = "## Walkthrough") -> list[Step]:
    lines = readme.read_text(encoding="utf-8").splitlines()
    begin = next(i for i, line in enumerate(lines) if line.startswith(start))
    end = next((i for i in range(begin + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    steps: list[Step] = []
    section = ""
    i = begin
    while i < end:
        if lines[i].startswith("### "):
            section = lines[i][4:].strip()
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        kind = fence.group(1)
        j = i + 1
        while j < end and not lines[j].startswith("```"):
            j += 1
        body = lines[i + 1 : j]
        if kind == "console":
            steps.extend(_commands(body, i + 2, section))
        elif kind == "sh":
            script = Step("script", "\n".join(body) + "\n", i + 2, section=section)
            steps.append(script)
            if _AGAIN in " ".join(lines[j + 1 : j + 4]):
                steps.append(Step("script", script.text, j + 2, section=section))
        elif kind == "python":
            steps.append(Step("patch", "\n".join(body) + "\n", i + 2, section=section))
        i = j + 1
    return steps


@dataclass
class Block:
    """One ``console`` block anywhere in the README, its indentation removed."""

    line: int  # the README line of its first command (1-based)
    steps: list[Step]
    heading: str  # the ## heading it is under


def console_blocks(readme: Path) -> list[Block]:
    """Every ``console`` block of the README, indented ones (inside a list item) too."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    heading = ""
    i = 0
    while i < len(lines):
        if lines[i].startswith("## "):
            heading = lines[i][3:].strip()
        fence = re.match(r"^( *)```console\s*$", lines[i])
        if not fence:
            i += 1
            continue
        indent = len(fence.group(1))
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith("```"):
            j += 1
        body = [line[indent:] if line[:indent].isspace() else line for line in lines[i + 1 : j]]
        blocks.append(Block(i + 2, _commands(body, i + 2, heading), heading))
        i = j + 1
    return blocks


def _commands(body: list[str], first_line: int, section: str) -> list[Step]:
    steps: list[Step] = []
    k = 0
    while k < len(body):
        if not body[k].startswith("$ "):
            k += 1
            continue
        start = k
        command = [body[k][2:]]
        while command[-1].endswith("\\") and k + 1 < len(body):
            k += 1
            command.append(body[k])
        k += 1
        out_start = k
        while k < len(body) and not body[k].startswith("$ "):
            k += 1
        steps.append(
            Step("command", "\n".join(command), first_line + start, body[out_start:k], section)
        )
    return steps


_ASSIGNMENT = re.compile(r'^msg\["([\w-]+)"\] = ')


def patch_script(script: str, patch: str) -> str:
    """The script with the patch's header assignments and set_content call in place of its own."""
    headers = {m.group(1): line for line in patch.splitlines() if (m := _ASSIGNMENT.match(line))}
    content = re.search(r"^msg\.set_content\(.*?^\)\n", patch, re.S | re.M)
    out: list[str] = []
    lines = script.splitlines(keepends=True)
    skipping = False
    for line in lines:
        if skipping:
            skipping = not line.startswith(")")
            continue
        m = _ASSIGNMENT.match(line)
        if m and m.group(1) in headers:
            out.append(headers.pop(m.group(1)) + "\n")
            continue
        if line.startswith("msg.set_content(") and content:
            out.extend(h + "\n" for h in headers.values())  # new headers go before the body
            headers.clear()
            out.append(content.group(0))
            skipping = not line.rstrip().endswith(")")
            continue
        out.append(line)
    return "".join(out)


_VOLATILE = [
    # the run's own clock, 10:07 to 10:59 (with seconds, fractions or log milliseconds)
    (re.compile(r"(?<!\d)10:(?:0[7-9]|[1-5]\d)(?::\d{2}(?:[.,]\d+)?)?"), "10:MM"),
    (re.compile(r"\bmb\.[0-9a-f]{32}@"), "mb.ID@"),
    (re.compile(r"={15}\d+=="), "=BOUNDARY=="),
    (re.compile(r"(\.[a-z_]+\.)[a-z2-7]{16}@"), r"\1SIG@"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "SHA256"),
    (re.compile(r"127\.0\.0\.1:\d{4,5}\b(?!\s*(?:for|\())"), "127.0.0.1:PORT"),
    (re.compile(r"\(Python 3\.\d+\.\d+\)"), "(Python 3)"),
    (re.compile(r"\bpid=\d+"), "pid=PID"),
]


def normalise(line: str) -> str:
    line = line.rstrip()
    for pattern, replacement in _VOLATILE:
        line = pattern.sub(replacement, line)
    return line


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line after normalising; an expected ``...`` line matches any number of lines."""
    want = [normalise(e) for e in expected]
    got = [normalise(a) for a in actual]
    while want and not want[-1]:
        want.pop()
    while got and not got[-1]:
        got.pop()
    memo: dict[tuple[int, int], bool] = {}

    def at(i: int, j: int) -> bool:
        if (i, j) in memo:
            return memo[i, j]
        if i == len(want):
            result = j == len(got)
        elif want[i].strip() == "...":
            result = at(i + 1, j) or (j < len(got) and at(i, j + 1))
        else:
            result = j < len(got) and want[i] == got[j] and at(i + 1, j + 1)
        memo[i, j] = result
        return result

    return at(0, 0)

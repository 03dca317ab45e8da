"""The README against the code, so the documentation cannot drift silently.

- The Commands block lists every subcommand the parser (`console.cli.build_parser`) defines,
  each with exactly its flags: required ones outside brackets, optional ones inside, a value
  where the flag takes one, the same choices where it shows them (`a|b|c`), and its positional
  arguments (`ID…` repeats, `[FILE]` is optional). `--db` and `--help` are everywhere and said once.
- Every other `usher …` in the README (usage blocks, examples, inline code) names a real command
  and flags it really takes.
- Every `USHER_*` setting is in the Configuration table with its default, and nothing else is.
- Every F-key screen is in "A short tour".
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field

import msgspec
import pytest

from console.cli import build_parser
from console.navigation import destinations
from store import Settings

from .helpers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
EVERYWHERE = {"--db", "--help", "-h"}
"""Flags every command takes; the README says so once, below the Commands block."""
BRACKETS = {"[", "]", "(", ")"}


# ---------------------------------------------------------------------------- reading the README


def section(title: str) -> str:
    """The text under `## title`, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"the README has no '## {title}' section"
    return match.group(1)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced code block."""
    return [
        (m.group(1).strip(), m.group(2))
        for m in re.finditer(r"^```([^\n]*)\n(.*?)^```[ \t]*$", text, re.M | re.S)
    ]


def logical_lines(body: str) -> list[str]:
    """Join continuation lines (indented, or after a trailing backslash) to their command."""
    joined: list[str] = []
    for line in body.splitlines():
        if joined and (line[:1].isspace() or joined[-1].endswith("\\")):
            joined[-1] = joined[-1].removesuffix("\\") + " " + line.strip()
        elif line.strip():
            joined.append(line.rstrip())
    return joined


def tokens(text: str) -> list[str]:
    """Words, with brackets and parentheses split off as tokens of their own."""
    out: list[str] = []
    for word in text.split():
        while word[:1] in BRACKETS and word:
            out.append(word[0])
            word = word[1:]
        closing: list[str] = []
        while word[-1:] in BRACKETS and word:
            closing.append(word[-1])
            word = word[:-1]
        if word:
            out.append(word)
        out.extend(reversed(closing))
    return out


# ---------------------------------------------------------------------------- the parser


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def runnable(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every command path that runs something: `usher` itself (the console) and each leaf."""
    children = subcommands(parser)
    found = {path} if not children or not path else set()
    for name, child in children.items():
        found |= runnable(child, (*path, name))
    return found


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Long flag → its action (every option has a long form here)."""
    found: dict[str, argparse.Action] = {}
    for action in parser._actions:
        for string in action.option_strings:
            if string.startswith("--"):
                found[string] = action
    return found


def positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        action
        for action in parser._actions
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction)
    ]


# ---------------------------------------------------------------------------- one usage line


@dataclass
class Flag:
    required: bool
    value: str | None


@dataclass
class Usage:
    text: str
    paths: list[tuple[str, ...]]
    """The commands it describes: `usher [console]` is both `usher` and `usher console`."""
    flags: dict[str, Flag] = field(default_factory=dict)
    positionals: list[tuple[str, bool]] = field(default_factory=list)
    """(name, required) in order."""


def parse_usage(text: str, root: argparse.ArgumentParser) -> Usage:
    """`text` starts after `usher`."""
    words = tokens(text)
    path: tuple[str, ...] = ()
    paths: list[tuple[str, ...]] = []
    parser = root
    if words[:1] == ["["] and words[2:3] == ["]"] and words[1] in subcommands(root):
        paths.append(())  # `usher [console]`: the subcommand is optional
        path, parser, words = (words[1],), subcommands(root)[words[1]], words[3:]
    while words and words[0] in subcommands(parser):
        path, parser = (*path, words[0]), subcommands(parser)[words[0]]
        words = words[1:]
    usage = Usage(text, [*paths, path])
    depth = 0
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word in ("[", "("):
            depth += 1
        elif word in ("]", ")"):
            depth -= 1
        elif word == "|":
            continue
        elif word.startswith("--"):
            value = None
            following = words[index] if index < len(words) else "|"
            if following not in {*BRACKETS, "|"} and not following.startswith("--"):
                value = following
                index += 1
            usage.flags[word] = Flag(required=depth == 0, value=value)
        else:
            usage.positionals.append((word, depth == 0))
    assert depth == 0, f"unbalanced brackets in `usher {text}`"
    return usage


def parser_at(root: argparse.ArgumentParser, path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = root
    for name in path:
        parser = subcommands(parser)[name]
    return parser


def check_flags(usage: Usage, parser: argparse.ArgumentParser, *, where: str) -> None:
    """Each flag shown exists, takes a value exactly when shown with one, and a shown choice
    (`--level member`, `--format csv|json`) is one the parser accepts."""
    known = options(parser)
    for name, flag in usage.flags.items():
        assert name in known, f"{where}: `usher {usage.text}` shows {name}, which it lacks"
        action = known[name]
        takes_value = action.nargs != 0
        assert takes_value == (flag.value is not None), (
            f"{where}: {name} {'takes' if takes_value else 'takes no'} value in the parser"
        )
        if flag.value is None or not action.choices:
            continue
        choices = {str(choice) for choice in action.choices}
        if "|" in flag.value:
            assert set(flag.value.split("|")) == choices, f"{where}: {name} choices differ"
        elif flag.value.islower() and flag.value.isalpha():
            assert flag.value in choices, f"{where}: {name} {flag.value} is not a choice"


# ---------------------------------------------------------------------------- the tests


def commands_block() -> str:
    blocks = fenced_blocks(section("Commands"))
    assert blocks, "the Commands section has no code block"
    return blocks[0][1]


def documented_commands() -> list[Usage]:
    root = build_parser()
    lines = logical_lines(commands_block())
    assert all(line.startswith("usher ") for line in lines), lines
    return [parse_usage(line.removeprefix("usher "), root) for line in lines]


def test_code_fences_are_closed() -> None:
    fences = [line for line in README.splitlines() if line.startswith("```")]
    assert len(fences) % 2 == 0, "an unclosed ``` fence"
    assert len(fenced_blocks(README)) == len(fences) // 2


def test_the_commands_block_lists_every_command_once() -> None:
    root = build_parser()
    listed = [path for usage in documented_commands() for path in usage.paths]
    assert len(listed) == len(set(listed)), "a command is listed twice"
    assert set(listed) == runnable(root), (
        f"missing: {sorted(runnable(root) - set(listed))}, "
        f"unknown: {sorted(set(listed) - runnable(root))}"
    )


@pytest.mark.parametrize("usage", documented_commands(), ids=lambda usage: usage.text[:30])
def test_each_command_shows_exactly_its_flags_and_arguments(usage: Usage) -> None:
    root = build_parser()
    for path in usage.paths:
        parser = parser_at(root, path)
        where = "usher " + " ".join(path)
        assert "--db" in options(parser), f"{where} lacks --db, which the README promises"
        check_flags(usage, parser, where=where)
        expected = set(options(parser)) - EVERYWHERE
        shown = set(usage.flags) - EVERYWHERE
        assert shown == expected, f"{where}: README lacks {sorted(expected - shown)}"
        for name, flag in usage.flags.items():
            required = bool(options(parser)[name].required)
            assert flag.required == required, (
                f"{where}: {name} is {'required' if required else 'optional'} in the parser"
            )
        arguments = positionals(parser)
        assert len(usage.positionals) == len(arguments), f"{where}: positional arguments differ"
        for (name, required), action in zip(usage.positionals, arguments, strict=True):
            assert required == (action.nargs in (None, "+")), f"{where}: {name} optional?"
            assert name.endswith("…") == (action.nargs in ("*", "+")), f"{where}: {name} repeats?"
    note = section("Commands")
    assert "Every command also takes `--db PATH`" in " ".join(note.split())


def other_usher_commands() -> list[tuple[str, str]]:
    """(where, text after `usher`) for every other command line and inline `usher …` span."""
    found: list[tuple[str, str]] = []
    commands = commands_block()
    for info, body in fenced_blocks(README):
        if body == commands or info in {"json", "python"}:
            continue
        for line in logical_lines(body):
            for match in re.finditer(r"(?:^|\|\s*|bin/)usher\s+(.*)", line):
                # The command ends at `&&`, `;`, a comment or a shell pipe (` | ` before a
                # word, not the ` | --flag` of alternatives).
                command = re.split(r"\s(?:&&|;|#)|\s\|\s+(?!-)", match.group(1))[0]
                found.append((f"block `{line[:40]}`", command))
    prose = re.sub(r"^```.*?^```[ \t]*$", "", README, flags=re.M | re.S)
    for match in re.finditer(r"`usher ([^`]+)`", prose):
        found.append(("inline", " ".join(match.group(1).split())))
    return found


def test_every_other_usher_command_in_the_readme_is_real() -> None:
    root = build_parser()
    others = other_usher_commands()
    assert len(others) > 20  # the usage blocks, examples and inline mentions were found
    for where, text in others:
        usage = parse_usage(text, root)
        for path in usage.paths:
            check_flags(usage, parser_at(root, path), where=where)


def configuration_rows() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in section("Configuration").splitlines():
        if line.startswith("| `USHER_"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_every_setting_is_in_the_configuration_table_with_its_default() -> None:
    rows = configuration_rows()
    fields = {f"USHER_{info.name.upper()}": info for info in msgspec.structs.fields(Settings)}
    assert set(rows) == set(fields), (
        f"missing: {sorted(set(fields) - set(rows))}, unknown: {sorted(set(rows) - set(fields))}"
    )
    root_flags = options(build_parser())
    for variable, info in fields.items():
        flag, default, meaning = rows[variable][:3]
        assert meaning, f"{variable} has no meaning in the table"
        if info.default is not msgspec.NODEFAULT and info.default not in ("", None):
            assert f"`{info.default}`" in default, f"{variable}: the default is {info.default}"
        else:
            assert default, f"{variable}: say what happens when it is unset"
        cli_flag = "--" + info.name.replace("_", "-")
        if cli_flag in root_flags:
            assert flag == f"`{cli_flag}`", f"{variable}: its flag is {cli_flag}"
        else:
            assert flag == "", f"{variable}: no flag sets it"


def test_every_screen_is_in_the_tour() -> None:
    tour = section("A short tour")
    shown = re.findall(r"^- \*\*(F\d+) ([^*]+)\*\*", tour, re.M)
    assert shown == [(d.key.upper(), d.label) for d in destinations()]

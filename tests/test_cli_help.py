"""Every option and argument of every `apex` command says what it is (the first hour's CLI)."""

from __future__ import annotations

import argparse

from handlers.cli import parser


def _parsers(root: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [("apex", root)]
    for action in root._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += [(f"{name} {inner}".strip() if inner != "apex" else name, p) for inner, p in _parsers(sub)]
    return found


def test_every_option_has_help_text() -> None:
    missing = [(name, action.dest) for name, p in _parsers(parser()) for action in p._actions
               if not isinstance(action, argparse._SubParsersAction | argparse._HelpAction)
               and action.help in (None, "") and action.default is not argparse.SUPPRESS]
    assert missing == []

"""A model's hyper-parameters on the command line: ``--param dim=128`` or ``--params model.toml``.

The names, defaults and help come from the model's own ``__init__`` signature and numpydoc
"Parameters" section, so a parameter added to the model reaches the command line with no edit here.
They are read from the model's source with :mod:`ast`, not by importing it: listing them in
``--help`` must not load torch. Values are parsed as Python literals (``128``, ``0.05``, ``(256,
128)``, ``true``) and checked by the model itself when it is built.
"""

from __future__ import annotations

import ast
import re
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import whyrec
from whyrec.errors import ParameterError

_SOURCE = Path(whyrec.__file__).parent
# the model families `whyrec train` builds: name -> (source file under whyrec/, class)
FAMILIES = {"reconet": ("models/reconet.py", "RecoNet")}
_BOOLEANS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


@dataclass(frozen=True)
class Parameter:
    """One constructor argument of a model: its name, default (as written) and documentation."""

    name: str
    default: str
    kind: str
    summary: str


def parameters(family: str) -> dict[str, Parameter]:
    """The documented constructor arguments of model `family`, in signature order."""
    path, class_name = FAMILIES[family]
    tree = ast.parse((_SOURCE / path).read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    args = init.args.args[1:] + init.args.kwonlyargs
    defaults = [None] * (len(init.args.args) - 1 - len(init.args.defaults)) + list(init.args.defaults)
    defaults += list(init.args.kw_defaults)
    docs = _numpydoc_parameters(ast.get_docstring(cls) or "")
    out = {}
    for arg, default in zip(args, defaults, strict=True):
        kind, summary = docs.get(arg.arg, ("", ""))
        out[arg.arg] = Parameter(arg.arg, ast.unparse(default) if default is not None else "", kind, summary)
    return out


def _numpydoc_parameters(docstring: str) -> dict[str, tuple[str, str]]:
    """``name -> (type, first sentence)`` of a numpydoc "Parameters" section (from a cleaned docstring)."""
    lines = docstring.splitlines()
    starts = [i for i, line in enumerate(lines[:-1]) if line == "Parameters" and set(lines[i + 1]) == {"-"}]
    if not starts:
        return {}
    entries: dict[str, tuple[str, list[str]]] = {}
    body = lines[starts[0] + 2 :]
    for i, line in enumerate(body):
        if not line.strip():
            continue
        if line.startswith(" "):  # a description line of the last parameter
            if entries:
                entries[next(reversed(entries))][1].append(line.strip())
            continue
        if i + 1 < len(body) and body[i + 1] and set(body[i + 1]) == {"-"}:
            break  # the next section's heading
        name, _, kind = line.partition(" : ")
        entries[name.strip()] = (kind.strip(), [])
    return {name: (kind, _first_sentence(" ".join(text))) for name, (kind, text) in entries.items()}


def _first_sentence(text: str) -> str:
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def help_text(family: str, *, skip: tuple[str, ...] = (), width: int = 76) -> str:
    """The model's parameters as the epilog of ``--help``: a column of ``name=default`` and the first
    sentence of each one's documentation, wrapped to `width` columns (click keeps a block marked
    ``\\b`` as it is)."""
    rows = [p for p in parameters(family).values() if p.name not in skip]
    _, class_name = FAMILIES[family]
    column = 24
    lines = []
    for p in rows:
        # None on an optional setting means "the model chooses" (RecoNet: by its objective)
        head = f"  {p.name}={'(auto)' if p.default == 'None' and 'optional' in p.kind else p.default}"
        if len(head) > column - 2:
            lines += [
                head,
                *textwrap.wrap(_plain(p.summary), width, initial_indent=" " * column, subsequent_indent=" " * column),
            ]
        else:
            lines += textwrap.wrap(
                _plain(p.summary), width, initial_indent=head.ljust(column), subsequent_indent=" " * column
            )
    intro = f"{class_name}'s parameters, set with --param NAME=VALUE or --params FILE.toml (defaults shown):"
    return intro + "\n\n\b\n" + "\n".join(lines)


def _plain(text: str) -> str:
    """Docstring markup as plain text: ``code`` and :role:`target` lose their marks."""
    return re.sub(r":\w+:`~?([^`]+)`", r"\1", text).replace("``", "")


def parse(family: str, entries: list[str] | None, files: list[Path] | None, *, reserved: dict[str, str]) -> dict:
    """The parameters given by ``--params`` files, then ``--param`` entries (later ones win).

    Names the model does not take are refused with the names it does; `reserved` maps names that
    another option sets to that option (``seed -> --seed``).
    """
    known = parameters(family)
    given: dict[str, Any] = {}
    for path in files or []:
        given.update(_from_toml(path))
    for entry in entries or []:
        name, equals, text = entry.partition("=")
        if not equals or not name.strip():
            raise ParameterError(f"--param takes NAME=VALUE (as dim=128), not {entry!r}")
        given[name.strip()] = _value(text.strip())
    _, class_name = FAMILIES[family]
    for name in given:
        if name in reserved:
            raise ParameterError(f"{name} is set by {reserved[name]}, not by --param")
        if name not in known:
            raise ParameterError(f"{class_name} has no parameter {name!r}; it takes: {', '.join(known)}")
        if known[name].default.startswith("(") and isinstance(given[name], int):
            given[name] = (given[name],)  # one width of a tuple-valued parameter, as hidden=256
    return given


def _from_toml(path: Path) -> dict[str, Any]:
    """A parameters file: TOML whose top-level keys (or ``[params]`` table) are parameter names."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ParameterError(f"cannot read --params {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ParameterError(f"{path} is not a TOML file of parameters: {exc}; write NAME = VALUE lines") from None
    table = document.get("params", document)
    if not isinstance(table, dict):
        raise ParameterError(f"{path}: [params] must be a table of NAME = VALUE")
    return {name: tuple(v) if isinstance(v, list) else v for name, v in table.items()}


def _value(text: str) -> Any:
    """A command-line value: a Python literal (numbers, tuples, quoted strings), a boolean word, else text."""
    if text.lower() in _BOOLEANS:
        return _BOOLEANS[text.lower()]
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return tuple(value) if isinstance(value, list) else value

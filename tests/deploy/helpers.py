"""Shared by the deployment tests: a small Dockerfile reader and the lookup of optional tools."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DEPLOY = ROOT / "deploy"


def find_tool(name: str) -> str | None:
    """A tool installed by the test extra lands beside the interpreter, which may not be on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    return shutil.which(name)


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction, or None for the shell form."""
        return json.loads(self.args) if self.args.startswith("[") else None

    def flags(self) -> tuple[dict[str, str], str]:
        """Leading ``--name=value`` flags, and the rest of the arguments."""
        flags: dict[str, str] = {}
        rest = self.args
        while rest.startswith("--"):
            token, _, rest = rest.partition(" ")
            name, _, value = token[2:].partition("=")
            flags[name] = value
            rest = rest.lstrip()
        return flags, rest


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for pair in shlex.split(instruction.args):
                key, _, value = pair.partition("=")
                values[key] = value
        return values


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions grouped by stage: continuation lines joined, comments and blank lines dropped."""
    stages: list[Stage] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].strip() or lines[i].lstrip().startswith("#"):
            i += 1
            continue
        start, parts = i + 1, []
        while True:
            current = lines[i].rstrip()
            i += 1
            if not current.endswith("\\"):
                parts.append(current.strip())
                break
            parts.append(current[:-1].strip())
            while i < len(lines) and lines[i].lstrip().startswith("#"):  # comments inside a continuation
                i += 1
        keyword, _, args = " ".join(p for p in parts if p).partition(" ")
        instruction = Instruction(keyword.upper(), args.strip(), start)
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            assert stages, f"line {start}: {keyword} before FROM"
        stages[-1].instructions.append(instruction)
    return stages


def dockerfile_stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def image_user() -> tuple[int, int]:
    """(UID, GID) the runtime stage runs as, from its numeric USER instruction."""
    (user,) = dockerfile_stages()[-1].all("USER")
    uid, _, gid = user.args.partition(":")
    return int(uid), int(gid)

"""Output files of the ``kmeans-xp`` command: checked before any work, written all or none.

Each output is what the user named, and stays that: a regular file (or a new one) is written to
a temporary file beside it and renamed onto it, so a failed run leaves the old content; a
symlink is written through (it stays a link; its target is the file written); a FIFO or a
character device (``/dev/stdout``, ``/dev/null``) is written to directly, after everything
else succeeded; block devices, sockets and directories are refused. Every message names the
path as the user gave it, never a temporary file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any


class OutputError(Exception):
    """An output that cannot be written: printed as one line, exit status 2."""


@dataclass(frozen=True)
class Target:
    """Where an output goes: ``given`` as the user wrote it, ``path`` the file written (a
    symlink resolved), ``stream`` True for a FIFO or character device (written directly)."""

    given: str
    path: str
    stream: bool


def check_output(given: str, *, inputs: Sequence[str] = ()) -> Target:
    """Check that ``given`` can be written, without writing it; raise OutputError otherwise.

    A new file needs an existing directory in which a file can be created (tried for real:
    permission bits alone say nothing for root, nor for a read-only filesystem); an existing
    file must be writable; an output that is one of ``inputs`` (the same file, by any name,
    hard links included) is refused.
    """
    try:
        info = os.stat(given)  # through symlinks, /dev/stdout's included
    except FileNotFoundError:
        info = None
    except OSError as exc:  # e.g. a component of the path is a regular file
        raise OutputError(f"{given}: cannot write there ({exc.strerror})") from None
    if info is None:
        path = os.path.realpath(given)  # a dangling symlink: its target is created
        _check_new_file(given, path)
        return Target(given, path, stream=False)
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise OutputError(f"{given}: is a directory; expected a file name")
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        if not os.access(given, os.W_OK):
            raise OutputError(f"{given}: not writable")
        return Target(given, given, stream=True)
    if not stat.S_ISREG(mode):
        raise OutputError(
            f"{given}: not a regular file, FIFO or character device; refusing to write to it"
        )
    for source in inputs:
        if _same_file(info, source):
            raise OutputError(f"{given}: is the input file {source}; refusing to overwrite it")
    if not os.access(given, os.W_OK):
        raise OutputError(f"{given}: not writable")
    path = os.path.realpath(given)
    check_directory(given, os.path.dirname(path))
    return Target(given, path, stream=False)


def check_outputs(named: Sequence[str], *, inputs: Sequence[str] = ()) -> list[Target]:
    """``check_output`` for each of ``named``; two names for one file are refused."""
    targets = [check_output(given, inputs=inputs) for given in named]
    seen: dict[str, str] = {}
    for target in targets:
        key = os.path.realpath(target.path)
        if key in seen:
            raise OutputError(f"{target.given} and {seen[key]} are the same file")
        seen[key] = target.given
    return targets


def _same_file(info: os.stat_result, other: str) -> bool:
    try:
        theirs = os.stat(other)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) == (theirs.st_dev, theirs.st_ino)


def _check_new_file(given: str, path: str) -> None:
    directory = os.path.dirname(path)
    shown = os.path.dirname(given) or "."
    if os.path.islink(given):
        shown = f"{directory} (where the link {given} points)"
    if not os.path.exists(directory):
        raise OutputError(f"{given}: the directory {shown} does not exist")
    if not os.path.isdir(directory):
        raise OutputError(f"{given}: {shown} is not a directory")
    check_directory(given, directory)


def check_directory(given: str, directory: str) -> None:
    """Raise OutputError (naming ``given``) unless a file can be created in ``directory``:
    creates and removes one, the only check that holds for root and read-only filesystems."""
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".kmeans-xp-", suffix=".probe")
    except OSError as exc:
        where = os.path.dirname(given) or "."
        raise OutputError(f"{given}: cannot create a file in {where} ({exc.strerror})") from None
    os.close(fd)
    os.remove(probe)


@contextlib.contextmanager
def written_together() -> Iterator[Callable[[Target, Callable[[str], Any]], None]]:
    """``stage(target, write)`` calls ``write(tmp)`` to make the content in a temporary file.
    When the block ends without an error, every staged file goes to its target (renamed onto a
    regular file, copied into a stream); otherwise every temporary file is removed and no
    target is touched. Errors name the target as the user gave it."""
    scratch = tempfile.mkdtemp(prefix="kmeans-xp-")  # for streams' content: copied, not renamed
    staged: list[tuple[str, Target]] = []

    def stage(target: Target, write: Callable[[str], Any]) -> None:
        if target.stream:
            fd, tmp = tempfile.mkstemp(dir=scratch)
        else:
            directory, name = os.path.split(target.path)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        os.close(fd)
        staged.append((tmp, target))
        with _naming(target, tmp):
            write(tmp)

    try:
        yield stage
        for tmp, target in staged:  # streams first: a reader that never comes fails no file
            if target.stream:
                with _naming(target, tmp), open(tmp, "rb") as src, open(target.path, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        for tmp, target in staged:
            if not target.stream:
                with _naming(target, tmp):
                    os.chmod(tmp, _mode_for(target.path))
                    os.replace(tmp, target.path)
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                os.remove(tmp)
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def _naming(target: Target, tmp: str) -> Iterator[None]:
    """Errors raised inside name ``target.given`` instead of the temporary file."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"{target.given}: cannot write ({exc.strerror or exc})") from None
    except (ValueError, TypeError, RuntimeError) as exc:
        message = str(exc).replace(tmp, target.given).replace(target.path, target.given)
        raise OutputError(f"{target.given}: {message}") from None


def _mode_for(path: str) -> int:
    """An existing file keeps its permissions; a new one gets the umask's."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mask = os.umask(0o022)
        os.umask(mask)
        return 0o666 & ~mask

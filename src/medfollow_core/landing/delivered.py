"""A delivery is a closed folder: its manifest may only name regular files inside it.

Whoever can write to the landing area controls the manifest. Without these rules an entry
such as ``/etc/passwd``, ``../other/x.csv`` or a symlink would load any file the loader can
read, and a FIFO or a link to ``/dev/zero`` would hang the loader while it holds the
delivery's lock. So a name is checked (plain, relative, every step a real folder, the last a
regular file, no symlink anywhere) with ``lstat`` before a byte is read, and a file is opened
with ``O_NOFOLLOW | O_NONBLOCK`` and checked again on its descriptor, so a file swapped for a
link or a FIFO after the check is still refused.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

from medfollow_core.errors import MedfollowError

_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symlink",
}


def shown(name: str, limit: int = 80) -> str:
    """A manifest-supplied name as a message may quote it: repr'd and cut short."""
    return repr(name if len(name) <= limit else name[:limit] + "…")


def delivered_file(delivery_dir: Path, name: str) -> Path:
    """The path of manifest entry ``name``; refused unless it is a regular file inside
    ``delivery_dir`` reached through real folders only."""
    parts = _plain_parts(name)
    current = delivery_dir
    for depth, part in enumerate(parts, start=1):
        current = current / part
        try:
            mode = current.lstat().st_mode
        except FileNotFoundError:
            raise MedfollowError(f"{shown(name)} is missing from the delivery") from None
        except OSError as exc:
            raise MedfollowError(f"{shown(name)}: cannot be read ({exc.strerror})") from None
        last = depth == len(parts)
        if stat.S_ISLNK(mode):
            where = "is a symlink" if last else "lies in a symlinked folder"
            raise MedfollowError(f"{shown(name)} {where}; a delivery must hold its files itself")
        if not last and not stat.S_ISDIR(mode):
            raise MedfollowError(f"{shown(name)}: {shown(part)} is not a folder")
        if last and not stat.S_ISREG(mode):
            raise MedfollowError(f"{shown(name)} is not a regular file ({_kind(mode)})")
    return current


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file, never through a symlink and
    never blocking (a FIFO would wait for a writer for ever)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink
            raise MedfollowError(f"{path.name} is a symlink; not read") from None
        raise MedfollowError(f"{path.name}: cannot be read ({exc.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise MedfollowError(f"{path.name} is not a regular file ({_kind(mode)})")
    return os.fdopen(fd, "rb")


def _plain_parts(name: str) -> list[str]:
    """The folder steps of a relative name; absolute names and ``..`` are refused."""
    if not name or "\x00" in name or "\\" in name:
        raise MedfollowError(
            f"manifest entry {shown(name)} is not a plain file name (use '/' between folders)"
        )
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).drive:
        raise MedfollowError(
            f"manifest entry {shown(name)} is an absolute path; "
            "name files relative to the delivery folder"
        )
    parts = name.split("/")
    if ".." in parts:
        raise MedfollowError(
            f"manifest entry {shown(name)} leaves the delivery folder ('..' is not allowed)"
        )
    if any(part in ("", ".") for part in parts):
        raise MedfollowError(f"manifest entry {shown(name)} is not a plain relative name")
    return parts


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")

"""A compiled rule book kept on disk between batch runs.

Parsing and compiling rules/ (ruamel.yaml keeps line numbers, which is slow) takes seconds;
a batch pays it in the main process before it reads a single case. The compiled book is
pickled under the user's cache directory, keyed by every rule file's and every compiler
module's path, size and modification time, so any edit recompiles. Only files this module
wrote are ever unpickled; any problem falls back to compiling.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

from compliance.rules.packs import DEFAULT_RULES_DIR, RuleBook, load_rulebook

COMPILER = Path(__file__).resolve().parents[1]  # compliance/: the model, vocabulary and rules compiler


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "compliance"


def _fingerprint(rules_dir: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(rules_dir.rglob("*.y*ml")) + sorted((COMPILER / "rules").glob("*.py"))
    files += [COMPILER / name for name in ("model.py", "vocabulary.py", "sourcefile.py")]
    for path in files:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def cached_rulebook(rules_dir: Path | None = None) -> RuleBook:
    directory = (rules_dir or DEFAULT_RULES_DIR).resolve()
    try:
        path = cache_dir() / f"rulebook-{_fingerprint(directory)}.pickle"
        if path.exists():
            with open(path, "rb") as handle:
                book = pickle.load(handle)
            if isinstance(book, RuleBook):
                return book
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError):
        pass
    book = load_rulebook(directory)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False) as handle:
            pickle.dump(book, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(handle.name, path)
    except (OSError, pickle.PickleError, NameError):
        pass
    return book

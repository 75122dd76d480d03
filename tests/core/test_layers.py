"""Adapters only translate: besides the import-linter contracts (pyproject.toml, run by `make test`),
no adapter reaches the store through the app object either."""

import re
from pathlib import Path

ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"
STORE_ACCESS = re.compile(r"\.store\b(?!_)")  # app.store, self.store, svc.store (not store_path / device_store)


def test_no_adapter_touches_the_store():
    found = []
    for path in sorted(ADAPTERS.rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if STORE_ACCESS.search(code) and "device_store" not in code:
                found.append(f"{path.relative_to(ADAPTERS.parent)}:{n}: {line.strip()}")
    assert not found, "adapters read or write the store:\n" + "\n".join(found)


def test_the_scan_would_see_store_access(tmp_path):
    assert STORE_ACCESS.search("case = await self.app.store.get_case(c, 1)")
    assert not STORE_ACCESS.search("cfg.store_path")

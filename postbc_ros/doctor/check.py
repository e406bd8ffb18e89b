"""`Check`: one finding of `postbc doctor` -- what was checked, whether it is fine, what was seen
and what to do about it -- and its one-line and JSON forms."""
from __future__ import annotations

from dataclasses import asdict, dataclass

OK_MARK, FAIL_MARK = "\u2713", "\u2717"  # ✓ / ✗ at the start of each human-readable line


@dataclass(frozen=True)
class Check:
    """`name` (e.g. "widowx: servos"), `ok`, `detail` (what was found), `fix` ('' when ok)."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        """`✓ name: detail` or `✗ name: detail — fix`."""
        text = f"{OK_MARK if self.ok else FAIL_MARK} {self.name}: {self.detail}"
        return text if self.ok or not self.fix else f"{text} \u2014 {self.fix}"


def passed(name: str, detail: str) -> Check:
    return Check(name, True, detail, "")


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(name, False, detail, fix)


def not_checked(name: str, because: str, first: str) -> Check:
    """A check that could not run because an earlier one failed (it is not known to be fine)."""
    return Check(name, False, f"not checked: {because}", f"fix '{first}' first")

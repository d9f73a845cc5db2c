"""The prices a cost figure is computed with: one file, each price with its source and date.

``pricing_us_east_1.json`` beside this module holds us-east-1 list prices written from knowledge of
AWS's price pages (they cannot be fetched from the development machines), marked ``to_be_checked``.
A file given with ``--pricing FILE`` or ``RADSTREAM_PRICING_FILE`` overrides it key by key, so a team
can pin checked prices, another region's, or negotiated ones.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from radstream.tooling.errors import PricingError

DEFAULT_FILE = "pricing_us_east_1.json"
ENV_VAR = "RADSTREAM_PRICING_FILE"


@dataclass(frozen=True)
class Pricing:
    document: dict
    path: str

    def usd(self, key: str) -> float:
        try:
            return float(self.document["prices"][key]["usd"])
        except KeyError:
            raise PricingError(f"pricing file {self.path} has no price {key!r}") from None

    def assumption(self, key: str) -> float:
        try:
            return float(self.document["assumptions"][key]["value"])
        except KeyError:
            raise PricingError(f"pricing file {self.path} has no assumption {key!r}") from None

    def summary(self) -> dict:
        """What a saved result records about the prices it used."""
        doc = self.document
        return {"file": self.path, "region": doc.get("region"), "valid_as_of": doc.get("valid_as_of"),
                "to_be_checked": bool(doc.get("to_be_checked")),
                "prices": {k: {"usd": v["usd"], "unit": v.get("unit"), "source": v.get("source"), "date": v.get("date")}
                           for k, v in doc.get("prices", {}).items()},
                "assumptions": {k: v["value"] for k, v in doc.get("assumptions", {}).items()}}


def load_pricing(path: str | Path | None = None) -> Pricing:
    """The packaged prices, overridden by ``path`` (or ``$RADSTREAM_PRICING_FILE``) key by key."""
    base = json.loads(files(__package__).joinpath(DEFAULT_FILE).read_text())
    path = path or os.environ.get(ENV_VAR)
    if not path:
        return Pricing(base, f"(packaged) {DEFAULT_FILE}")
    try:
        override = json.loads(Path(path).read_text())
    except OSError as exc:
        raise PricingError(f"cannot read pricing file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise PricingError(f"pricing file {path} is not JSON: {exc}") from None
    for section in ("prices", "assumptions"):
        for key, value in (override.get(section) or {}).items():
            field = "usd" if section == "prices" else "value"
            if not isinstance(value, dict) or field not in value:
                raise PricingError(f"pricing file {path}: {section}.{key} needs a {field!r} field")
            base.setdefault(section, {})[key] = value
    for key in ("region", "valid_as_of", "to_be_checked", "note", "currency"):
        if key in override:
            base[key] = override[key]
    return Pricing(base, str(path))

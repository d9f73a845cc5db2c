"""The import contracts in pyproject.toml ([tool.importlinter]) hold: deployed code stands alone, nothing
imports the emulator, layers point one way, domain code has no AWS imports. By hand: `lint-imports`."""

import json
import pkgutil
import tomllib
from pathlib import Path

from importlinter.cli import lint_imports

import radstream.deployed

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
CONTRACTS = {c["id"]: c for c in tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]}


def lint(config: Path, capsys) -> tuple[int, str]:
    code = lint_imports(config_filename=str(config), no_cache=True, no_logo=True)
    return code, capsys.readouterr().out


def test_import_contracts_are_kept(capsys):
    code, report = lint(PYPROJECT, capsys)
    assert code == 0, report
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in report


def test_domain_contract_covers_every_deployed_package_but_the_handlers():
    packages = {f"radstream.deployed.{m.name}" for m in pkgutil.iter_modules(radstream.deployed.__path__)}
    assert set(CONTRACTS["domain-without-aws"]["source_modules"]) == packages - {"radstream.deployed.handlers"}


def test_a_broken_contract_is_reported(tmp_path, capsys):
    """Not vacuous: the same layers upside down break, so the linter sees the real imports."""
    config = tmp_path / "upside_down.toml"
    config.write_text('[tool.importlinter]\nroot_packages = ["radstream"]\n\n[[tool.importlinter.contracts]]\n'
                      f'name = "upside down"\ntype = "layers"\n'
                      f'layers = {json.dumps(CONTRACTS["layers"]["layers"][::-1])}\n')
    code, report = lint(config, capsys)
    assert code == 1 and "upside down BROKEN" in report, report

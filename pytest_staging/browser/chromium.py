"""Which Chromium to launch, and how to make it trust the staging CA.

Playwright's own browser download is not available on every CI runner or air-gapped network:
a system Chromium works as well (Playwright drives it over CDP). Plain functions, no pytest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

#: Searched on PATH, in this order, when neither --staging-browser-path nor Playwright's own
#: download is there: the headless shell is smaller and starts faster.
SYSTEM_CHROMIUMS = ("chromium-headless-shell", "chromium", "chromium-browser")

NO_BROWSER = (
    "no Chromium for the browser tests: install one (Debian/Ubuntu: apt-get install chromium; "
    "or python -m playwright install chromium) or pass --staging-browser-path PATH")
NO_CERTUTIL = (
    "--staging-ca-bundle for browser tests needs certutil to make Chromium trust the CA "
    "(Debian/Ubuntu: apt-get install libnss3-tools); or use --staging-insecure")

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


class BrowserSetupError(RuntimeError):
    """The browser cannot be set up as asked; the message says what to install or pass."""


def executable(path: str) -> str | None:
    """``path`` as an absolute executable file (a bare name is looked up on PATH), or None."""
    found = shutil.which(path)
    return str(Path(found).resolve()) if found else None


def find_system_chromium(environ: Mapping[str, str] | None = None) -> str | None:
    """The first of SYSTEM_CHROMIUMS on PATH, or None."""
    search = (os.environ if environ is None else environ).get("PATH")
    for name in SYSTEM_CHROMIUMS:
        found = shutil.which(name, path=search)
        if found:
            return found
    return None


def choose_executable(configured: str | None, launch_args: Mapping[str, object],
                      playwright_executable: str | None) -> str | None:
    """The ``executable_path`` to launch Chromium with, or None to leave Playwright's choice.

    Precedence: ``--staging-browser-path`` (``configured``); else what the launch arguments
    already name (an ``executable_path`` or ``channel`` from a conftest or --browser-channel);
    else Playwright's own download when it is installed; else a system Chromium on PATH.
    Raises BrowserSetupError when there is none.
    """
    if configured:
        return configured
    if launch_args.get("executable_path") or launch_args.get("channel"):
        return None
    if playwright_executable and Path(playwright_executable).is_file():
        return None
    found = find_system_chromium()
    if found is None:
        raise BrowserSetupError(NO_BROWSER)
    return found


def split_pem_bundle(data: bytes) -> list[bytes]:
    """The PEM certificates of a CA bundle, in order."""
    return _PEM.findall(data)


def make_trust_home(ca_bundle: str, home: Path, timeout: float = 30.0) -> Path:
    """A HOME for Chromium whose NSS database (~/.pki/nssdb) trusts every CA in ``ca_bundle``.

    Chromium on Linux verifies with its own root store plus the user's NSS database; there is
    no command-line switch to add a CA file, and ``--ignore-certificate-errors-spki-list``
    matches only keys the server presents (never the root). So the CA goes into a throwaway
    NSS database with NSS's ``certutil``, and Chromium is started with HOME pointing at it.
    """
    certutil = shutil.which("certutil")
    if certutil is None:
        raise BrowserSetupError(NO_CERTUTIL)
    certs = split_pem_bundle(Path(ca_bundle).read_bytes())
    if not certs:
        raise BrowserSetupError(f"--staging-ca-bundle {ca_bundle}: no PEM certificate in it")
    database = home / ".pki" / "nssdb"
    database.mkdir(parents=True, exist_ok=True)
    where = f"sql:{database}"

    def run(*args: str, stdin: bytes | None = None) -> None:
        done = subprocess.run([certutil, "-d", where, *args], input=stdin, capture_output=True,
                              timeout=timeout, check=False)
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).decode(errors="replace").strip()
            raise BrowserSetupError(
                f"certutil could not import --staging-ca-bundle {ca_bundle}: "
                f"{detail.splitlines()[-1] if detail else f'exit {done.returncode}'}")

    run("-N", "--empty-password")
    for index, pem in enumerate(certs, 1):
        # "C,," : a trusted CA for TLS servers, nothing else.
        run("-A", "-t", "C,,", "-n", f"staging-ca-{index}", "-a", stdin=pem)
    return home

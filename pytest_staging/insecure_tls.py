"""``--staging-insecure`` says so once, in the verdict, not once per request.

urllib3 warns (``InsecureRequestWarning``) on every unverified HTTPS request: dozens of
identical lines in the warnings summary, and a run with ``-W error`` fails every test on the
warning. The verdict already carries "TLS certificate verification disabled by
--staging-insecure"; this module silences the per-request warning where the plugin sends.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_staging.settings import Settings

#: A filterwarnings mark applies after -W and ini filters, so it holds under ``-W error`` too.
IGNORE = "ignore::urllib3.exceptions.InsecureRequestWarning"


@contextlib.contextmanager
def quiet(verify: bool | str) -> Iterator[None]:
    """Silence urllib3's per-request warning when certificate checks are off by choice."""
    if verify is not False:
        yield
        return
    from urllib3.exceptions import InsecureRequestWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureRequestWarning)
        yield


class InsecureTlsHooks:
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        mark = pytest.mark.filterwarnings(IGNORE)
        for item in items:
            item.add_marker(mark)


def register(config: pytest.Config, settings: Settings) -> None:
    if getattr(settings, "insecure", False):
        config.pluginmanager.register(InsecureTlsHooks(), "staging-insecure-tls")

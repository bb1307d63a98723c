"""axe-core (Deque's accessibility rules engine), run in the page by the browser tests.

The engine is vendored, pinned, under vendor/axe-core/ (axe.min.js 4.10.3 from the npm package `axe-core`,
with its licence, MPL-2.0), so the check runs offline from a clean clone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


def blocking_violations(page: Any) -> list[str]:
    """The serious and critical violations axe finds in the page as it is now, one readable line each.

    The page's context must be opened with `bypass_csp=True`: the portal's Content-Security-Policy rightly
    refuses the script tag this adds.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    results = page.evaluate("async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations")
    return [
        f"{v['impact']} {v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['target']}: "
        f"{v['nodes'][0]['failureSummary']})"
        for v in results
        if v["impact"] in BLOCKING
    ]

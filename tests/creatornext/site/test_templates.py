"""Pages work under `script-src 'self'`: no template carries inline script or event handlers, and
every script and stylesheet a template names is served by the app (no CDN)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(ld\+)?json\")[^>]*>", re.I)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
JS_URL = re.compile(r"""(href|src)\s*=\s*["']\s*javascript:""", re.I)
EXTERNAL = re.compile(r"""<(script|link)[^>]*(src|href)=["'](https?:)?//""", re.I)


def test_no_template_has_inline_script_event_handlers_or_external_assets():
    assert TEMPLATES
    found = []
    for path in TEMPLATES:
        text = path.read_text()
        for name, pattern in (("inline script", INLINE_SCRIPT), ("event handler", HANDLER),
                              ("javascript: URL", JS_URL), ("external asset", EXTERNAL)):
            found += [f"{path.relative_to(ROOT)}: {name}: {m.group(0)}" for m in pattern.finditer(text)]
    assert not found, "\n".join(found)

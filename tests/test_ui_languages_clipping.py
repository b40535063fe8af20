"""The pseudo-locale (`en-xa`: every text accented, about 40% longer, bracketed ⟦…⟧) on every
screen at 800x480: no text is cut: none runs off the screen, none is hidden by an element that
clips it (overflow hidden, ellipsis), and the brackets of every string are both visible, so a
translation that is longer than Vietnamese or English still fits. Screens are saved under
test-artifacts/screenshots/pseudo/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ui_voice_keys import pseudo_pack
from ui_screens import ARGS, CHROMIUM, SCREENS, ScreenServer, wait_hello, wait_lang, wait_screen

playwright_sync = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip("no Debian chromium (apt install chromium)", allow_module_level=True)

pytestmark = pytest.mark.timeout(240)
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots" / "pseudo"

# Every visible element holding text: is any of it outside the screen or outside an ancestor
# that clips (overflow other than visible)? Text is measured with a Range, so a line cut in the
# middle of a box counts.
CLIPPED = """() => {
  const vw = innerWidth, vh = innerHeight, out = [];
  const clipRect = (n) => {
    let r = {left: 0, top: 0, right: vw, bottom: vh};
    let scrolled = false; // inside a box that scrolls vertically: what is below can be reached
    for (let a = n.parentElement; a; a = a.parentElement) {
      const cs = getComputedStyle(a);
      if (cs.overflowX !== 'visible' || cs.overflowY !== 'visible') {
        const b = a.getBoundingClientRect();
        const scrollsY = (cs.overflowY === 'auto' || cs.overflowY === 'scroll');
        r.left = Math.max(r.left, b.left);
        r.right = Math.min(r.right, b.right);
        if (!scrolled) {
          // a scrolling box reaches from its content's top (text above it is lost)
          r.top = Math.max(r.top, scrollsY ? b.top - a.scrollTop : b.top);
          r.bottom = scrollsY ? Infinity : Math.min(r.bottom, b.bottom);
        }
        scrolled = scrolled || scrollsY;
      }
    }
    return r;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    if (!t.textContent.trim()) continue;
    const host = t.parentElement;
    if (!host || host.closest('[hidden], .demo, svg, title')) continue;
    const cs = getComputedStyle(host);
    if (cs.visibility === 'hidden' || cs.display === 'none') continue;
    const range = document.createRange();
    range.selectNodeContents(t);
    const rects = [...range.getClientRects()].filter((q) => q.width > 0);
    if (!rects.length) continue;
    const c = clipRect(t);
    for (const q of rects) {
      const outside = q.left < c.left - 1 || q.right > c.right + 1;
      if (outside || q.top < c.top - 1 || q.bottom > c.bottom + 1) {
        const what = host.id || host.className || host.tagName;
        out.push(`${what}: "${t.textContent.trim().slice(0, 40)}"`);
        break;
      }
    }
    if (cs.textOverflow === 'ellipsis' && host.scrollWidth > host.clientWidth + 1) {
      out.push(`${host.id || host.className}: ellipsis on "${t.textContent.trim().slice(0, 40)}"`);
    }
  }
  const main = document.getElementById('main');
  return {clipped: [...new Set(out)], scrolls: main.scrollHeight > main.clientHeight + 1};
}"""


def test_no_text_is_clipped_in_the_pseudo_locale_at_800x480(tmp_path):
    packs = pseudo_pack(tmp_path / "packs")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with (
        ScreenServer(tmp_path, packs_dir=packs) as server,
        playwright_sync.sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 800, "height": 480})
        page.goto(server.page_url)
        wait_hello(page)
        server.set_lang("en-xa")
        wait_lang(page, "en-xa")
        problems, scrolling = {}, []
        for name, screen, data, step in SCREENS:
            wait_screen(page, server.show(screen, data, step))
            assert "⟦" in page.inner_text("#main"), f"{name}: not in the pseudo-locale"
            found = page.evaluate(CLIPPED)
            page.screenshot(path=str(SHOTS / f"{name}.png"))
            if found["clipped"]:
                problems[name] = found["clipped"]
            if found["scrolls"]:
                scrolling.append(name)
        wait_screen(page, server.show("enroll.finger", SCREENS[6][2], 5))
        server.update("help_offer", {"kind": "finger", "skip": True})
        page.wait_for_selector("#help-offer #offer-skip")
        found = page.evaluate(CLIPPED)
        page.screenshot(path=str(SHOTS / "help-offer.png"))
        if found["clipped"]:
            problems["help-offer"] = found["clipped"]
        browser.close()
    print(f"\npseudo-locale 800x480: main scrolls on {scrolling or 'no screen'}")
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())

// Pictograms with motion for every instruction, so that a citizen who cannot read can follow with
// the sound off. Inline SVG in the page's colours; constant markup only (no outside data).
// Keys are the instruction's translation key (docs/ui-protocol.md, "Speech keys").
// Motion is CSS (style.css, "pictograms"), off under prefers-reduced-motion.
"use strict";

(() => {
  const C = { ink: "#111", brand: "#0b3d78", blue: "#0a4fa0", amber: "#d08a00", ok: "#0a6b2d",
    bad: "#a1001b", skin: "#e8d8c8", soft: "#e9f0f8", grey: "#5a5a5a" };

  const svg = (body, label) => `<svg viewBox="0 0 120 120" class="picto-svg" aria-hidden="true"${label ? ` data-label="${label}"` : ""}>${body}</svg>`;
  const frame = (extra = "") => `<rect x="8" y="8" width="104" height="104" rx="12" fill="${C.soft}" stroke="${C.brand}" stroke-width="4" ${extra}/>`;
  const head = (cx = 60, cy = 62, r = 24, opts = {}) => {
    const eye = opts.closed
      ? `<path d="M${cx - 13} ${cy - 4}h8M${cx + 5} ${cy - 4}h8" stroke="${C.ink}" stroke-width="3" stroke-linecap="round"/>`
      : `<circle cx="${cx - 9}" cy="${cy - 4}" r="3" fill="${C.ink}"/><circle cx="${cx + 9}" cy="${cy - 4}" r="3" fill="${C.ink}"/>`;
    const mouth = opts.open
      ? `<ellipse cx="${cx}" cy="${cy + 11}" rx="6" ry="5" fill="${C.bad}"/>`
      : `<path d="M${cx - 8} ${cy + 10}q8 6 16 0" stroke="${C.ink}" stroke-width="3" fill="none" stroke-linecap="round"/>`;
    return `<g class="${opts.cls || ""}"><circle cx="${cx}" cy="${cy}" r="${r}" fill="${opts.fill || C.skin}" stroke="${C.ink}" stroke-width="3"/>${eye}${mouth}</g>`;
  };
  const arrow = (d, cls = "") => `<path class="${cls}" d="${d}" stroke="${C.amber}" stroke-width="7" fill="none" stroke-linecap="round" stroke-linejoin="round"/>`;
  const cross = (x, y, s = 14) => `<path d="M${x - s} ${y - s}l${2 * s} ${2 * s}M${x + s} ${y - s}l${-2 * s} ${2 * s}" stroke="${C.bad}" stroke-width="7" stroke-linecap="round"/>`;
  const check = (x, y) => `<circle cx="${x}" cy="${y}" r="16" fill="${C.ok}"/><path d="M${x - 8} ${y}l6 6l11-12" stroke="#fff" stroke-width="5" fill="none" stroke-linecap="round"/>`;
  const sun = (x, y, cls = "pm-pulse") => `<g class="${cls}"><circle cx="${x}" cy="${y}" r="10" fill="#ffd447" stroke="${C.amber}" stroke-width="3"/>${[0, 45, 90, 135, 180, 225, 270, 315].map((a) => `<path d="M${x} ${y - 14}v-7" transform="rotate(${a} ${x} ${y})" stroke="${C.amber}" stroke-width="3" stroke-linecap="round"/>`).join("")}</g>`;
  // the sensor seen from the side, a finger above it
  const sensor = (extra = "") => `<rect x="22" y="86" width="76" height="22" rx="5" fill="#444"/><rect x="34" y="82" width="52" height="8" rx="3" fill="#7bd389" ${extra}/>`;
  const finger = (cls = "", y = 30) => `<g class="${cls}"><rect x="46" y="${y - 40}" width="28" height="${62}" rx="14" fill="${C.skin}" stroke="${C.ink}" stroke-width="3"/><path d="M52 ${y + 8}h16" stroke="${C.grey}" stroke-width="2"/></g>`;
  const card = (x, y, w = 64, h = 42, extra = "") => `<g ${extra}><rect x="${x}" y="${y}" width="${w}" height="${h}" rx="6" fill="${C.soft}" stroke="${C.brand}" stroke-width="4"/><rect x="${x + 7}" y="${y + 9}" width="${w * 0.22}" height="${h * 0.5}" rx="2" fill="#c9d6ea"/><rect x="${x + w * 0.4}" y="${y + 10}" width="${w * 0.45}" height="5" rx="2" fill="#7d9cc4"/></g>`;

  const P = {
    // --- face (one per reason code of the face checks) ---
    "guidance.face.no_face": () => svg(frame() + `<circle cx="60" cy="60" r="26" fill="none" stroke="${C.grey}" stroke-width="4" stroke-dasharray="8 6"/>` + arrow("M60 104v-22m-9 9l9-9l9 9", "pm-up")),
    "guidance.face.multiple_faces": () => svg(frame() + head(40, 62, 18) + head(82, 62, 18) + cross(82, 62, 16)),
    "guidance.face.cropped": () => svg(frame() + head(60, 22, 24) + arrow("M60 72v28m-10-10l10 10l10-10", "pm-down")),
    "guidance.face.face_too_small": () => svg(frame() + head(60, 60, 13, { cls: "pm-grow" }) + arrow("M22 22l16 16M98 22l-16 16M22 98l16-16M98 98l-16-16")),
    "guidance.face.face_too_large": () => svg(frame() + head(60, 60, 40) + arrow("M14 14l14 14M106 14l-14 14", "pm-shrink")),
    "guidance.face.off_center": () => svg(frame() + head(60, 60, 22) + arrow("M30 60h-16m8-8l-8 8l8 8M90 60h16m-8-8l8 8l-8 8", "pm-pulse")),
    "face.move_left": () => svg(frame() + head(76, 60, 22, { cls: "pm-left" }) + arrow("M42 60h-26m10-10l-10 10l10 10", "pm-left")),
    "face.move_right": () => svg(frame() + head(44, 60, 22, { cls: "pm-right" }) + arrow("M78 60h26m-10-10l10 10l-10 10", "pm-right")),
    "guidance.face.yaw": () => svg(frame() + `<ellipse cx="66" cy="60" rx="20" ry="26" fill="${C.skin}" stroke="${C.ink}" stroke-width="3"/><circle cx="72" cy="56" r="3"/><circle cx="82" cy="56" r="3"/>` + arrow("M40 30q-20 30 0 60", "pm-pulse") + check(96, 96)),
    "guidance.face.pitch": () => svg(frame() + head(60, 60, 24) + arrow("M98 30v60M90 38l8-8l8 8M90 82l8 8l8-8") + `<path d="M20 60h80" stroke="${C.ok}" stroke-width="3" stroke-dasharray="6 5"/>`),
    "guidance.face.roll": () => svg(frame() + `<g transform="rotate(-18 60 60)">${head(60, 60, 24)}</g>` + arrow("M28 40q-12 20 0 40", "pm-pulse") + `<path d="M60 24v72" stroke="${C.ok}" stroke-width="3" stroke-dasharray="6 5"/>`),
    "guidance.face.eyes_closed": () => svg(frame() + head(40, 60, 20, { closed: true }) + arrow("M66 60h14m-6-6l6 6l-6 6") + `<ellipse cx="98" cy="60" rx="12" ry="8" fill="#fff" stroke="${C.ink}" stroke-width="3"/><circle cx="98" cy="60" r="4" class="pm-pulse"/>`),
    "guidance.face.mouth_open": () => svg(frame() + head(40, 60, 20, { open: true }) + arrow("M66 60h14m-6-6l6 6l-6 6") + head(98, 60, 12)),
    "guidance.face.blurry": () => svg(frame() + head(60, 60, 24, { cls: "pm-shake" }) + `<rect x="86" y="86" width="7" height="20" fill="${C.blue}"/><rect x="98" y="86" width="7" height="20" fill="${C.blue}"/>`),
    "guidance.face.too_dark": () => svg(frame(`fill="#8d99a8"`) + head(60, 66, 22, { fill: "#9c8f82" }) + sun(94, 26) + arrow("M84 36l-10 10", "pm-pulse")),
    "guidance.face.too_bright": () => svg(frame() + head(60, 66, 22) + sun(94, 26, "") + cross(94, 26, 16)),
    "guidance.face.uneven_light": () => svg(frame() + `<circle cx="60" cy="62" r="24" fill="${C.skin}" stroke="${C.ink}" stroke-width="3"/><path d="M60 38a24 24 0 0 1 0 48z" fill="#8d7f72"/>` + sun(20, 24) + sun(100, 24)),
    "guidance.face.busy_background": () => svg(frame() + `<path d="M16 20l14 30M40 16l-6 24M86 18l12 26M100 50l-14 10" stroke="${C.grey}" stroke-width="4"/>` + head(60, 66, 22) + cross(98, 96, 11)),
    "guidance.face.hold_still": () => svg(frame() + head(60, 60, 24) + `<rect x="86" y="86" width="7" height="20" fill="${C.blue}"/><rect x="98" y="86" width="7" height="20" fill="${C.blue}"/>`),
    "face.good": () => svg(frame() + head(60, 60, 24) + check(94, 94)),
    "face.captured": () => svg(frame() + head(60, 60, 24) + check(94, 94)),
    // --- finger ---
    "finger.place": () => svg(sensor() + finger("pm-press", 44)),
    "guidance.finger.no_finger": () => svg(sensor() + finger("pm-press", 44)),
    "guidance.finger.too_wet": () => svg(finger("", 50) + `<path class="pm-drip" d="M84 60q6 10 0 14q-6-4 0-14zM94 44q5 8 0 11q-5-3 0-11z" fill="${C.blue}"/><rect x="16" y="76" width="40" height="30" rx="4" fill="#fff" stroke="${C.blue}" stroke-width="4" class="pm-wipe"/>`),
    "guidance.finger.too_dry": () => svg(finger("", 70) + `<path d="M18 18q10 10 0 20" stroke="${C.ink}" stroke-width="4" fill="none"/><g class="pm-breath" stroke="${C.blue}" stroke-width="4" fill="none" stroke-linecap="round"><path d="M28 26q8 -4 14 4"/><path d="M30 36q8 -4 14 4"/></g>`),
    "guidance.finger.low_contrast": () => svg(sensor() + finger("pm-press", 52) + arrow("M18 20v26m-8-8l8 8l8-8M102 20v26m-8-8l8 8l8-8")),
    "guidance.finger.partial": () => svg(sensor(`fill="#7bd389"`) + `<rect x="30" y="66" width="60" height="18" rx="9" fill="${C.skin}" stroke="${C.ink}" stroke-width="3" class="pm-press"/>` + arrow("M60 20v30m-10-10l10 10l10-10")),
    "guidance.finger.off_center": () => svg(sensor() + `<path d="M60 70v-50M40 40h40" stroke="${C.ok}" stroke-width="3" stroke-dasharray="5 4"/>` + finger("pm-center", 44)),
    "guidance.finger.smudged": () => svg(sensor() + `<rect x="40" y="58" width="40" height="22" rx="4" fill="#fff" stroke="${C.blue}" stroke-width="4" class="pm-wipe"/>`),
    "finger.capturing": () => svg(sensor() + finger("", 52) + `<rect x="86" y="20" width="7" height="20" fill="${C.blue}"/><rect x="98" y="20" width="7" height="20" fill="${C.blue}"/>`),
    "finger.done": () => svg(sensor() + finger("pm-lift", 30) + check(96, 24)),
    // --- card ---
    "scan.body": () => svg(`<rect x="78" y="20" width="34" height="80" rx="6" fill="#444"/><rect x="80" y="44" width="6" height="32" fill="#ff6b6b"/>` + card(8, 36, 64, 46, `class="pm-toward"`) + `<rect x="50" y="42" width="16" height="16" fill="#fff" stroke="${C.amber}" stroke-width="3"/>`),
    "tap.body": () => svg(`<rect x="14" y="84" width="92" height="24" rx="6" fill="#444"/><rect x="30" y="88" width="60" height="6" rx="3" fill="#7bd389"/>` + card(28, 24, 64, 42, `class="pm-down"`) + arrow("M60 10v8")),
    "reading.body": () => svg(`<rect x="14" y="84" width="92" height="24" rx="6" fill="#444"/>` + card(28, 42, 64, 42) + `<g class="pm-pulse"><rect x="50" y="12" width="7" height="22" fill="${C.blue}"/><rect x="63" y="12" width="7" height="22" fill="${C.blue}"/></g>`),
    "result.take_card": () => svg(`<rect x="14" y="84" width="92" height="24" rx="6" fill="#444"/>` + card(28, 40, 64, 42, `class="pm-up"`) + `<path d="M74 34q14-8 20 6l-4 24" stroke="${C.ink}" stroke-width="4" fill="${C.skin}"/>` + arrow("M104 70v-40m-8 8l8-8l8 8")),
    "help_offer.title": () => svg(`<circle cx="44" cy="40" r="16" fill="${C.blue}"/><path d="M18 100c0-22 12-36 26-36s26 14 26 36z" fill="${C.blue}"/><circle cx="88" cy="44" r="18" fill="#ffd447" stroke="${C.amber}" stroke-width="4"/><text x="88" y="52" font-size="24" font-weight="800" text-anchor="middle" fill="${C.ink}">?</text>`),
  };
  P["help_offer.body_face"] = P["help_offer.title"];
  P["help_offer.body_finger"] = P["help_offer.title"];

  function node(key) {
    const make = P[key];
    if (!make) return null;
    const tpl = document.createElement("template");
    tpl.innerHTML = make().trim();
    const n = tpl.content.firstChild;
    n.dataset.picto = key;
    return n;
  }

  // Put pictogram `key` in the slot `id` placed before `anchor` (created once per screen).
  function show(id, anchor, key, cls = "picto") {
    if (!anchor) return;
    let slot = document.getElementById(id);
    if (!slot) {
      slot = document.createElement("div");
      slot.id = id;
      slot.className = cls;
      anchor.parentNode.insertBefore(slot, anchor);
    }
    if (slot.dataset.key === (key || "")) return;
    slot.dataset.key = key || "";
    slot.replaceChildren(...[key && node(key)].filter(Boolean));
    slot.hidden = !key;
  }

  const FACE_SHOWN_LIVE = ["no_face", "multiple_faces", "too_dark", "too_bright", "face_too_small"];

  function faceKey(g, screen) {
    if (!g) return screen === "enroll.face" ? "guidance.face.no_face" : null;
    if (g.captured) return "face.captured";
    if (g.verdict === "pass") return "face.good";
    const code = (g.reasons || [])[0];
    if (!code) return null;
    if (screen === "verify.face_live" && !FACE_SHOWN_LIVE.includes(code)) return null;
    if (code === "off_center" && (g.direction === "left" || g.direction === "right")) return `face.move_${g.direction}`;
    return `guidance.face.${code}`;
  }

  function fingerKey(f) {
    if (!f) return "finger.place";
    if (f.phase === "capturing") return "finger.capturing";
    if (f.phase === "done") return "finger.done";
    const fb = (f.feedback || [])[0];
    if (fb && (f.phase === "retry" || (f.phase === "place" && f.attempt > 1))) return `guidance.finger.${fb}`;
    return "finger.place";
  }

  function update() {
    const K = window.KioskUI;
    if (!K || !K.state.view) return;
    const v = K.state.view;
    const live = K.state.live || {};
    const $ = (id) => document.getElementById(id);
    const tag = (sel, key) => { const n = document.querySelector(sel); if (n) n.dataset.picto = key; };
    switch (v.screen) {
      case "enroll.face":
      case "verify.face_live":
        // over the corner of the live preview, where the citizen is looking anyway
        show("face-picto", document.querySelector("#preview .oval"), faceKey(live.guidance, v.screen), "picto picto-overlay");
        break;
      case "enroll.finger":
        show("finger-picto", document.querySelector("#main .hand svg"), fingerKey(live.finger));
        break;
      case "enroll.finger_failed": {
        const fb = ((v.data || {}).feedback || [])[0];
        const alert = document.querySelector("#main .alert");
        show("finger-picto", alert && alert.firstChild, fb ? `guidance.finger.${fb}` : "guidance.finger.partial", "picto picto-inline");
        break;
      }
      case "enroll.scan":
      case "verify.scan":
      case "gate.ready":
        tag("#main .illustration", "scan.body");
        break;
      case "verify.tap":
        tag("#main .illustration", "tap.body");
        break;
      case "verify.reading":
        show("card-picto", document.querySelector("#main .illustration"), "reading.body", "picto picto-corner");
        break;
      case "verify.result":
      case "verify.face_result":
        show("card-picto", document.querySelector("#footer .footer-note"), "result.take_card", "picto picto-small");
        break;
      default:
        break;
    }
  }

  document.addEventListener("kiosk:render", update);
  document.addEventListener("kiosk:live", update);
  window.KioskPictograms = { keys: () => Object.keys(P), node, faceKey, fingerKey };
})();

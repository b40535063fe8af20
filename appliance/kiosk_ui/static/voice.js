// Spoken guidance, volume, large print, the language chooser and the help offer.
// Each screen message names what it says (`speech`: [{key, args}], docs/ui-protocol.md); this
// plays GET /speech for each item in turn: the audio pack's clip, else eSpeak NG on the kiosk.
// Speaks on each new screen when [ui] voice = true; "Nghe lại" (repeat) always works.
"use strict";

(() => {
  const V = {
    seq: -1,
    items: [], // the screen's speech items
    liveItem: null, // the latest live instruction spoken (face / finger guidance)
    liveAt: 0,
    livePending: null, // a live instruction that waits for the screen's words to end
    queue: [],
    audio: null,
    levels: [1.0, 0.6, 0.3, 0],
    level: 0,
    played: [], // URLs asked for, newest last (tests read it)
    large: false,
    offerSeq: -1,
  };
  const K = () => window.KioskUI;
  const $ = (id) => document.getElementById(id);
  const LIVE_REPEAT_MS = 6000;

  const ICONS = {
    // a small and a big A (drawn, so that the button's name is its label, not the letters)
    large: (on) => `<svg viewBox="0 0 48 48" aria-hidden="true"><path d="M4 38l8-22l8 22M7 31h10" stroke="currentColor" stroke-width="3.5" fill="none" stroke-linejoin="round"/><path d="M20 42l11-32l11 32M24 32h14" stroke="currentColor" stroke-width="${on ? 6 : 4.5}" fill="none" stroke-linejoin="round"/></svg>`,
    globe: `<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" style="vertical-align:-4px"><g fill="none" stroke="currentColor" stroke-width="2"><circle cx="12" cy="12" r="10"/><path d="M2 12h20M12 2c3 3 3 17 0 20M12 2c-3 3-3 17 0 20"/></g></svg>`,
    repeat: `<svg viewBox="0 0 48 48" aria-hidden="true"><path d="M8 18h8l10-8v28l-10-8H8z" fill="currentColor"/><path d="M32 16a12 12 0 1 1-2 18" stroke="currentColor" stroke-width="4" fill="none" stroke-linecap="round"/><path d="M26 30l4 5l5-4" stroke="currentColor" stroke-width="4" fill="none" stroke-linecap="round"/></svg>`,
    volume: (n) => `<svg viewBox="0 0 48 48" aria-hidden="true"><path d="M6 18h8l10-8v28l-10-8H6z" fill="currentColor"/>${
      n === 0 ? `<path d="M30 18l12 12M42 18l-12 12" stroke="currentColor" stroke-width="4" stroke-linecap="round"/>`
        : [1, 2, 3].filter((i) => i <= n).map((i) => `<path d="M${26 + i * 5} ${24 - i * 5}a${i * 6} ${i * 6} 0 0 1 0 ${i * 10}" stroke="currentColor" stroke-width="3.5" fill="none" stroke-linecap="round"/>`).join("")
    }</svg>`,
  };

  function icon(markup) {
    const tpl = document.createElement("template");
    tpl.innerHTML = markup.trim();
    return tpl.content.firstChild;
  }

  function speechUrl(it, lang) {
    const q = new URLSearchParams({ lang, key: it.key });
    for (const [k, v] of Object.entries(it.args || {})) q.set(k, v);
    return `/speech?${q}`;
  }

  function volume() { return V.levels[V.level]; }

  function stop() {
    V.queue = [];
    if (V.audio) { V.audio.pause(); V.audio = null; }
  }

  function playNext() {
    if (!V.audio && !V.queue.length && V.livePending) { // the screen's words are said: now the live one
      const it = V.livePending;
      V.livePending = null;
      V.queue.push(speechUrl(it, K().state.lang));
    }
    if (V.audio || !V.queue.length) return;
    const url = V.queue.shift();
    V.played.push(url);
    if (V.played.length > 200) V.played.shift();
    if (volume() === 0) { V.queue = []; return; }
    const a = new Audio(url);
    a.volume = volume();
    V.audio = a;
    const next = () => { if (V.audio === a) { V.audio = null; playNext(); } };
    a.addEventListener("ended", next);
    a.addEventListener("error", next);
    const p = a.play();
    if (p && p.catch) p.catch(next); // autoplay refused (not the kiosk's browser policy)
  }

  function say(items, { interrupt = true } = {}) {
    const k = K();
    if (!k) return;
    if (interrupt) stop();
    for (const it of items) V.queue.push(speechUrl(it, k.state.lang));
    playNext();
  }

  function repeat() {
    say([...V.items, ...(V.liveItem ? [V.liveItem] : [])]);
  }

  // --- live instructions: the same choice the pictograms make, spoken when it changes ---------

  function liveItem(v, live) {
    const P = window.KioskPictograms;
    if (!P) return null;
    if ((v.screen === "enroll.face" || v.screen === "verify.face_live") && live.guidance) {
      const key = P.faceKey(live.guidance, v.screen);
      return key ? { key, args: {} } : null;
    }
    if (v.screen === "enroll.finger" && live.finger) {
      const key = P.fingerKey(live.finger);
      if (key === "finger.place") {
        return live.finger.attempt > 1 ? { key: "finger.retry", args: { finger: `finger.name.${v.data.finger}` } } : null;
      }
      return { key, args: {} };
    }
    return null;
  }

  function onLive() {
    const k = K();
    const v = k && k.state.view;
    if (!v || v.seq !== V.seq) return;
    const live = k.state.live || {};
    if (live.help_offer && V.offerSeq !== v.seq) {
      V.offerSeq = v.seq;
      showOffer(live.help_offer);
    }
    const it = liveItem(v, live);
    if (!it) return;
    const same = V.liveItem && V.liveItem.key === it.key && JSON.stringify(V.liveItem.args) === JSON.stringify(it.args);
    const now = Date.now();
    if (same && now - V.liveAt < LIVE_REPEAT_MS) return;
    V.liveItem = it;
    V.liveAt = now;
    const voice = (k.state.hello || {}).voice || {};
    if (!voice.auto) return;
    if (V.audio || V.queue.length) { V.livePending = it; return; } // never talk over the screen
    say([it], { interrupt: false });
  }

  // --- the bar's controls ----------------------------------------------------------------------

  function bar() {
    const app = $("app");
    if (!app || $("voice-repeat")) return;
    const mk = (id, onclick) => {
      const b = document.createElement("button");
      b.type = "button";
      b.id = id;
      b.className = "btn btn-rail";
      b.addEventListener("click", onclick);
      return b;
    };
    const rep = mk("voice-repeat", repeat);
    const vol = mk("voice-volume", () => {
      V.level = (V.level + 1) % V.levels.length;
      if (V.audio) V.audio.volume = volume();
      if (volume() === 0) stop();
      label();
    });
    const big = mk("large-print", () => setLarge(!V.large));
    // a rail on the left, under the bar, on every screen (the bar keeps its room for the title)
    const rail = document.createElement("nav");
    rail.id = "access-rail";
    rail.className = "access-rail";
    rail.append(rep, vol, big);
    app.append(rail);
    app.classList.add("has-rail");
  }

  function setLarge(on) {
    V.large = on;
    document.documentElement.classList.toggle("large-print", on);
    label();
  }

  function label() {
    const k = K();
    if (!k || !$("voice-repeat")) return;
    const t = k.t;
    const rep = $("voice-repeat");
    rep.replaceChildren(icon(ICONS.repeat));
    rep.setAttribute("aria-label", t("voice.repeat"));
    rep.title = t("voice.repeat");
    const vol = $("voice-volume");
    const bars = volume() >= 0.9 ? 3 : volume() >= 0.5 ? 2 : volume() > 0 ? 1 : 0;
    vol.replaceChildren(icon(ICONS.volume(bars)));
    const pct = Math.round(volume() * 100);
    vol.setAttribute("aria-label", pct ? t("voice.volume_level", { n: `${pct}%` }) : t("voice.off"));
    vol.dataset.level = String(pct);
    const big = $("large-print");
    big.replaceChildren(icon(ICONS.large(V.large)));
    big.setAttribute("aria-label", t(V.large ? "large.toggle_off" : "large.toggle"));
    big.setAttribute("aria-pressed", String(V.large));
    const langs = (k.state.hello || {}).languages || [];
    if (langs.length > 2) {
      const names = (k.state.hello || {}).language_names || {};
      // the visible name is the accessible name (WCAG 2.5.3); the globe says "languages"
      $("lang-btn").replaceChildren(icon(ICONS.globe), document.createTextNode(` ${names[k.state.lang] || k.state.lang}`));
      $("lang-btn").removeAttribute("aria-label");
      $("lang-btn").title = t("lang.choose");
    }
  }

  // --- language chooser (more than two languages) ----------------------------------------------

  function chooseLanguage() {
    const k = K();
    const hello = k.state.hello || {};
    const names = hello.language_names || {};
    closePanel();
    const panel = document.createElement("div");
    panel.id = "lang-panel";
    panel.className = "side-panel";
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", k.t("lang.choose"));
    const title = document.createElement("div");
    title.className = "overlay-title";
    title.textContent = k.t("lang.choose");
    panel.append(title);
    const list = document.createElement("div");
    list.className = "lang-list";
    for (const code of hello.languages || []) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = `btn${code === k.state.lang ? " btn-primary" : ""}`;
      b.dataset.lang = code;
      b.lang = code;
      b.textContent = names[code] || code;
      b.addEventListener("click", () => { closePanel(); k.globalCommand("lang", { lang: code }); });
      list.append(b);
    }
    panel.append(list);
    document.body.append(panel);
  }

  // --- help offer: no progress for [ui] help_after_s ----------------------------------------------

  function showOffer(offer) {
    const k = K();
    closePanel();
    const panel = document.createElement("div");
    panel.id = "help-offer";
    panel.className = "side-panel";
    panel.setAttribute("role", "dialog");
    panel.dataset.kind = offer.kind;
    const art = window.KioskPictograms && window.KioskPictograms.node("help_offer.title");
    const title = document.createElement("div");
    title.className = "overlay-title";
    title.textContent = k.t("help_offer.title");
    const body = document.createElement("p");
    body.textContent = k.t(offer.kind === "finger" ? "help_offer.body_finger" : "help_offer.body_face");
    const row = document.createElement("div");
    row.className = "offer-actions";
    const btn = (id, text, primary, onclick) => {
      const b = document.createElement("button");
      b.type = "button";
      b.id = id;
      b.className = `btn${primary ? " btn-primary" : ""}`;
      b.textContent = text;
      b.addEventListener("click", onclick);
      row.append(b);
    };
    btn("offer-keep", k.t("help_offer.keep"), false, closePanel);
    if (offer.skip) btn("offer-skip", k.t("help_offer.skip"), false, () => { closePanel(); k.command("skip"); });
    btn("offer-call", k.t("help_offer.call"), true, () => { closePanel(); k.globalCommand("help"); });
    const head = document.createElement("div");
    head.className = "offer-head";
    if (art) head.append(art);
    head.append(title);
    panel.append(head, body, row);
    document.body.append(panel);
    const voice = (k.state.hello || {}).voice || {};
    if (voice.auto) {
      say([{ key: "help_offer.title", args: {} },
        { key: offer.kind === "finger" ? "help_offer.body_finger" : "help_offer.body_face", args: {} }]);
    }
  }

  function closePanel() {
    for (const id of ["lang-panel", "help-offer"]) { const n = $(id); if (n) n.remove(); }
  }

  // --- hooks -----------------------------------------------------------------------------------

  let lastFlow = null;
  document.addEventListener("kiosk:render", () => {
    const k = K();
    const v = k && k.state.view;
    if (!v) return;
    bar();
    label();
    if (v.seq === V.seq) return; // a re-render (language, lock): same words
    const sessionOver = lastFlow && ["enrollment", "verification"].includes(lastFlow) && !["enrollment", "verification"].includes(v.flow);
    lastFlow = v.flow;
    if (sessionOver) { // the next citizen starts with the defaults
      setLarge(false);
      V.level = Math.max(0, V.levels.indexOf(((k.state.hello || {}).voice || {}).volume));
      label();
    }
    V.seq = v.seq;
    V.items = v.speech || [];
    V.liveItem = null;
    V.livePending = null;
    closePanel();
    const voice = (k.state.hello || {}).voice || {};
    if (voice.auto) say(V.items);
    else stop();
  });
  document.addEventListener("kiosk:live", onLive);
  document.addEventListener("kiosk:lang", () => {
    closePanel();
    const k = K();
    if (((k.state.hello || {}).voice || {}).auto) say(V.items); // the same screen, in the new words
  });
  document.addEventListener("kiosk:hello", () => {
    const voice = (K().state.hello || {}).voice || {};
    const start = typeof voice.volume === "number" ? voice.volume : 1;
    V.levels = [1.0, 0.6, 0.3, 0];
    if (!V.levels.includes(start)) V.levels = [start, ...V.levels.filter((l) => l !== start)].sort((a, b) => b - a);
    V.level = V.levels.indexOf(start);
  });
  document.addEventListener("kiosk:choose-lang", chooseLanguage);

  // "are you still there?" and "staff have been called" are said too, once each time they appear
  const spoken = new WeakMap();
  function sayWhenShown(id, items) {
    const node = $(id);
    if (!node) return;
    new MutationObserver(() => {
      const k = K();
      const list = items(node);
      const shown = !node.hidden && list;
      if (!shown) { spoken.delete(node); return; }
      if (spoken.get(node) === V.seq) return;
      spoken.set(node, V.seq);
      if (((k.state.hello || {}).voice || {}).auto || id === "overlay") say(list, { interrupt: id === "overlay" });
    }).observe(node, { attributes: true, attributeFilter: ["hidden"] });
  }
  const key = (k) => ({ key: k, args: {} });
  sayWhenShown("notice", (n) => (n.textContent === K().t("common.still_there") ? [key("common.still_there")] : null));
  sayWhenShown("overlay", (n) => (n.dataset.kind === "help" ? [key("help.called.title"), key("help.called.body")] : null));
  window.KioskVoice = { state: V, repeat, say, setLarge, chooseLanguage };
})();

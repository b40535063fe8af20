// The kiosk page: renders the screen the service sends over /ws and sends back commands.
// No build step, no library. Message formats: docs/ui-protocol.md.
"use strict";

(() => {
  const S = {
    lang: "vi",
    tables: {},
    hello: null,
    view: null, // the current screen message
    live: {}, // latest progress/guidance/finger update for this screen
    local: {}, // typed digits and ticks on this screen; forgotten on every new screen
    sent: false, // a command was sent on this screen: its buttons are off until the next one
    sentTimer: 0,
    shownAt: 0,
    lastTouch: 0,
    ws: null,
    backoff: 500,
    chain: Promise.resolve(),
    helpTimer: 0,
  };
  const $ = (id) => document.getElementById(id);
  // voice.js and pictograms.js listen to these (kiosk:hello|render|live|lang|choose-lang)
  const emit = (name) => document.dispatchEvent(new CustomEvent(`kiosk:${name}`));

  // --- tiny DOM helpers (text always goes in as text, never as HTML) ---------------------------

  function el(tag, props, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") n.className = v;
      else if (k === "text") n.textContent = v;
      else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat(3)) {
      if (kid === null || kid === undefined || kid === false) continue;
      n.append(kid.nodeType ? kid : document.createTextNode(String(kid)));
    }
    return n;
  }

  // Static artwork only (constant strings below, no data from outside).
  function art(markup) {
    const tpl = document.createElement("template");
    tpl.innerHTML = markup.trim();
    return tpl.content.firstChild;
  }

  function t(key, params) {
    const own = S.tables[S.lang] || {};
    let s = key in own ? own[key] : (S.tables.vi || {})[key];
    if (s === undefined) s = key;
    if (params) s = s.replace(/\{(\w+)\}/g, (m, p) => (p in params ? params[p] : m));
    return s;
  }

  async function loadTable(lang) {
    if (S.tables[lang]) return;
    const r = await fetch(`/i18n/${lang}.json`, { cache: "no-cache" });
    S.tables[lang] = await r.json();
  }

  function setLang(lang) {
    S.lang = lang;
    document.documentElement.lang = lang;
    document.title = t("app.title");
  }

  // --- socket ---------------------------------------------------------------------------------

  function connect() {
    const ws = new WebSocket(`ws://${location.host}/ws`);
    S.ws = ws;
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      S.chain = S.chain.then(() => onMessage(msg)).catch((e) => console.error(e));
    };
    ws.onclose = () => {
      S.ws = null;
      showReconnecting(true);
      setTimeout(connect, S.backoff);
      S.backoff = Math.min(S.backoff * 2, 4000);
    };
  }

  function sendRaw(obj) {
    if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify(obj));
  }

  // A screen command: sent once; buttons stay off until the next screen (or 3 s, if none comes).
  function command(name, args) {
    if (S.sent) return;
    S.sent = true;
    document.querySelectorAll("#main button, #footer button").forEach((b) => (b.disabled = true));
    clearTimeout(S.sentTimer);
    S.sentTimer = setTimeout(() => {
      S.sent = false;
      render();
    }, 3000);
    sendRaw({ type: "command", name, args: args || {}, seq: S.view ? S.view.seq : 0 });
  }

  // Commands valid on every screen (language, help, start over, still here).
  function globalCommand(name, args) {
    sendRaw({ type: "command", name, args: args || {}, seq: S.view ? S.view.seq : 0 });
  }

  async function onMessage(m) {
    switch (m.type) {
      case "hello":
        S.hello = m;
        await Promise.all([loadTable("vi"), loadTable("en"), loadTable(m.lang)]);
        setLang(m.lang);
        emit("hello");
        showReconnecting(false);
        setupDemo();
        showUpdating(!!m.updating);
        break;
      case "updating":
        showUpdating(m.active);
        break;
      case "screen":
        S.view = m;
        S.live = {};
        S.local = {};
        S.sent = false;
        clearTimeout(S.sentTimer);
        S.shownAt = Date.now();
        render();
        break;
      case "lang":
        await loadTable(m.lang);
        setLang(m.lang);
        render();
        emit("lang");
        setupDemo();
        break;
      case "help":
        showHelp();
        break;
      case "progress":
      case "guidance":
      case "finger":
      case "help_offer":
        if (S.view && m.seq === S.view.seq) {
          S.live[m.type] = m;
          liveUpdate();
        }
        break;
      default:
        break;
    }
  }

  // --- artwork --------------------------------------------------------------------------------

  const ART = {
    qrCard: `<svg viewBox="0 0 240 170" role="img" aria-hidden="true">
      <rect x="8" y="20" width="200" height="130" rx="14" fill="#e9f0f8" stroke="#0b3d78" stroke-width="5"/>
      <rect x="24" y="44" width="50" height="64" rx="6" fill="#c9d6ea"/>
      <rect x="86" y="50" width="60" height="10" rx="5" fill="#7d9cc4"/>
      <rect x="86" y="72" width="46" height="10" rx="5" fill="#7d9cc4"/>
      <rect x="86" y="94" width="54" height="10" rx="5" fill="#7d9cc4"/>
      <rect x="150" y="30" width="50" height="50" fill="#fff" stroke="#d08a00" stroke-width="6"/>
      <path d="M158 38h12v12h-12zM180 38h12v12h-12zM158 60h12v12h-12zM178 60h6v6h-6zM186 68h6v6h-6z" fill="#111"/>
      <path d="M214 56 h20 m-10 -10 l10 10 l-10 10" stroke="#d08a00" stroke-width="7" fill="none" stroke-linecap="round"/>
    </svg>`,
    reader: `<svg viewBox="0 0 240 170" role="img" aria-hidden="true">
      <rect x="20" y="110" width="200" height="46" rx="10" fill="#444"/>
      <rect x="50" y="116" width="140" height="10" rx="5" fill="#7bd389"/>
      <g transform="rotate(-6 120 70)">
        <rect x="40" y="30" width="160" height="70" rx="10" fill="#e9f0f8" stroke="#0b3d78" stroke-width="5"/>
        <rect x="56" y="46" width="30" height="38" rx="4" fill="#c9d6ea"/>
        <rect x="98" y="50" width="80" height="8" rx="4" fill="#7d9cc4"/>
        <rect x="98" y="68" width="60" height="8" rx="4" fill="#7d9cc4"/>
      </g>
      <path d="M120 12 v14 m-8 -8 l8 8 l8 -8" stroke="#d08a00" stroke-width="6" fill="none" stroke-linecap="round"/>
    </svg>`,
    enroll: `<svg viewBox="0 0 80 80" aria-hidden="true">
      <circle cx="30" cy="24" r="13" fill="#0a4fa0"/><path d="M8 66c0-14 10-24 22-24s22 10 22 24z" fill="#0a4fa0"/>
      <g fill="none" stroke="#d08a00" stroke-width="3.5"><path d="M58 46c6 0 11 5 11 11v9"/><path d="M52 66v-8c0-4 3-7 6-7s6 3 6 7v8"/><path d="M58 58v8"/></g>
    </svg>`,
    verify: `<svg viewBox="0 0 80 80" aria-hidden="true">
      <rect x="4" y="16" width="60" height="42" rx="6" fill="#e9f0f8" stroke="#0a4fa0" stroke-width="4"/>
      <rect x="12" y="26" width="14" height="18" rx="2" fill="#7d9cc4"/><rect x="32" y="28" width="24" height="5" rx="2" fill="#7d9cc4"/>
      <circle cx="58" cy="56" r="16" fill="#0a6b2d"/><path d="M50 56l6 6l11-12" stroke="#fff" stroke-width="5" fill="none" stroke-linecap="round"/>
    </svg>`,
  };

  const FINGERS = ["little", "ring", "middle", "index"];
  function handArt(target) {
    // Two hands seen from above, palms down: left hand on the left, right hand on the right.
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 460 230");
    svg.setAttribute("aria-hidden", "true");
    const add = (tag, attrs) => {
      const n = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
      svg.append(n);
      return n;
    };
    for (const side of ["left", "right"]) {
      const ox = side === "left" ? 10 : 250;
      add("rect", { x: ox + 10, y: 110, width: 170, height: 110, rx: 30, class: "hand-palm" });
      const heights = { little: 70, ring: 92, middle: 100, index: 90 };
      const order = side === "left" ? FINGERS : [...FINGERS].reverse();
      order.forEach((f, i) => {
        const h = heights[f];
        const cls = `hand-finger${target === `${side}_${f}` ? " target" : ""}`;
        add("rect", { x: ox + 14 + i * 42, y: 120 - h, width: 34, height: h + 20, rx: 17, class: cls });
      });
      const tx = side === "left" ? ox + 172 : ox - 10;
      const rot = side === "left" ? -35 : 35;
      const thumb = add("rect", {
        x: tx, y: 120, width: 34, height: 80, rx: 17,
        class: `hand-finger${target === `${side}_thumb` ? " target" : ""}`,
      });
      thumb.setAttribute("transform", `rotate(${rot} ${tx + 17} 190)`);
    }
    return svg;
  }

  // --- screens --------------------------------------------------------------------------------
  // Each returns { body: [nodes], actions: [...], center, bodyClass, noCancel }.
  // An action: { label, cmd, args, primary, onClick, disabled }.

  const guidanceText = (kind, code) => {
    const own = (S.tables[S.lang] || {})[`guidance.${kind}.${code}`]; // language packs too
    if (own) return own;
    const table = (S.hello && S.hello.guidance && S.hello.guidance[kind]) || {};
    const entry = table[code];
    return entry ? entry[S.lang] || entry.vi : null;
  };

  function progressBar(id) {
    return el("div", { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
      "aria-label": t("progress.label") },
      el("div", { id }));
  }

  function scanScreen() {
    return {
      middle: true,
      body: [
        el("h1", { text: t("scan.title") }),
        el("div", { class: "row" },
          el("div", { class: "illustration" }, art(ART.qrCard)),
          el("div", { class: "grow col" },
            el("p", { class: "lead", text: t("scan.body") }),
            el("div", { class: "waiting" }, el("div", { class: "spinner" }), el("span", { text: t("scan.waiting") })))),
      ],
      actions: [],
    };
  }

  const SCREENS = {
    home: (d) => ({
      body: [
        el("h1", { text: t("home.title") }),
        el("p", { class: "lead", text: t("home.subtitle") }),
        el("div", { class: "choices" },
          (d.flows || ["enrollment", "verification"]).includes("enrollment")
            ? el("button", { type: "button", class: "choice", "data-cmd": "start", "data-flow": "enrollment",
              onclick: () => command("start", { flow: "enrollment" }) },
              art(ART.enroll), el("span", { text: t("home.enrollment") }),
              el("span", { class: "hint", text: t("home.enrollment.hint") })) : null,
          el("button", { type: "button", class: "choice", "data-cmd": "start", "data-flow": "verification",
            onclick: () => command("start", { flow: "verification" }) },
            art(ART.verify), el("span", { text: t("home.verification") }),
            el("span", { class: "hint", text: t("home.verification.hint") }))),
        // issue #17: a kiosk that cannot save says so before anyone starts
        d.enroll_blocked ? el("div", { class: "alert bad", id: "enroll-blocked",
          text: t("home.enroll_blocked", { code: staffCode(d.enroll_blocked) }) }) : null,
      ],
      actions: [],
      noCancel: true,
    }),

    "enroll.scan": scanScreen,
    "verify.scan": scanScreen,

    "enroll.confirm": (d) => ({
      body: [
        el("h1", { text: t("confirm.title") }),
        el("div", { class: "card-box col" },
          el("div", {}, el("div", { class: "field-label", text: t("confirm.name") }),
            el("div", { class: "field-value", id: "confirm-name", text: d.full_name || "—" })),
          el("div", {}, el("div", { class: "field-label", text: t("confirm.id") }),
            el("div", { class: "field-value mono", id: "confirm-id", text: d.masked_id }))),
        d.expired ? el("div", { class: "alert", text: t("confirm.expired") }) : null,
      ],
      actions: [
        { label: t("confirm.no"), cmd: "back" },
        { label: t("confirm.yes"), cmd: "confirm", primary: true },
      ],
    }),

    "enroll.consent": (d) => {
      const ticked = (S.local.ticked = S.local.ticked || new Set());
      // Never a dead button: with nothing ticked, agreeing explains what to do instead.
      const agreeBtn = { label: t("consent.agree"), cmd: "consent", primary: true, id: "consent-agree",
        onClick: () => {
          if (ticked.size) command("consent", { purposes: [...ticked] });
          else { $("consent-hint").hidden = false; $("consent-note").hidden = true; }
        } };
      const items = d.purposes.map((p) => {
        const box = el("input", { type: "checkbox", id: `purpose-${p}`, "data-purpose": p });
        box.checked = ticked.has(p);
        const label = el("label", { class: `consent-item${ticked.has(p) ? " checked" : ""}`, for: `purpose-${p}` },
          box, el("span", { text: t(`consent.purpose.${p}`) }));
        box.addEventListener("change", () => {
          if (box.checked) ticked.add(p); else ticked.delete(p);
          label.classList.toggle("checked", box.checked);
          if (ticked.size) { $("consent-hint").hidden = true; $("consent-note").hidden = false; }
        });
        return label;
      });
      return {
        body: [
          el("h1", { text: t("consent.title") }),
          el("p", { text: t("consent.intro") }),
          ...items,
          el("p", { class: "muted", id: "consent-note", text: t("consent.note") }),
          el("p", { class: "alert", id: "consent-hint", hidden: true, text: t("consent.tick_one") }),
        ],
        actions: [{ label: t("consent.decline"), cmd: "decline" }, agreeBtn],
      };
    },

    "enroll.declined": () => ({
      center: true,
      body: [el("h1", { text: t("declined.title") }), el("p", { class: "lead", text: t("declined.body") })],
      actions: [{ label: t("common.done"), cmd: "done", primary: true }],
      noCancel: true,
      countdown: true,
    }),

    "enroll.face": (d, v) => ({
      middle: true,
      body: [
        el("div", { class: "row fill" },
          el("div", { class: "preview", id: "preview" },
            previewImage(v.seq),
            el("div", { class: "oval" })),
          el("div", { class: "grow col" },
            el("h1", { text: t("face.title") }),
            el("p", { text: t("face.body") }),
            el("div", { class: "guidance", id: "face-guidance", text: t("face.default") }),
            progressBar("face-progress"))),
      ],
      actions: [],
    }),

    "enroll.finger": (d) => ({
      middle: true,
      body: [
        el("div", { class: "row" },
          el("div", { class: "grow col" },
            el("h1", { text: t("finger.title") + " · " + t("finger.count", { n: d.index, total: d.count }) }),
            el("p", { class: "lead", id: "finger-instruction",
              text: t("finger.place", { finger: t(`finger.name.${d.finger}`) }) }),
            el("div", { class: "guidance", id: "finger-feedback" }),
            el("div", { id: "finger-progress-wrap", hidden: true }, progressBar("finger-progress"))),
          el("div", { class: "hand hand-wide" }, handArt(d.finger))),
      ],
      actions: [],
    }),

    "enroll.finger_failed": (d) => ({
      body: [
        el("div", { class: "row" },
          el("div", { class: "grow col" },
            el("h1", { text: t("finger_failed.title") }),
            el("p", { class: "lead", text: t("finger_failed.body", { finger: t(`finger.name.${d.finger}`) }) }),
            ...((d.feedback && d.feedback.length ? d.feedback : [null]).slice(0, 1).map((c) =>
              el("div", { class: "alert", text: (c && guidanceText("finger", c)) || t("finger.generic_hint") })))),
          el("div", { class: "hand" }, handArt(d.finger))),
      ],
      actions: [
        { label: t(d.operator ? "finger_failed.skip_operator" : "finger_failed.skip"), cmd: "skip" },
        { label: t("common.retry"), cmd: "retry", primary: true },
      ],
    }),

    "enroll.review": (d) => {
      const fingers = d.fingers.length
        ? d.fingers.map((f) => el("li", {},
            el("span", { class: f.verdict === "pass" ? "mark-ok" : "mark-warn", text: f.verdict === "pass" ? "✓" : "!" }),
            el("span", { text: `${t(`finger.name.${f.finger}`)}: ${t(`review.finger.${f.verdict}`)}` })))
        : [el("li", { text: t("review.no_fingers") })];
      return {
        body: [
          el("h1", { text: t("review.title") }),
          el("div", { class: "row top" },
            d.portrait ? el("img", { class: "photo", id: "review-photo", src: d.portrait, alt: t("review.photo") })
              : null,
            el("div", { class: "grow col" },
              el("div", { class: "field-value", text: d.full_name || "—" }),
              el("div", { class: "mono", text: d.masked_id }),
              d.portrait ? null : el("div", { class: "field-label", text: t("review.no_photo") }),
              el("div", { class: "field-label", text: t("review.fingers") }),
              el("ul", { class: "checklist" }, fingers))),
        ],
        actions: [
          d.portrait ? { label: t("review.retake"), cmd: "retake" } : null,
          { label: t("review.save"), cmd: "save", primary: true },
        ],
      };
    },

    "enroll.saving": () => ({
      center: true,
      body: [el("div", { class: "spinner large" }), el("h1", { text: t("saving.title") }),
        el("p", { text: t("common.please_wait") })],
      actions: [],
      noCancel: true,
    }),

    "enroll.receipt": (d) => ({
      body: [
        el("h1", { text: t("receipt.title") }),
        el("div", { class: "receipt" },
          el("img", { src: `/qr.svg?text=${encodeURIComponent(d.receipt_code)}`, alt: "" }),
          el("div", { class: "col" },
            el("p", { text: t("receipt.body") }),
            el("div", { class: "field-label", text: t("receipt.code") }),
            el("div", { class: "receipt-code mono", id: "receipt-code", text: d.receipt_code }),
            el("p", { class: "receipt-note", id: "receipt-purpose", text: t("receipt.purpose") }),
            el("p", { class: "receipt-note", id: "receipt-withdraw", text: t("receipt.withdraw") }))),
      ],
      actions: [{ label: t("common.done"), cmd: "done", primary: true }],
      noCancel: true,
      countdown: true,
    }),

    "verify.keypad": (d) => keypadScreen(d),

    "verify.tap": () => ({
      middle: true,
      body: [
        el("h1", { text: t("tap.title") }),
        el("div", { class: "row" },
          el("div", { class: "illustration" }, art(ART.reader)),
          el("div", { class: "grow col" },
            el("p", { class: "lead", text: t("tap.body") }),
            el("div", { class: "waiting" }, el("div", { class: "spinner" }), el("span", { text: t("tap.waiting") })))),
      ],
      actions: [],
    }),

    "verify.reading": () => ({
      middle: true,
      body: [
        el("h1", { text: t("reading.title") }),
        el("div", { class: "row" },
          el("div", { class: "illustration" }, art(ART.reader)),
          el("div", { class: "grow col" },
            el("p", { class: "lead", text: t("reading.body") }),
            progressBar("read-progress"),
            el("div", { class: "progress-label", id: "read-percent", text: "0%" }))),
      ],
      actions: [],
      noCancel: true,
    }),

    "verify.result": (d) => {
      const a = d.auth;
      const icon = { genuine: "✓", cannot_confirm: "?", not_genuine: "✗" };
      const f = d.fields || {};
      const value = (k) => {
        if (k === "sex") return f.sex ? t(`sex.${f.sex}`) : "—";
        if (k === "expiry_date") {
          if (!f.expiry_date) return t("result.no_expiry");
          return d.expired ? `${formatDate(f.expiry_date)} · ${t("result.expired")}` : formatDate(f.expiry_date);
        }
        if (k === "date_of_birth") return f.date_of_birth ? formatDate(f.date_of_birth) : "—";
        return f[k] || "—";
      };
      const facts = ["full_name", "masked_id", "date_of_birth", "expiry_date"]
        .map((k) => [el("dt", { text: t(`result.field.${k}`) }),
          el("dd", { text: k === "date_of_birth" && f.sex ? `${value(k)} · ${value("sex")}` : value(k) })]);
      const line = (which) => el("li", {},
        el("span", { class: { genuine: "mark-ok", cannot_confirm: "mark-warn", not_genuine: "mark-no" }[a[which]], text: icon[a[which]] }),
        el("span", { text: t(`result.${which}.${a[which]}`) }));
      return {
        body: [
          el("div", { class: `verdict ${a.overall}`, id: "verdict", "data-verdict": a.overall },
            el("span", { class: "icon", text: icon[a.overall] }),
            el("span", { class: "big", text: t(`result.title.${a.overall}`) }),
            d.access ? el("details", { class: "staff-details", id: "chip-details" },
              el("summary", { text: t("result.details") }),
              el("p", { text: t("result.access", { protocol: d.access }) })) : null),
          el("div", { class: "row top" },
            d.photo ? el("img", { class: "photo small", id: "chip-photo", src: d.photo, alt: "" }) : null,
            el("div", { class: "grow col" }, el("dl", { class: "facts" }, facts))),
          el("ul", { class: "checklist", id: "auth-lines" }, line("passive"), line("active")),
        ],
        // what to do next when not confirmed genuine (issue #17), else: take the card back
        note: d.next_step ? t(`result.next.${d.next_step}`) : t("result.take_card"),
        noteId: d.next_step ? "next-step" : null,
        actions: [
          d.face_check ? { label: t("result.check_face"), cmd: "check_face" } : null,
          { label: t("common.done"), cmd: "done", primary: true },
        ],
        noCancel: true,
        countdown: true,
      };
    },

    // issue #18: is the holder the card's owner? consent, a liveness challenge, the answer
    "verify.face_consent": () => ({
      middle: true,
      body: [el("h1", { text: t("verify_face.consent.title") }),
        el("p", { class: "lead", id: "face-consent-body", text: t("verify_face.consent.body") })],
      actions: [
        { label: t("verify_face.consent.decline"), cmd: "decline" },
        { label: t("verify_face.consent.agree"), cmd: "consent", primary: true },
      ],
    }),

    "verify.face_live": (d, v) => ({
      middle: true,
      body: [
        el("div", { class: "row fill" },
          el("div", { class: "preview", id: "preview" }, previewImage(v.seq), el("div", { class: "oval" })),
          el("div", { class: "grow col" },
            el("h1", { text: t("verify_face.live.title") }),
            el("p", { class: "lead", id: "face-challenge", "data-challenge": d.challenge,
              text: t(`verify_face.challenge.${d.challenge}`) }),
            el("div", { class: "guidance", id: "face-guidance", text: "" }))),
      ],
      actions: [],
    }),

    "verify.face_result": (d) => ({
      center: true,
      body: [
        el("div", { class: `verdict ${d.owner ? "genuine" : "cannot_confirm"}`, id: "face-verdict",
          "data-owner": String(d.owner) },
          el("span", { class: "icon", text: d.owner ? "✓" : "ℹ" }),
          el("span", { class: "big", text: t(d.owner ? "verify_face.result.owner" : "verify_face.result.officer") })),
        el("p", { class: "lead", text: t(d.owner ? "verify_face.result.owner_body" : "verify_face.result.officer_body") }),
      ],
      note: t("result.take_card"),
      actions: [{ label: t("common.done"), cmd: "done", primary: true }],
      noCancel: true,
      countdown: true,
    }),

    "gate.ready": (d) => ({
      center: true,
      body: [
        el("div", { class: "illustration" }, art(ART.qrCard)),
        el("h1", { text: t("gate.ready.title") }),
        el("p", { class: "lead", text: t("gate.ready.body") }),
        el("p", { class: "gate-hint", id: "gate-no-cccd", text: t("gate.ready.no_cccd") }),
        el("p", { class: "gate-count", id: "gate-count", text: t("gate.count", { n: d.count }) }),
        clockMark(d.clock),
      ],
      actions: [],
      noCancel: true,
    }),

    "gate.result": (d) => ({
      center: true,
      bodyClass: d.admitted ? "gate-admit" : "gate-refuse",
      body: [
        el("div", { class: "gate-icon", text: d.admitted ? "✓" : "✗" }),
        el("div", { class: "gate-word", id: "gate-word", text: t(d.admitted ? "gate.admit" : "gate.refuse") }),
        d.decision !== "admit"
          ? el("div", { class: "gate-reason", id: "gate-reason",
            text: t(`gate.reason.${d.decision}`) === `gate.reason.${d.decision}` ? t("gate.reason.other") : t(`gate.reason.${d.decision}`) })
          : null,
        d.masked_id ? el("div", { class: "mono big", id: "gate-masked", text: d.masked_id }) : null,
        el("div", { class: "gate-count", text: t("gate.count", { n: d.count }) }),
        clockMark(d.clock),
      ],
      actions: [],
      noCancel: true,
    }),

    "op.login": (d) => pinScreen(d),

    "op.locked": (d) => ({
      center: true,
      body: [el("h1", { text: t("op.locked.title") }),
        el("p", { class: "lead", id: "locked-left", text: t("op.locked.body", { time: clockText(d.until_s ?? d.minutes * 60) }) })],
      actions: [],
      noCancel: true,
    }),

    "op.menu": (d) => ({
      body: [
        el("h1", { text: t("op.menu.title") }),
        d.capture_blocked ? el("div", { class: "alert bad", id: "capture-blocked",
          text: t("op.menu.capture_blocked", { code: staffCode(d.capture_blocked) }) }) : null,
        el("div", { class: "choices vertical" },
          d.capture_blocked ? null
            : el("button", { type: "button", class: "choice", "data-cmd": "new_capture", onclick: () => command("new_capture") },
              art(ART.enroll), el("span", { text: t("op.menu.new_capture") })),
          el("button", { type: "button", class: "choice", "data-cmd": "records", onclick: () => command("records") },
            el("span", { text: t("op.menu.records") })),
          el("button", { type: "button", class: "choice", "data-cmd": "withdraw", onclick: () => command("withdraw") },
            el("span", { text: t("op.menu.withdraw") }))),
      ],
      actions: [{ label: t("op.menu.logout"), cmd: "logout" }],
      noCancel: true,
    }),

    "op.withdraw": (d) => withdrawScreen(d),

    "op.records": (d) => {
      if (d.loading) return { center: true, body: [el("div", { class: "spinner large" })], actions: [], noCancel: true };
      const rows = d.rows || [];
      return {
        body: [
          el("h1", { text: t("op.records.title") }),
          el("p", { id: "records-summary", text: t("op.records.summary", { n: rows.length, u: d.uploaded }) }),
          d.sent_now ? el("p", { class: "alert", id: "sent-now", text: t(d.sent_now.upload ? "op.records.sent" : "op.records.no_upload",
            { n: d.sent_now.queued }) }) : null,
          rows.length
            ? el("table", { class: "records" },
              el("thead", {}, el("tr", {}, ["time", "id", "code", "uploaded"].map((k) => el("th", { text: t(`op.records.${k}`) })))),
              el("tbody", {}, rows.map((r) => el("tr", {},
                el("td", { text: r.time || "—" }), el("td", { class: "mono", text: r.masked_id || "—" }),
                el("td", { class: "mono", text: r.receipt_code }),
                el("td", {}, el("span", { class: r.uploaded ? "mark-ok" : "mark-warn", text: r.uploaded ? "✓ " : "… " }),
                  t(r.uploaded ? "op.records.yes" : "op.records.no"))))))
            : el("p", { class: "lead", text: t("op.records.empty") }),
        ],
        actions: [
          d.can_send ? { label: t("op.records.send_now"), cmd: "send_now", id: "send-now" } : null,
          { label: t("common.back"), cmd: "back", primary: true }],
        noCancel: true,
      };
    },

    error: (d, v) => {
      const device = d.device ? t(`device.${d.device}`) : t("device.any");
      return {
        body: [
          el("div", { class: "row" },
            el("div", { class: "err-icon", text: "!" }),
            el("div", { class: "grow col" },
              el("h1", { id: "error-title", "data-kind": d.kind, text: t(`error.title.${d.kind}`) }),
              el("p", { class: "lead", text: t(`error.body.${d.kind}`, { device }) }),
              d.detail ? el("p", { class: "muted", id: "error-detail", text: t("error.detail", { code: staffCode(d.detail) }) }) : null)),
        ],
        actions: [
          { label: t("error.call_staff"), onClick: () => globalCommand("help"), id: "error-help" },
          d.can_retry ? { label: t(d.kind === "timeout" ? "error.retry.timeout" : "common.retry"), cmd: "retry", primary: true }
            : { label: t("common.done"), cmd: "done", primary: true },
        ],
        noCancel: !v || v.flow === "checkin" || v.flow === "home",
        countdown: true,
      };
    },
  };

  // The MJPEG preview; if the stream is not there yet or drops, ask again while on this screen.
  function previewImage(seq) {
    const img = el("img", { id: "preview-img", alt: "" });
    let tries = 0;
    img.addEventListener("error", () => {
      if (S.view && S.view.seq === seq && tries++ < 20) {
        setTimeout(() => { img.src = `/camera.mjpg?seq=${seq}&try=${tries}`; }, 500);
      }
    });
    img.src = `/camera.mjpg?seq=${seq}`;
    return img;
  }

  // 125 s -> "2:05"
  function clockText(seconds) {
    const s = Math.max(0, Math.ceil(seconds));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  // For the gate attendant: expiry is judged against the time floor, not a synchronised clock.
  function clockMark(clock) {
    if (!clock || clock.synced) return null;
    return el("div", { class: "clock-mark", id: "clock-unsynced",
      text: t("gate.clock_unsynced", { date: formatDate(clock.floor) }) });
  }

  // A code for staff, written as staff read it aloud on the phone: "BAC-FAILED", not "bac_failed".
  function staffCode(code) {
    return String(code).replace(/[_\s]+/g, "-").toUpperCase();
  }

  function formatDate(iso) {
    const [y, m, d] = iso.split("-");
    return `${d}/${m}/${y}`;
  }

  // --- keypads --------------------------------------------------------------------------------

  function keypad(onDigit, onDelete, onOk, okLabel) {
    const keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9"].map((k) =>
      el("button", { type: "button", class: "btn", "data-key": k, onclick: () => onDigit(k) }, k));
    keys.push(el("button", { type: "button", class: "btn", "data-key": "del", "aria-label": t("keypad.delete"), onclick: onDelete }, "⌫"));
    keys.push(el("button", { type: "button", class: "btn", "data-key": "0", onclick: () => onDigit("0") }, "0"));
    keys.push(el("button", { type: "button", class: "btn key-ok", "data-key": "ok", onclick: onOk }, okLabel));
    return el("div", { class: "keypad" }, keys);
  }

  function keypadScreen(d) {
    S.local.digits = S.local.digits || "";
    const show = () => {
      const s = (S.local.digits + "________").slice(0, 8);
      $("entry").textContent = `${s.slice(0, 2)}/${s.slice(2, 4)}/${s.slice(4)}`;
    };
    const pad = keypad(
      (k) => { if (S.local.digits.length < 8) { S.local.digits += k; show(); } },
      () => { S.local.digits = S.local.digits.slice(0, -1); show(); },
      () => {
        if (S.local.digits.length === 8) command("digits", { value: S.local.digits });
        else if ($("keypad-hint")) $("keypad-hint").hidden = false; // never a dead key
      },
      t("keypad.ok"));
    const body = [
      el("div", { class: "keypad-wrap" },
        el("div", { class: "keypad-info" },
          el("h1", { text: t(`keypad.${d.field}.title`) }),
          el("p", { text: t("keypad.body") }),
          el("div", { class: "entry", id: "entry", "data-field": d.field }),
          el("div", { class: "alert bad", id: "keypad-hint", hidden: true, text: t("keypad.error.short") }),
          d.error ? el("div", { class: "alert bad", id: "keypad-error", text: t(`keypad.error.${d.error}`) })
            : el("p", { class: "muted", text: d.field === "dob" ? t("keypad.why") : "" })),
        pad),
    ];
    setTimeout(show, 0);
    return {
      body,
      actions: [
        { label: t("common.back"), cmd: "back" },
        d.allow_none ? { label: t("keypad.no_expiry"), cmd: "no_expiry" } : null,
      ],
    };
  }

  // Consent withdrawal: the operator types the citizen's receipt code (Crockford base32).
  function withdrawScreen(d) {
    if (d.done) {
      return { center: true, body: [el("h1", { text: t("op.withdraw.done_title") }),
        el("p", { class: "lead", id: "withdraw-result", text: t(d.already ? "op.withdraw.already" : "op.withdraw.done_body",
          { code: d.receipt_code, n: d.captures, k: d.deleted, u: d.delivered }) })],
        actions: [{ label: t("common.back"), cmd: "back", primary: true }], noCancel: true };
    }
    S.local.code = S.local.code || "";
    const show = () => {
      const s = (S.local.code + "________").slice(0, 8);
      if ($("code-entry")) $("code-entry").textContent = `${s.slice(0, 4)}-${s.slice(4)}`;
    };
    const keys = "0123456789ABCDEFGHJKMNPQRSTVWXYZ".split("").map((k) => el("button",
      { type: "button", class: "btn", "data-key": k, onclick: () => { if (S.local.code.length < 8) { S.local.code += k; show(); } } }, k));
    keys.push(el("button", { type: "button", class: "btn", "data-key": "del", "aria-label": t("keypad.delete"),
      onclick: () => { S.local.code = S.local.code.slice(0, -1); show(); } }, "⌫"));
    keys.push(el("button", { type: "button", class: "btn key-ok", "data-key": "ok",
      onclick: () => { if (S.local.code.length === 8) command("withdraw", { code: S.local.code }); } }, t("keypad.ok")));
    setTimeout(show, 0);
    return {
      body: [
        el("div", { class: "row" }, el("h1", { text: t("op.withdraw.title") }), el("div", { class: "entry", id: "code-entry" })),
        d.error ? el("div", { class: "alert bad", id: "withdraw-error", text: t("op.withdraw.not_found") })
          : el("p", { text: t("op.withdraw.body") }),
        el("div", { class: "keypad code-keys" }, keys),
      ],
      actions: [{ label: t("common.back"), cmd: "back" }],
      noCancel: true,
    };
  }

  function pinScreen(d) {
    if (!d.configured) {
      return { center: true, body: [el("h1", { text: t("op.login.title") }),
        el("p", { class: "lead", id: "pin-not-configured", text: t("op.login.not_configured") })], actions: [], noCancel: true };
    }
    S.local.pin = S.local.pin || "";
    const dots = () => {
      const box = $("pin-dots");
      if (box) box.replaceChildren(...Array.from({ length: Math.max(4, S.local.pin.length) }, (_, i) =>
        el("span", { class: i < S.local.pin.length ? "on" : "" })));
    };
    const pad = keypad(
      (k) => { if (S.local.pin.length < 12) { S.local.pin += k; dots(); } },
      () => { S.local.pin = S.local.pin.slice(0, -1); dots(); },
      () => { if (S.local.pin.length >= 4) command("pin", { pin: S.local.pin }); },
      t("keypad.ok"));
    setTimeout(dots, 0);
    return {
      body: [
        el("div", { class: "keypad-wrap" },
          el("div", { class: "keypad-info" },
            el("h1", { text: t("op.login.title") }),
            el("p", { class: "lead", text: t("op.login.body") }),
            el("div", { class: "pin-dots", id: "pin-dots" }),
            d.error ? el("div", { class: "alert bad", id: "pin-error", text: t("op.login.wrong", { n: d.attempts_left }) }) : null),
          pad),
      ],
      actions: [],
      noCancel: true,
    };
  }

  // --- live updates (progress, guidance) -----------------------------------------------------

  function setBar(id, fraction) {
    const bar = $(id);
    if (bar) bar.style.width = `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
  }

  function liveUpdate() {
    const v = S.view;
    if (!v) return;
    const p = S.live.progress;
    if (p && v.screen === "verify.reading") {
      setBar("read-progress", p.value);
      $("read-percent").textContent = `${Math.round(p.value * 100)}%`;
    }
    const g = S.live.guidance;
    if (g && v.screen === "enroll.face") {
      const pass = g.verdict === "pass";
      const code = (g.reasons || [])[0];
      $("face-guidance").textContent = g.captured ? t("face.captured")
        : pass ? t("face.good") : (code && guidanceText("face", code)) || t("face.default");
      $("face-guidance").classList.toggle("good", pass);
      $("preview").classList.toggle("pass", pass);
      if (typeof g.progress === "number") setBar("face-progress", g.progress);
    }
    if (g && v.screen === "verify.face_live") {
      const code = (g.reasons || [])[0];
      // who and light only: pose codes would contradict a "turn your head" challenge
      const shown = ["no_face", "multiple_faces", "too_dark", "too_bright", "face_too_small"];
      const hint = g.liveness === "passed" ? t("verify_face.live.done")
        : shown.includes(code) ? guidanceText("face", code) || "" : "";
      $("face-guidance").textContent = hint;
    }
    const f = S.live.finger;
    if (f && v.screen === "enroll.finger") {
      const name = t(`finger.name.${v.data.finger}`);
      const text = { place: t("finger.place", { finger: name }), capturing: t("finger.capturing"),
        done: t("finger.done"), retry: t("finger.retry", { finger: name }) };
      if (text[f.phase]) $("finger-instruction").textContent = text[f.phase];
      if (f.feedback && f.feedback.length) S.local.fingerFeedback = f.feedback;
      if (f.phase === "done") S.local.fingerFeedback = null;
      const again = f.phase === "place" && f.attempt > 1;
      if (again) $("finger-instruction").textContent = t("finger.retry", { finger: name });
      const fb = (S.local.fingerFeedback || [])[0];
      $("finger-feedback").textContent = fb && (again || f.phase === "retry")
        ? guidanceText("finger", fb) || t("finger.generic_hint") : "";
      $("finger-progress-wrap").hidden = f.phase !== "capturing";
      if (typeof f.progress === "number") setBar("finger-progress", f.progress);
    }
    emit("live");
  }

  // --- chrome ---------------------------------------------------------------------------------

  function button(a) {
    const attrs = { type: "button", class: `btn${a.primary ? " btn-primary" : ""}`, id: a.id, "data-cmd": a.cmd };
    const b = el("button", attrs, a.label);
    b.disabled = Boolean(a.disabled) || S.sent;
    b.addEventListener("click", a.onClick || (() => command(a.cmd, a.args)));
    return b;
  }

  function render() {
    const v = S.view;
    if (!v || !S.hello) return;
    const screen = SCREENS[v.screen] || SCREENS.error;
    const out = screen(v.data || {}, v);
    document.body.className = out.bodyClass || "";
    document.body.dataset.screen = v.screen;
    document.body.dataset.state = v.state;

    let title = t(`flow.${v.flow}`);
    // the operator's screens say so and, once known, whose capture it is (issue #17)
    if (v.data && v.data.operator) title = t("flow.operator");
    const subject = v.data && v.data.subject;
    if (subject) title = t("op.capture.subject", { name: subject.full_name || subject.masked_id });
    $("title").textContent = title;
    const steps = $("steps");
    steps.replaceChildren();
    steps.classList.toggle("narrow-hide", Boolean(subject)); // room for whose capture it is
    if (v.step && v.steps) {
      for (let i = 1; i <= v.steps; i++) {
        steps.append(el("span", { class: `dot${i < v.step ? " on" : ""}${i === v.step ? " now" : ""}` }));
      }
      steps.append(el("span", { text: t("common.step", { n: v.step, total: v.steps }) }));
    }
    $("lang-btn").textContent = t("lang.switch");
    $("lang-btn").setAttribute("aria-label", t("lang.switch_label"));
    $("help-label").textContent = t("help.button");

    const problem = S.hello.setup_problem;
    if (problem && ["home", "gate.ready", "op.login"].includes(v.screen)) {
      out.body.push(el("div", { class: "alert bad", id: "setup-problem", text: t("setup.problem", { code: staffCode(problem.code) }) }));
    }
    const main = $("main");
    main.className = `main${out.center ? " center" : ""}${out.middle ? " middle" : ""}`;
    main.replaceChildren(...out.body.filter(Boolean));

    const footer = $("footer");
    const inSession = ["enrollment", "verification"].includes(v.flow) && !out.noCancel;
    const actions = out.actions.filter(Boolean);
    const nodes = [];
    if (inSession) {
      nodes.push(el("button", { type: "button", class: "btn", id: "start-over", onclick: () => globalCommand("cancel") },
        t("common.start_over")));
    }
    const secondary = actions.filter((a) => !a.primary).map(button);
    if (out.note) secondary.unshift(el("span", { class: "footer-note", id: out.noteId, text: out.note }));
    const primary = actions.filter((a) => a.primary).map(button);
    nodes.push(...secondary, el("span", { class: "spacer" }), ...primary);
    footer.replaceChildren(...nodes);
    footer.hidden = nodes.length <= 1;
    S.countdown = Boolean(out.countdown);
    liveUpdate();
    tick();
    emit("render");
  }

  // Countdowns, "are you still there?", and the sent-button lock.
  function tick() {
    const v = S.view;
    if (v && v.screen === "op.locked" && typeof v.data.until_s === "number" && $("locked-left")) {
      const left = Math.max(0, v.data.until_s - (Date.now() - S.shownAt) / 1000);
      $("locked-left").textContent = t("op.locked.body", { time: clockText(left) });
    }
    const notice = $("notice");
    if (!v || !v.timeout_s) { notice.hidden = true; return; }
    const since = v.touch_resets ? Math.max(S.shownAt, S.lastTouch) : S.shownAt;
    const left = v.timeout_s - (Date.now() - since) / 1000;
    const soon = left > 0 && left <= Math.min(15, v.timeout_s / 3);
    // A finished screen says when it goes back to the start; a waiting one asks "still there?".
    const waiting = v.touch_resets && v.flow !== "checkin" && v.screen !== "home" && v.screen !== "op.login";
    const show = soon && (S.countdown || waiting);
    notice.hidden = !show;
    if (show) {
      notice.textContent = S.countdown ? t("common.returning", { n: Math.ceil(left) }) : t("common.still_there");
    }
  }
  setInterval(tick, 500);

  document.addEventListener("pointerdown", () => {
    const now = Date.now();
    if (now - S.lastTouch > 1000) globalCommand("touch");
    S.lastTouch = now;
    tick();
  }, { capture: true });

  function showHelp() {
    $("overlay-title").textContent = t("help.called.title");
    $("overlay-body").textContent = t("help.called.body");
    $("overlay-ok").textContent = t("help.called.ok");
    $("overlay").hidden = false;
    $("overlay").dataset.kind = "help";
    clearTimeout(S.helpTimer);
    S.helpTimer = setTimeout(() => { $("overlay").hidden = true; }, 30000);
  }

  // A system update holds the kiosk: no new session until it restarts (or the hold ends).
  function showUpdating(on) {
    if (on) {
      $("overlay-title").textContent = t("update.active.title");
      $("overlay-body").textContent = t("update.active.body");
      $("overlay-ok").hidden = true;
      $("overlay").dataset.kind = "updating";
      $("overlay").hidden = false;
    } else if ($("overlay").dataset.kind === "updating") {
      $("overlay").hidden = true;
      $("overlay-ok").hidden = false;
    }
  }

  function showReconnecting(on) {
    if (on) {
      $("overlay-title").textContent = S.hello ? t("common.reconnecting") : "…";
      $("overlay-body").textContent = "";
      $("overlay-ok").hidden = true;
      $("overlay").dataset.kind = "reconnect";
      $("overlay").hidden = false;
    } else if ($("overlay").dataset.kind === "reconnect") {
      $("overlay").hidden = true;
      $("overlay-ok").hidden = false;
    }
  }

  // --- demo controls (simulated devices only) ------------------------------------------------

  function setupDemo() {
    const demo = $("demo");
    const actions = (S.hello && S.hello.sim && S.hello.sim_actions) || [];
    demo.hidden = actions.length === 0;
    if (!actions.length) return;
    $("demo-toggle").textContent = `⚙ ${t("demo.toggle")}`;
    $("demo-panel").replaceChildren(
      el("div", { class: "demo-title", text: t("demo.title") }),
      ...actions.map((a) => el("button", { type: "button", "data-sim": a,
        onclick: () => sendRaw({ type: "sim", action: a }) }, t(`demo.${a}`))));
  }

  $("demo-toggle").addEventListener("click", () => { $("demo-panel").hidden = !$("demo-panel").hidden; });
  $("lang-btn").addEventListener("click", () => (((S.hello || {}).languages || []).length > 2 ? emit("choose-lang")
    : globalCommand("lang", { lang: S.lang === "vi" ? "en" : "vi" })));
  $("help-btn").addEventListener("click", () => globalCommand("help"));
  $("overlay-ok").addEventListener("click", () => { $("overlay").hidden = true; });

  window.KioskUI = { state: S, t, command, globalCommand }; // for voice.js, pictograms.js
  connect();
})();

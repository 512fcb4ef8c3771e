// The open page. It reads the envelope from the page (posted by securedoc.html) or
// fetches it ("open online" links), signs the recipient in without leaving the page
// (so the ciphertext is never posted twice), asks the key server for k_srv, and
// decrypts in the browser with the Go WebAssembly decryptor. k_env comes from the
// URL fragment, which browsers never send to a server, and is removed from the
// address bar as soon as it is read.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const t = window.waxsealT;
  const page = document.body;
  const envelopeID = page.dataset.id || "";
  const panels = ["summary", "panel-signin", "panel-register", "panel-code", "panel-forgot", "panel-refused", "panel-message"];
  let kEnv = "";
  let source = null; // {kind: "parts", parts} or {kind: "online", blob}
  let header = null;
  // From the envelope's status (asked before sign-in): whether its recipient has
  // an account to sign in to (unknown: assume so), and when it expires.
  let recipientHasAccount = true;
  let serverKey = ""; // k_srv once released: reply.js derives k_copy from both halves
  let expires = "";
  let objectURLs = [];
  // Milestones since navigation start, for the browser benchmark (make bench).
  const timing = { script: performance.now() };
  const mark = (name) => { timing[name] = performance.now(); };
  window.waxsealTiming = timing;
  const decryptor = loadDecryptor();
  decryptor.catch(() => {}); // reported when it is needed

  function readFragment() {
    const m = /^#k=([A-Za-z0-9_-]{43})$/.exec(location.hash);
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
    return m ? m[1] : "";
  }

  // What the page needs to continue after a reload (F5, back and forward, a phone
  // browser reloading the tab after the mail app was used for the code): k_env and
  // the held envelope's name. Kept in this tab's sessionStorage only: never in
  // localStorage or a cookie, never sent to the server, gone with the tab.
  const keptName = `waxseal:${envelopeID}`;
  function kept() {
    try { return JSON.parse(sessionStorage.getItem(keptName)) || {}; } catch { return {}; }
  }
  function keep(values) {
    try { sessionStorage.setItem(keptName, JSON.stringify({ ...kept(), ...values })); } catch { /* storage off: no reload */ }
  }

  function show(...ids) {
    for (const p of panels) if ($(p)) $(p).hidden = !ids.includes(p); // panel-forgot: only with passwords
    const last = $(ids[ids.length - 1]);
    const focus = last && last.querySelector("form:not([hidden]) input, h1, h2");
    if (focus && focus.tagName === "INPUT") focus.focus();
  }

  const api = window.waxsealAPI;
  const formatDate = window.waxsealDate;
  // problemText says one defect the decryptor found in the message (its
  // issues: {id, part, args}) from the catalog; the part names where.
  const problemNames = {
    charset: "problem_charset", no_blank_line: "problem_no_blank_line", indented_header: "problem_indented_header",
    date: "problem_date", too_many_parts: "problem_too_many_parts", content_type: "problem_content_type",
    nested: "problem_nested", no_boundary: "problem_no_boundary", boundary_not_found: "problem_boundary_not_found",
    no_final_boundary: "problem_no_final_boundary", empty_multipart: "problem_empty_multipart",
    size_text: "problem_size_text", size_attachment: "problem_size_attachment", base64: "problem_base64",
    base64_skipped: "problem_base64_skipped", transfer_encoding: "problem_transfer_encoding",
    too_many: "problem_too_many", unreadable: "problem_unreadable",
  };
  // damageNames say why the decryptor could not open the message (its
  // Error's code; the message is English, for the console).
  const damageNames = {
    not_envelope: "damage_not_envelope", version: "damage_version", malformed: "damage_malformed",
    bad_key: "damage_bad_key", wrong_key: "damage_wrong_key", modified: "damage_modified", truncated: "damage_truncated",
  };
  function problemText(p) {
    const text = t(problemNames[p.id] || "problem_other", p.args || {});
    if (!p.part) return text;
    return p.part === "body" ? t("problem_in_body", { problem: text }) : t("problem_in_part", { part: p.part, problem: text });
  }
  const passkeys = window.waxsealPasskeys;
  // Sign-in (signin.js): the password, code and passkey forms lead to afterSignIn.
  const { status, failed, onSubmit, codeSent, offerAutofill } = window.waxsealSignIn((r) => afterSignIn(r),
    { codeSent: (email) => keep({ signInCodeTo: email }) });

  // loadDecryptor fails with a sentence of the page's language: the browser's
  // own message (English, and meaningless to a reader) goes to the console.
  async function loadDecryptor() {
    const url = page.dataset.wasm;
    if (!url) throw new Error(t("no_decryptor"));
    const wasm = typeof WebAssembly === "object";
    let failure = wasm ? "decryptor_download" : "decryptor_start";
    try {
      const go = new Go();
      const ready = new Promise((resolve) => { window.waxsealReady = resolve; });
      // Compiled from the stream of an immutable, content-hashed URL (cached for a
      // year, preloaded by the page), the path on which the browser may keep the
      // compiled code in its code cache (docs/BENCHMARKS.md says what it does).
      const module = await WebAssembly.compileStreaming(fetch(url, { integrity: page.dataset.wasmIntegrity }));
      mark("decryptorCompiled");
      failure = "decryptor_start";
      const instance = await WebAssembly.instantiate(module, go.importObject);
      go.run(instance);
      await ready;
    } catch (e) {
      console.error("waxseal decryptor:", e); // for whoever debugs the page
      throw new Error(t(wasm && e instanceof WebAssembly.CompileError ? "decryptor_start" : failure));
    }
    mark("decryptorReady");
    return window.waxseal;
  }

  // --- the envelope ---

  // base64Bytes decodes natively (Uint8Array.fromBase64 skips the line ends).
  function base64Bytes(text) {
    if (Uint8Array.fromBase64) return Uint8Array.fromBase64(text);
    const bin = atob(text.replace(/\s/g, ""));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  async function loadEnvelope() {
    if ($("f-header")) {
      const parts = { header: base64Bytes($("f-header").value), key: base64Bytes($("f-key").value), ciphertext: base64Bytes($("f-payload").value) };
      return { source: { kind: "parts", parts }, header: parseHeader(parts.header) };
    }
    // A posted envelope the key server holds for this page, or the one it stores
    // for "open online" links: both come as an online blob.
    // After a reload the held envelope's name comes from the tab's storage; once
    // it is no longer held, an envelope stored online still opens.
    const held = page.dataset.held || kept().held;
    const url = held
      ? `/open/${envelopeID}/posted/${encodeURIComponent(held)}`
      : `/api/v1/envelopes/${envelopeID}/payload`;
    let res = await fetch(url, { credentials: "same-origin" });
    if (!res.ok && held && !page.dataset.held) {
      res = await fetch(`/api/v1/envelopes/${envelopeID}/payload`, { credentials: "same-origin" });
    }
    if (!res.ok) {
      let data = {};
      try { data = await res.json(); } catch { /* not JSON */ }
      const err = new Error(data.message || t("not_loaded"));
      err.code = data.error || "unknown";
      throw err;
    }
    const blob = new Uint8Array(await res.arrayBuffer());
    // online blob: "waxseal-online-v1\n", uint32be header length, header, ...
    const view = new DataView(blob.buffer, blob.byteOffset);
    const n = blob.length >= 22 ? view.getUint32(18) : 0;
    return { source: { kind: "online", blob }, header: parseHeader(blob.subarray(22, 22 + n)) };
  }

  // The header is shown before it is authenticated (the key server's page, not the
  // file, is trusted); it is only ever put into the page as text.
  function parseHeader(bytes) {
    try { return JSON.parse(new TextDecoder().decode(bytes)); } catch { return {}; }
  }

  // A display name with a full stop or comma is quoted in the header
  // ("\"Dr. Alice\" <alice@…>"); people read it without the quotes.
  function mailbox(s) {
    const m = /^\s*"((?:[^"\\]|\\.)*)"\s*(<[^>]*>)\s*$/.exec(s || "");
    return m ? m[1].replace(/\\(.)/g, "$1") + " " + m[2] : s || "";
  }

  function showSummary(h) {
    $("sum-from").textContent = mailbox(h.from);
    $("sum-to").textContent = mailbox(h.to);
    $("sum-subject").textContent = h.subject || t("no_subject");
    const email = (/<([^>]+)>\s*$/.exec(h.to || "") || [null, h.to || ""])[1];
    for (const f of ["signin-email", "code-email", "forgot-email"]) if ($(f) && !$(f).value) $(f).value = email;
  }

  // --- signing in ---

  function signedIn(account) {
    $("who").textContent = account ? account.email : "";
    $("signout").hidden = !account;
  }

  // needSignIn leads to registration when the recipient has no account yet, and
  // to sign-in otherwise, with registration the clear second choice.
  function needSignIn(text) {
    signedIn(null);
    resetRegister();
    const signInCodeTo = kept().signInCodeTo;
    if (signInCodeTo) {
      // A sign-in code is on its way (the tab was reloaded meanwhile).
      $("code-email").value = signInCodeTo;
      $("form-code-start").hidden = true;
      $("form-code-verify").hidden = false;
      status(text || t("enter_code"));
      return show("summary", "panel-code");
    }
    const sentTo = kept().codeSentTo;
    if (sentTo) {
      registerCodeStep(sentTo);
      status(text || `${codeSent(sentTo)} Enter it below.`);
      return show("summary", "panel-register");
    }
    if (!recipientHasAccount) {
      status(text || "");
      $("register-h").textContent = t("register_this");
      $("register-first").hidden = false;
      return show("summary", "panel-register");
    }
    status(text || "");
    show("summary", "panel-signin");
    offerAutofill();
  }

  // resetRegister puts the registration card back at its first step.
  function resetRegister() {
    $("register-h").textContent = t("register_h");
    $("register-first").hidden = true;
    for (const el of ["register-intro", "form-register", "register-back"]) $(el).hidden = false;
    for (const el of ["form-register-code", "register-choose"]) $(el).hidden = true;
  }

  async function afterSignIn(r) {
    if (!r.ok) return failed(r);
    passkeys.abortConditional();
    signedIn(r.data.account);
    keep({ codeSentTo: "", signInCodeTo: "" });
    if (r.data.setup) {
      // The code was accepted: what led here (the code, "I already have an
      // account") is done with; only the last step stays.
      for (const el of ["register-first", "register-intro", "form-register", "form-register-code", "register-back"]) $(el).hidden = true;
      $("register-h").textContent = t("last_step");
      $("register-choose").hidden = false;
      status(passkeys.supported() ? t("finish_passkey") : t("finish_no_passkey"));
      return show("summary", "panel-register");
    }
    // Signed in without a passkey: this device may not have one yet. Not for
    // administrators: their passkeys are added only through an enrolment link or
    // from a passkey session (the server refuses otherwise).
    $("offer-passkey").hidden = !(passkeys.supported() && (r.data.method === "code" || r.data.method === "password") &&
      r.data.account.role !== "admin");
    return openMessage();
  }

  // --- passkeys (passkeys.js) ---

  $("btn-register-passkey").addEventListener("click", async (ev) => {
    ev.target.disabled = true;
    status(t("passkey_creating"));
    try {
      const r = await passkeys.create("/api/v1/account/passkeys/begin", "/api/v1/account/passkeys/finish");
      if (!r.ok) return failed(r);
      return openMessage();
    } finally { ev.target.disabled = false; }
  });

  $("btn-offer-add").addEventListener("click", async (ev) => {
    ev.target.disabled = true;
    try {
      const r = await passkeys.create("/api/v1/account/passkeys/begin", "/api/v1/account/passkeys/finish");
      if (!r.ok) return failed(r);
      $("offer-passkey").hidden = true;
      status(t("passkey_added"));
    } finally { ev.target.disabled = false; }
  });
  $("btn-offer-dismiss").addEventListener("click", () => { $("offer-passkey").hidden = true; });

  onSubmit("form-register", async (v) => {
    const r = await api("POST", "/api/v1/register/start", { envelope_id: envelopeID, first_name: v.first_name, last_name: v.last_name });
    if (!r.ok) return failed(r);
    keep({ codeSentTo: r.data.sent_to });
    registerCodeStep(r.data.sent_to);
    status(codeSent(r.data.sent_to));
    $("reg-code").focus();
  });

  // registerCodeStep asks for the code mailed to sentTo: also after a reload,
  // since a phone may reload the tab while the code is read in the mail app.
  function registerCodeStep(sentTo) {
    $("reg-sent-to").textContent = sentTo;
    $("form-register").hidden = true;
    $("form-register-code").hidden = false;
  }
  onSubmit("form-register-code", async (v) => afterSignIn(await api("POST", "/api/v1/register/verify", { envelope_id: envelopeID, code: v.code })));
  onSubmit("form-register-password", async (v) => {
    if (v.password !== v.password2) return status(t("passwords_differ"), true);
    const r = await api("POST", "/api/v1/account/password", { password: v.password });
    if (!r.ok) return failed(r);
    return openMessage();
  });

  onSubmit("form-forgot-start", async (v) => {
    const r = await api("POST", "/api/v1/password/forgot", { email: v.email });
    if (!r.ok) return failed(r);
    $("form-forgot-start").hidden = true;
    $("form-forgot-reset").hidden = false;
    status(r.data.message);
    $("forgot-code").focus();
  });
  onSubmit("form-forgot-reset", async (v) => afterSignIn(await api("POST", "/api/v1/password/reset", { email: $("forgot-email").value, code: v.code, password: v.password })));

  for (const b of document.querySelectorAll("[data-show]")) {
    b.addEventListener("click", () => {
      keep(b.dataset.show === "panel-register" ? { signInCodeTo: "" } : { codeSentTo: "", signInCodeTo: "" });
      status("");
      show("summary", b.dataset.show);
      // A passkey on this device is offered in the email field's autofill here
      // too, as when the page opens on the sign-in card.
      if (b.dataset.show === "panel-signin") offerAutofill();
    });
  }

  async function signOut() {
    $("offer-passkey").hidden = true;
    await api("POST", "/api/v1/signout");
    clearMessage();
    // The recipient may have registered since the page asked.
    const st = await api("GET", `/api/v1/envelopes/${envelopeID}/status`);
    if (st.ok) recipientHasAccount = st.data.recipient_has_account !== false;
    needSignIn(t("signed_out"));
  }
  $("signout").addEventListener("click", signOut);
  $("refused-signout").addEventListener("click", signOut);

  // --- opening ---

  const refusals = {
    not_yours: t("refused_not_yours"),
    locked: t("refused_locked"),
    revoked: t("refused_revoked"),
    expired: t("refused_expired"),
    unknown: t("refused_unknown"),
  };

  function refuse(code, text) {
    status("");
    $("refused-h").textContent = refusals[code] || t("refused_other");
    $("refused-text").textContent = text;
    $("refused-signout").hidden = code !== "not_yours";
    page.dataset.state = code;
    show(...(header ? ["summary", "panel-refused"] : ["panel-refused"]));
  }

  // earlyKey is k_srv asked for as the page starts, with the session, so that
  // a recipient already signed in does not wait for one more round trip after
  // the ciphertext and the decryptor (docs/BENCHMARKS.md). Without a session it
  // is refused and changes nothing; openMessage asks again after sign-in.
  let earlyKey = null;
  const keyURL = `/api/v1/envelopes/${envelopeID}/key`;

  async function openMessage() {
    status(t("checking"));
    let r = await earlyKey;
    earlyKey = null; // used once: a later open (another account, after setup) asks again
    if (!r || (!r.ok && (r.data.error === "signin_required" || r.data.error === "setup_required"))) r = await api("POST", keyURL);
    if (!r.ok) {
      if (r.data.error === "signin_required") return needSignIn(r.data.message);
      if (r.data.error === "setup_required") return afterSignIn({ ok: true, data: { setup: true } });
      if (refusals[r.data.error]) return refuse(r.data.error, r.data.message);
      return failed(r);
    }
    mark("key");
    status(t("decrypting"));
    let wax, result;
    try {
      wax = await decryptor;
      mark("decryptor");
    } catch (e) {
      return status(e.message, true); // loadDecryptor's sentence
    }
    try {
      result = source.kind === "parts"
        ? await wax.openParts(source.parts, kEnv, r.data.server_key)
        : await wax.openOnline(source.blob, kEnv, r.data.server_key);
    } catch (e) {
      page.dataset.state = "damaged";
      return status(t("decrypt_failed", { error: t(damageNames[e.code] || "damage_other") }), true);
    }
    mark("decrypted");
    serverKey = r.data.server_key;
    render(result);
    mark("rendered");
  }

  function addressList(list) {
    // A mailbox without an address (a bare name, "MAILER-DAEMON <>") shows its name alone.
    return (list || []).map((a) => (a.name && a.email ? `${a.name} <${a.email}>` : a.name || a.email)).join(", ");
  }

  function safeType(t) {
    return /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/i.test(t || "") ? t : "application/octet-stream";
  }

  function bytesToBase64(bytes) {
    let bin = "";
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(bin);
  }

  function objectURL(bytes, type) {
    const url = URL.createObjectURL(new Blob([bytes], { type }));
    objectURLs.push(url);
    return url;
  }

  function clearMessage() {
    for (const u of objectURLs) URL.revokeObjectURL(u);
    objectURLs = [];
    $("msg-html").removeAttribute("srcdoc");
    $("att-list").replaceChildren();
    $("msg-text").textContent = "";
  }

  function sizeText(n) {
    return n < 1024 ? `${n} bytes` : n < 1048576 ? `${(n / 1024).toFixed(0)} KB` : `${(n / 1048576).toFixed(1)} MB`;
  }

  // The HTML body goes into an iframe sandboxed without scripts, forms or popups,
  // with its own policy that allows no network at all: inline (cid:) images become
  // data: URLs, and remote images simply do not load.
  function htmlDocument(html, inline) {
    for (const a of inline) {
      if (!a.contentId) continue;
      const url = `data:${safeType(a.contentType)};base64,${bytesToBase64(a.data)}`;
      html = html.split(`cid:${a.contentId}`).join(url);
    }
    const policy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:";
    return `<!DOCTYPE html><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${policy}"><base target="_blank">${html}`;
  }

  function render(result) {
    clearMessage();
    const m = result.message;
    // The envelope's subject is the gateway's, without the trigger that asked
    // for sealing (as in the wrapper mail); once the envelope opened it is
    // authenticated (the key is bound to the header).
    const subject = (header && header.subject) || m.subject;
    $("msg-subject").textContent = subject || t("no_subject");
    $("msg-from").textContent = addressList(m.from);
    $("msg-to").textContent = addressList(m.to);
    $("msg-cc").textContent = addressList(m.cc);
    for (const el of document.querySelectorAll(".cc")) el.hidden = !(m.cc && m.cc.length);
    $("msg-date").textContent = m.date ? formatDate(m.date) : (m.dateRaw || "");
    for (const el of document.querySelectorAll(".date")) el.hidden = !$("msg-date").textContent; // no Date header
    $("msg-expires").textContent = expires ? formatDate(expires) : t("never");

    $("msg-charset").hidden = !m.charsetGuessed;
    const text = $("msg-text");
    const frame = $("msg-html");
    if (m.html) {
      frame.srcdoc = htmlDocument(m.html, m.attachments.filter((a) => a.inline));
      frame.hidden = false;
      text.hidden = true;
    } else {
      text.textContent = m.text || "";
      text.hidden = false;
      frame.hidden = true;
    }

    const list = $("att-list");
    const shown = m.attachments.filter((a) => !(a.inline && a.contentId && m.html && m.html.includes(`cid:${a.contentId}`)));
    for (const a of shown) {
      const li = document.createElement("li");
      const link = document.createElement("a");
      link.href = objectURL(a.data, "application/octet-stream");
      link.download = a.filename;
      link.textContent = a.filename;
      li.append(link, ` (${sizeText(a.data.length)})`);
      list.append(li);
    }
    $("msg-attachments").hidden = shown.length === 0;

    const original = $("btn-original");
    original.href = objectURL(result.original, "message/rfc822");
    // Named after the subject, else the catalog's word for a message.
    const name = subject || t("eml_name");
    original.download = `${name.replace(/[^\p{L}\p{N} ._-]+/gu, "_").slice(0, 80)}.eml`;

    const issues = m.issues || [];
    $("msg-problems").hidden = issues.length === 0;
    $("msg-problems").textContent = issues.map(problemText).join(" ");
    status("");
    page.dataset.state = "open";
    window.waxsealTiming = { ...timing, decryptMs: result.decryptMs };
    show("panel-message");
    // reply.js (secure replies) offers Reply and Forward once a message is shown.
    // keys: what only someone who could open this message holds, from which the
    // decryptor derives the key of the recipient's copies of their replies.
    document.dispatchEvent(new CustomEvent("waxseal:opened", {
      detail: { id: page.dataset.id, message: m, keys: { id: page.dataset.id, envKey: kEnv, serverKey } },
    }));
  }

  $("btn-print").addEventListener("click", () => window.print());

  // On a page that carries a posted envelope's fields itself (the key server
  // keeps no hold), going back by GET would lose them: the language switcher
  // saves the choice, then posts the fields again as securedoc.html did, and
  // the page comes back in the new language (k_env is in the tab's storage).
  const switcher = document.querySelector("form.lang-switch");
  if (switcher && $("f-header")) {
    switcher.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await fetch("/language", { method: "POST", body: new URLSearchParams(new FormData(switcher)), redirect: "manual", credentials: "same-origin" });
      } catch {
        return; // offline: stay on this page, in its language
      }
      const again = document.createElement("form");
      again.method = "post";
      again.enctype = "multipart/form-data";
      again.action = `/open/${envelopeID}`;
      again.hidden = true;
      for (const name of ["version", "header", "key", "payload"]) { // in the form's order
        const input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        input.value = $(`f-${name}`).value;
        again.append(input);
      }
      document.body.append(again);
      again.submit();
    });
  }

  // --- start ---

  async function main() {
    kEnv = readFragment() || (envelopeID && kept().k) || "";
    if (!envelopeID) return refuse("unknown", t("no_message"));
    if (!kEnv) {
      return refuse("incomplete", t("incomplete_link"));
    }
    // A fresh post names its held envelope, or none (the fields are in the page):
    // an older post's name is stale either way.
    keep(page.dataset.mode === "post" ? { k: kEnv, held: page.dataset.held || "" } : { k: kEnv });
    const session = api("GET", "/api/v1/session"); // meanwhile
    earlyKey = api("POST", keyURL);
    const state = api("GET", `/api/v1/envelopes/${envelopeID}/status`);
    try {
      const loaded = await loadEnvelope();
      source = loaded.source;
      header = loaded.header;
      mark("envelope");
    } catch (e) {
      // A withdrawn message's ciphertext is gone: its status says why.
      const st = await state;
      if (st.ok && st.data.state !== "open") return refuse(st.data.state, st.data.message);
      if (page.dataset.mode === "get") {
        return refuse("incomplete", t("open_again"));
      }
      if (e.code === "not_held") return refuse("incomplete", e.message);
      return refuse(refusals[e.code] ? e.code : "unknown", e.message);
    }
    showSummary(header);
    const st = await state;
    if (st.ok) {
      recipientHasAccount = st.data.recipient_has_account !== false;
      expires = st.data.expires || "";
    } else if (header.expires) {
      expires = header.expires;
    }
    $("sum-expires").textContent = expires ? formatDate(expires) : t("never");
    const s = await session;
    if (s.ok) return afterSignIn(s);
    // Withdrawn, locked or expired: say so before asking anyone to register or
    // sign in. (Signed in, the release says it, "not yours" first.)
    if (st.ok && st.data.state !== "open") return refuse(st.data.state, st.data.message);
    return needSignIn();
  }

  main();
})();

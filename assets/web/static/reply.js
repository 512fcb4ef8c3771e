// Secure reply and forward on the message page (docs/FORMAT.md §13). The reply
// is built and sealed to the organisation's reply key by the Go decryptor
// (waxseal.sealReply); this script only gathers what the recipient wrote, keeps
// a draft in this tab's sessionStorage, and posts the sealed bytes. The key
// server can never read them; the gateway sets From and To itself.
"use strict";
(function () {
  const panel = document.getElementById("panel-reply");
  if (!panel) return;
  const $ = (id) => document.getElementById(id);
  const t = window.waxsealT;
  const form = $("reply-form");
  const errorBox = $("reply-error");
  const maxBytes = 10 * 1024 * 1024; // the reply limit, the message's encoded size
  let opened = null; // {id, message, keys: {id, envKey, serverKey}}
  let viewURLs = [];
  let kind = "reply";

  const draftKey = () => `waxseal-reply:${opened.id}`;
  function saveDraft() {
    if (!opened) return;
    try {
      sessionStorage.setItem(draftKey(), JSON.stringify({ kind, text: $("reply-text").value, to: $("reply-to").value }));
    } catch { /* storage full or off: the draft lives in the page only */ }
  }
  function clearDraft() {
    try { sessionStorage.removeItem(draftKey()); } catch { /* nothing kept */ }
  }
  function fail(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  function openForm(k) {
    kind = k;
    form.hidden = false;
    $("reply-forward-row").hidden = k !== "forward";
    $("reply-h").textContent = t(k === "forward" ? "reply_forward_h" : k === "all" ? "reply_all_h" : "reply_h");
    fail("");
    (k === "forward" ? $("reply-to") : $("reply-text")).focus();
    saveDraft();
  }

  function sizeText(n) {
    return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.ceil(n / 1024)} KB`;
  }

  async function listReplies() {
    const r = await window.waxsealAPI("GET", `/api/v1/envelopes/${opened.id}/replies`);
    const list = r.ok && r.data.replies ? r.data.replies : [];
    const ul = $("reply-sent");
    ul.hidden = list.length === 0;
    ul.replaceChildren(...list.map((x) => {
      const when = window.waxsealDate(x.created);
      const what = t(x.kind === "forward" ? "reply_you_forwarded" : x.kind === "all" ? "reply_you_replied_all" : "reply_you_replied", { to: x.forward_to, when });
      const state = x.state === "failed" ? t("reply_not_delivered", { reason: x.reason }) : x.state === "pending" ? t("reply_pending") : "";
      const li = document.createElement("li");
      li.textContent = what + state + ".";
      if (x.has_copy) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "link";
        b.textContent = t("reply_open");
        b.setAttribute("aria-label", t("reply_open_label", { when }));
        b.addEventListener("click", () => showReply(x, when));
        li.append(" ", b);
      }
      return li;
    }));
  }

  function closeReply() {
    for (const u of viewURLs) URL.revokeObjectURL(u);
    viewURLs = [];
    $("reply-view").hidden = true;
    $("reply-view-text").textContent = "";
    $("reply-view-att").replaceChildren();
  }

  // showReply fetches the recipient's copy of a reply (its key wrapped under a
  // key of this message, and the sealed reply) and opens it in the decryptor
  // with this message's keys (FORMAT.md §13.5): the key server stores it but
  // cannot read it.
  async function showReply(x, when) {
    closeReply();
    fail("");
    let res;
    try {
      res = await fetch(`/api/v1/envelopes/${opened.id}/replies/${encodeURIComponent(x.id)}/copy`, { credentials: "same-origin" });
    } catch {
      return fail(t("network"));
    }
    if (!res.ok) {
      let data = {};
      try { data = await res.json(); } catch { /* empty */ }
      return fail(data.message || t("reply_not_fetched", { status: res.status }));
    }
    let shown;
    try {
      shown = await window.waxseal.openReplyCopy(new Uint8Array(await res.arrayBuffer()), opened.keys);
    } catch (e) {
      return fail(t("reply_not_decrypted", { error: e.message }));
    }
    const m = shown.message;
    $("reply-view-h").textContent = m.subject || t("no_subject");
    $("reply-view-meta").textContent = x.kind === "forward" ? t("reply_forwarded_to", { to: x.forward_to, when }) : t("reply_sent_on", { when });
    $("reply-view-text").textContent = m.text || "";
    $("reply-view-att").replaceChildren(...m.attachments.map((a) => {
      const li = document.createElement("li");
      const link = document.createElement("a");
      const url = URL.createObjectURL(new Blob([a.data], { type: "application/octet-stream" }));
      viewURLs.push(url);
      link.href = url;
      link.download = a.filename;
      link.textContent = a.filename;
      li.append(link, ` (${sizeText(a.data.length)})`);
      return li;
    }));
    $("reply-view").hidden = false;
    $("reply-view-h").focus?.();
  }

  async function send(ev) {
    ev.preventDefault();
    fail("");
    const files = [...$("reply-files").files];
    const total = files.reduce((n, f) => n + f.size, 0);
    if (total * 4 / 3 > maxBytes) {
      return fail(t("reply_too_big", { size: sizeText(total), max: sizeText(maxBytes * 3 / 4) }));
    }
    const to = $("reply-to").value.trim();
    if (kind === "forward" && !/^[^\s@]+@[^\s@]+$/.test(to)) {
      return fail(t("reply_need_address"));
    }
    const text = $("reply-text").value;
    if (!text.trim() && files.length === 0) return fail(t("reply_empty"));
    const m = opened.message;
    const from = (m.from && m.from[0]) || {};
    const subject = m.subject || "";
    // Not translated: mail clients thread by stripping exactly "Re:" and
    // "Fwd:" (docs/DEPLOY.md, "Languages").
    const prefix = kind === "forward" ? "Fwd: " : "Re: ";
    const button = $("reply-send");
    button.disabled = true;
    button.textContent = t("reply_encrypting");
    try {
      const attachments = await Promise.all(files.map(async (f) => ({
        name: f.name, contentType: f.type || "", data: new Uint8Array(await f.arrayBuffer()),
      })));
      const sealed = await window.waxseal.sealReply({
        subject: /^(re|fwd?):/i.test(subject) ? subject : prefix + subject,
        text,
        attribution: t("reply_wrote", { name: from.name || from.email || t("reply_the_sender") }),
        quote: m.text || "",
        attachments,
      }, panel.dataset.replyKey, opened.keys);
      button.textContent = t("reply_sending");
      // The reply for the gateway, and its key wrapped for this reader's
      // own copy (only this message's keys unwrap it).
      const body = new FormData();
      body.append("reply", new Blob([sealed.reply]), "reply");
      body.append("copy_key", new Blob([sealed.copyKey]), "copy_key");
      const q = new URLSearchParams({ kind });
      if (kind === "forward") q.set("forward_to", to);
      let res;
      try {
        res = await fetch(`/api/v1/envelopes/${opened.id}/replies?${q}`, {
          method: "POST", credentials: "same-origin", body,
          headers: { "X-Waxseal-CSRF": "1" },
        });
      } catch {
        return fail(t("reply_offline"));
      }
      let data = {};
      try { data = await res.json(); } catch { /* empty */ }
      if (!res.ok) return fail(data.message || t("reply_refused", { status: res.status }));
      clearDraft();
      form.reset();
      form.hidden = true;
      await listReplies();
    } catch (e) {
      fail(t("reply_not_encrypted", { error: e.message }));
    } finally {
      button.disabled = false;
      button.textContent = t("reply_send");
    }
  }

  document.addEventListener("waxseal:opened", (ev) => {
    opened = ev.detail;
    panel.hidden = false;
    $("btn-forward").hidden = panel.dataset.forward === "none";
    // Reply all when the message names anyone besides its sender and this reader.
    const m = opened.message;
    $("btn-reply-all").hidden = (m.to || []).length + (m.cc || []).length < 2;
    let draft = null;
    try { draft = JSON.parse(sessionStorage.getItem(draftKey()) || "null"); } catch { /* none */ }
    if (draft) {
      $("reply-text").value = draft.text || "";
      $("reply-to").value = draft.to || "";
      openForm(["forward", "all"].includes(draft.kind) ? draft.kind : "reply");
    }
    listReplies();
  });
  // The reply card goes with the message: hidden whenever the message is.
  const message = $("panel-message");
  new MutationObserver(() => { if (message.hidden) panel.hidden = true; }).observe(message, { attributes: true, attributeFilter: ["hidden"] });

  $("btn-reply").addEventListener("click", () => openForm("reply"));
  $("btn-reply-all").addEventListener("click", () => openForm("all"));
  $("btn-forward").addEventListener("click", () => openForm("forward"));
  $("reply-view-close").addEventListener("click", closeReply);
  $("reply-cancel").addEventListener("click", () => { clearDraft(); form.reset(); form.hidden = true; fail(""); });
  $("reply-text").addEventListener("input", saveDraft);
  $("reply-to").addEventListener("input", saveDraft);
  form.addEventListener("submit", send);
})();
